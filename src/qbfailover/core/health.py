"""Pure health logic: probe results → instance statuses → the spec's state → verdict and exit code.

No I/O here; ``probes`` gathers the facts and this module judges them, so every branch of the
spec's state machine is a table-driven unit test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from qbfailover.errors import AuthFailed, Banned, InstanceError, Uncertain, Unreachable


class Status(StrEnum):
    """One instance's health, with the spec's names."""

    OK = "OK"
    VPN_DOWN = "VPN_DOWN"
    TIMEOUT = "TIMEOUT"
    AUTH_FAILED = "AUTH_FAILED"
    BANNED = "BANNED"
    ERROR = "ERROR"
    NOT_CONFIGURED = "NOT_CONFIGURED"


class VpnStatus(StrEnum):
    """The VPN probe's answer; NOT_CONFIGURED gates nothing (config refuses requires_vpn without it)."""

    UP = "UP"
    DOWN = "DOWN"
    NOT_CONFIGURED = "NOT_CONFIGURED"


class State(StrEnum):
    """The spec's health-check state machine, generalised: primary = first by priority."""

    BOTH_HEALTHY = "BOTH_HEALTHY"
    PRIMARY_DOWN = "PRIMARY_DOWN"
    SECONDARY_DOWN = "SECONDARY_DOWN"
    BOTH_DOWN = "BOTH_DOWN"
    PRIMARY_ONLY = "PRIMARY_ONLY"


class Verdict(StrEnum):
    """The spec's one-word judgement of a state; it also sets a notification's severity."""

    EXCELLENT = "Excellent"
    WARNING = "Warning"
    INFO = "Info"
    CRITICAL = "Critical"


@dataclass(frozen=True, slots=True)
class VpnHealth:
    """One VPN probe's result, kept whole so status/doctor can show what was probed and how."""

    status: VpnStatus
    latency_ms: float | None = None
    detail: str = ""
    target: str | None = None
    kind: str | None = None

    @property
    def up(self) -> bool:
        """Whether instances that require the VPN may get work (no leak outside the tunnel)."""
        return self.status is VpnStatus.UP


@dataclass(frozen=True, slots=True)
class InstanceHealth:
    """One instance's probe result (already gated on the VPN where it must be), as routing sees it."""

    name: str
    status: Status
    latency_ms: float | None = None
    version: str | None = None
    detail: str = ""
    priority: int = 1
    requires_vpn: bool = False
    url: str = ""
    http_status: int | None = None
    """The HTTP code of an unexpected answer (a 404 from a wrong URL or a proxy), else None."""

    @property
    def ok(self) -> bool:
        """Usable for delivery right now: only OK counts, every other status means skip it."""
        return self.status is Status.OK

    @property
    def word(self) -> str:
        """The spec's health word (its client's dict, ``status``'s column): see :func:`health_word`."""
        return health_word(self)


@dataclass(frozen=True, slots=True)
class HealthReport:
    """One whole health check: what status, watch, metrics and the queue reason are built from."""

    vpn: VpnHealth
    instances: tuple[InstanceHealth, ...]
    state: State
    verdict: Verdict
    checked_at: float
    duration_ms: float

    @property
    def healthy(self) -> list[InstanceHealth]:
        """The usable instances; empty means new items wait without backoff."""
        return [i for i in self.instances if i.ok]

    def instance(self, name: str) -> InstanceHealth | None:
        """One instance's entry by name (None if it is not configured), for callers that key by name."""
        return next((i for i in self.instances if i.name == name), None)


class FailureKind(StrEnum):
    """How a request failed at the transport (carried by Unreachable/Uncertain as ``.kind``).

    Decisions look at this value, never at the message: whether the breaker opens (a refusal
    never opens it) and whether the status is TIMEOUT or ERROR.
    """

    REFUSED = "refused"
    CONNECT_TIMEOUT = "connect timeout"
    READ_TIMEOUT = "read timeout"
    WRITE_TIMEOUT = "write timeout"
    POOL_TIMEOUT = "pool timeout"
    DEADLINE = "deadline"
    DNS = "dns"
    TLS = "tls"
    CONNECT_FAILED = "connect failed"
    BROKEN = "connection broken"
    OTHER = "other"

    @property
    def timed_out(self) -> bool:
        """A timeout of httpx's (the probe's own deadline is not one: it has always shown ERROR)."""
        return self in _TIMEOUTS


_TIMEOUTS = frozenset(
    {
        FailureKind.CONNECT_TIMEOUT,
        FailureKind.READ_TIMEOUT,
        FailureKind.WRITE_TIMEOUT,
        FailureKind.POOL_TIMEOUT,
    }
)


def failure_kind(error: InstanceError) -> FailureKind | None:
    """The transport failure behind ``error``; None for errors where the instance answered."""
    if isinstance(error, Unreachable | Uncertain):
        return FailureKind(error.kind)
    return None


def status_of(error: InstanceError) -> Status:
    """The spec's status for a probe error: timeouts are TIMEOUT, refusals and the rest ERROR."""
    if isinstance(error, AuthFailed):
        return Status.AUTH_FAILED
    if isinstance(error, Banned):
        return Status.BANNED
    kind = failure_kind(error)
    if kind is not None and kind.timed_out:
        return Status.TIMEOUT
    return Status.ERROR


def health_word(inst: InstanceHealth | None) -> str:
    """The word the spec's client reports: ``OK``, ``VPN_DOWN``, ``TIMEOUT``, ``AUTH_FAILED``,
    ``NOT_CONFIGURED``, ``HTTP_<code>`` or ``ERROR: <short reason>``.

    A ban is ``AUTH_FAILED``: qBittorrent bans after wrong passwords, and the fix is the same
    (correct the credentials, then ``qbfailover unblock``); the detail says it is a ban.
    """
    if inst is None:
        return str(Status.NOT_CONFIGURED)
    if inst.status is Status.BANNED:
        return str(Status.AUTH_FAILED)
    if inst.status is not Status.ERROR:
        return str(inst.status)
    if inst.http_status is not None:
        return f"HTTP_{inst.http_status}"
    reason = inst.detail.split(" (", 1)[0].strip() or "unknown"
    return f"ERROR: {reason[:40]}"


def gate_on_vpn(webui_status: Status, requires_vpn: bool, vpn: VpnHealth) -> Status:
    """An instance that needs the VPN is VPN_DOWN while the VPN probe fails, whatever its WebUI says.

    Its WebUI may well answer over the LAN; handing it work then would leak traffic outside the VPN.
    A VPN that is not configured does not gate anything (config refuses requires_vpn without one).
    """
    if requires_vpn and vpn.status is VpnStatus.DOWN:
        return Status.VPN_DOWN
    return webui_status


def overall_state(instances: Sequence[InstanceHealth]) -> State:
    """The spec's states, for any number of instances (primary = lowest priority number)."""
    ordered = sorted(instances, key=lambda i: i.priority)
    if not ordered:
        return State.BOTH_DOWN
    primary, others = ordered[0], ordered[1:]
    configured = [i for i in others if i.status is not Status.NOT_CONFIGURED]
    if not configured:
        return State.PRIMARY_ONLY if primary.ok else State.BOTH_DOWN
    any_secondary = any(i.ok for i in configured)
    if primary.ok:
        return State.BOTH_HEALTHY if any_secondary else State.SECONDARY_DOWN
    return State.PRIMARY_DOWN if any_secondary else State.BOTH_DOWN


VERDICTS: dict[State, Verdict] = {
    State.BOTH_HEALTHY: Verdict.EXCELLENT,
    State.PRIMARY_DOWN: Verdict.WARNING,
    State.SECONDARY_DOWN: Verdict.INFO,
    State.PRIMARY_ONLY: Verdict.INFO,
    State.BOTH_DOWN: Verdict.CRITICAL,
}

VERDICT_TEXT: dict[State, str] = {
    State.BOTH_HEALTHY: "Excellent: primary in use, secondary standing by",
    State.PRIMARY_DOWN: "Warning: primary down, using the secondary",
    State.SECONDARY_DOWN: "Info: secondary down, redundancy unavailable",
    State.PRIMARY_ONLY: "Info: no secondary configured, primary in use",
    State.BOTH_DOWN: "Critical: nothing reachable, new items are queued",
}

# status exit codes: 0 healthy, 1 warning (on the secondary, or redundancy lost), 2 critical.
EXIT_CODES: dict[State, int] = {
    State.BOTH_HEALTHY: 0,
    State.PRIMARY_ONLY: 0,
    State.PRIMARY_DOWN: 1,
    State.SECONDARY_DOWN: 1,
    State.BOTH_DOWN: 2,
}


def describe_transition(old: State, new: State, instances: Sequence[InstanceHealth]) -> str:
    """``PRIMARY_DOWN -> BOTH_HEALTHY (primary OK)`` with the statuses that changed it."""
    down = [f"{i.name} {i.status}" + (f": {i.detail}" if i.detail else "") for i in instances if not i.ok]
    reason = "; ".join(down) if down else "all instances OK"
    return f"{old} -> {new} ({reason})"


def status_document(report: HealthReport, pending: int, oldest: float | None) -> dict[str, object]:
    """The stable ``status --json`` document (also served by ``watch`` at ``GET /status``)."""
    return {
        "state": str(report.state),
        "verdict": str(report.verdict),
        "summary": VERDICT_TEXT[report.state],
        "checked_at": report.checked_at,
        "duration_ms": report.duration_ms,
        "vpn": {
            "status": str(report.vpn.status),
            "kind": report.vpn.kind,
            "target": report.vpn.target,
            "latency_ms": report.vpn.latency_ms,
            "detail": report.vpn.detail,
        },
        "instances": [
            {
                "name": i.name,
                "url": i.url,
                "status": str(i.status),
                "health": i.word,
                "version": i.version,
                "latency_ms": i.latency_ms,
                "requires_vpn": i.requires_vpn,
                "priority": i.priority,
                "detail": i.detail,
            }
            for i in report.instances
        ],
        "queue": {"pending": pending, "oldest": oldest},
        "exit_code": EXIT_CODES[report.state],
    }
