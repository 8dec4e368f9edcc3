"""Every failover rule of the spec and DESIGN.md as a table: inputs in, the decided value out (no I/O)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qbfailover.core import breaker
from qbfailover.core.breaker import Guard
from qbfailover.core.delivery import (
    Step,
    already_there,
    batch_bounds,
    judge_add,
    judge_error,
    judge_url,
    refused_everywhere,
)
from qbfailover.core.health import (
    VERDICTS,
    FailureKind,
    HealthReport,
    InstanceHealth,
    Status,
    VpnHealth,
    VpnStatus,
    overall_state,
    status_of,
)
from qbfailover.core.outcomes import Fault, ItemResult, Outcome, Refusal, Unavailable, queue_reason
from qbfailover.core.routing import breaker_open, by_priority, gated, usable
from qbfailover.errors import AuthFailed, Banned, InstanceError, Rejected, Uncertain, Unreachable

NOW = 1_000_000.0
COOLDOWN = 30.0
H = frozenset({"a" * 40})
UP = VpnHealth(VpnStatus.UP)
DOWN = VpnHealth(VpnStatus.DOWN, detail="no ping reply")
NO_VPN = VpnHealth(VpnStatus.NOT_CONFIGURED)


def inst(
    name: str, status: Status = Status.OK, priority: int = 1, requires_vpn: bool = False
) -> InstanceHealth:
    return InstanceHealth(name, status, priority=priority, requires_vpn=requires_vpn)


def opened(timed_out: bool = True) -> Guard:
    return Guard(failures=1, open_until=NOW + COOLDOWN, last_error="connect timeout", timed_out=timed_out)


# --- routing: which instances, in which order ----------------------------------------------------------


@pytest.mark.parametrize(
    ("instances", "guards", "vpn", "expected"),
    [
        ([inst("p", priority=1), inst("s", priority=2)], {}, UP, ["p", "s"]),
        ([inst("s", priority=2), inst("p", priority=1)], {}, UP, ["p", "s"]),
        ([inst("a", priority=1), inst("b", priority=1)], {}, UP, ["a", "b"]),
        ([inst("p", requires_vpn=True), inst("s", priority=2)], {}, DOWN, ["s"]),
        ([inst("p", requires_vpn=True), inst("s", priority=2)], {}, UP, ["p", "s"]),
        ([inst("p", requires_vpn=False), inst("s", priority=2)], {}, DOWN, ["p", "s"]),
        ([inst("p", requires_vpn=True)], {}, NO_VPN, ["p"]),
        ([inst("p", Status.ERROR), inst("s", priority=2)], {}, UP, ["s"]),
        ([inst("p", Status.AUTH_FAILED), inst("s", Status.BANNED, 2)], {}, UP, []),
        ([inst("p", Status.TIMEOUT), inst("s", priority=2)], {}, UP, ["s"]),
        ([inst("p"), inst("s", priority=2)], {"p": opened()}, UP, ["s"]),
        ([inst("p"), inst("s", priority=2)], {"p": Guard(failures=3, open_until=NOW)}, UP, ["p", "s"]),
    ],
    ids=[
        "priority-order",
        "priority-not-position",
        "ties-keep-configured-order",
        "vpn-down-requires-vpn-never-gets-work",
        "vpn-up-requires-vpn-used",
        "vpn-down-other-instances-unaffected",
        "vpn-not-configured-gates-nothing",
        "instance-down-skipped",
        "auth-failed-and-banned-skipped",
        "timeout-skipped",
        "breaker-open-skipped-unprobed",
        "breaker-half-open-tried-again",
    ],
)
def test_route(
    instances: list[InstanceHealth], guards: dict[str, Guard], vpn: VpnHealth, expected: list[str]
) -> None:
    """Priority order, minus down instances, open breakers, and VPN-bound ones while the VPN is down.

    Each instance goes through the pipeline the engine's health round applies to it: an open
    breaker replaces the probe, the VPN gate applies, and only a usable result takes work.
    """
    offered = []
    for h in by_priority(instances):
        closed = breaker_open(
            h.name,
            guards.get(h.name, Guard()),
            NOW,
            priority=h.priority,
            requires_vpn=h.requires_vpn,
            url=h.url,
        )
        if usable(gated(closed or h, h.requires_vpn, vpn)):
            offered.append(h.name)
    assert offered == expected


@pytest.mark.parametrize(
    ("guard", "status"),
    [(opened(timed_out=True), Status.TIMEOUT), (opened(timed_out=False), Status.ERROR), (Guard(), None)],
    ids=["open-after-timeout", "open-after-dns-or-tls", "closed"],
)
def test_breaker_open_health(guard: Guard, status: Status | None) -> None:
    """An open breaker is reported (not probed) with the status of the failure that opened it."""
    health = breaker_open("p", guard, NOW, priority=1, requires_vpn=False, url="")
    assert (health.status if health else None) is status
    if health is not None:
        assert health.detail == "not tried for 30 s (breaker open): connect timeout"


def test_vpn_gate_overrides_an_answering_webui() -> None:
    """A WebUI that answers over the LAN is still VPN_DOWN while the VPN it requires is down (no leak)."""
    health = gated(inst("p", requires_vpn=True), True, DOWN)
    assert (health.status, health.detail) == (Status.VPN_DOWN, "VPN probe failed (no ping reply)")
    assert gated(inst("p"), False, DOWN).status is Status.OK


# --- one attempt: what a reply or an error means -------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "present", "status", "accepted", "step"),
    [
        ("magnet", H, 200, True, Step.ADDED),
        ("magnet", H, 409, False, Step.ADDED),
        ("torrent", frozenset(), 415, False, Step.INVALID_TORRENT),
        ("magnet", frozenset(), 415, False, Step.REFUSED),
        ("magnet", frozenset(), 200, False, Step.REFUSED),
        ("magnet", frozenset(), 409, False, Step.REFUSED),
        ("torrent", frozenset(), 200, True, Step.UNCONFIRMED),
    ],
    ids=[
        "present-after-add",
        "present-whatever-the-reply-says",
        "rejected-item-415-torrent",
        "415-on-a-magnet-is-the-instances-refusal",
        "instance-refused-fails",
        "instance-refused-409",
        "accepted-but-not-shown",
    ],
)
def test_judge_add(kind: str, present: frozenset[str], status: int, accepted: bool, step: Step) -> None:
    """Presence by infohash decides, never the reply alone; a 415 .torrent is the item's fault."""
    assert judge_add(kind=kind, hashes=H, present=present, status=status, accepted=accepted) is step


@pytest.mark.parametrize(
    ("error", "step"),
    [
        (Unreachable("p", "connection refused", kind=FailureKind.REFUSED), Step.UNREACHABLE),
        (Unreachable("p", "connect timeout", kind=FailureKind.CONNECT_TIMEOUT), Step.UNREACHABLE),
        (Uncertain("p", "read timeout after sending", kind=FailureKind.READ_TIMEOUT), Step.UNCERTAIN),
        (AuthFailed("p", "wrong username or password"), Step.FAILED),
        (Banned("p", "banned"), Step.FAILED),
        (Rejected("p", "torrents/add answered HTTP 500", 500), Step.FAILED),
        (Rejected("p", "torrents/add answered HTTP 503", 503), Step.FAILED),
    ],
    ids=["refused", "connect-timeout", "timeout-after-sending", "auth-failed", "banned", "5xx", "503"],
)
def test_judge_error(error: InstanceError, step: Step) -> None:
    """Every instance error sends the item to the next instance; it is never the item's fault."""
    assert judge_error(error) is step
    assert step.outcome is None and step.fault is Fault.INSTANCE


@pytest.mark.parametrize(
    ("step", "outcome", "fault", "clears_sent", "trips_breaker"),
    [
        (Step.ADDED, Outcome.ADDED, Fault.NONE, False, False),
        (Step.ACCEPTED_URL, Outcome.ACCEPTED_URL, Fault.NONE, False, False),
        (Step.INVALID_TORRENT, Outcome.INVALID_TORRENT, Fault.ITEM, False, False),
        (Step.REFUSED, None, Fault.INSTANCE, True, False),
        (Step.UNCONFIRMED, None, Fault.INSTANCE, False, False),
        (Step.UNREACHABLE, None, Fault.INSTANCE, True, True),
        (Step.UNCERTAIN, None, Fault.INSTANCE, False, True),
        (Step.FAILED, None, Fault.INSTANCE, False, False),
    ],
    ids=[s.value for s in Step],
)
def test_step_consequences(
    step: Step, outcome: Outcome | None, fault: Fault, clears_sent: bool, trips_breaker: bool
) -> None:
    """What each step means: settled or next instance, whose fault, sent mark kept (uncertain) or cleared."""
    assert (step.outcome, step.fault, step.clears_sent, step.trips_breaker) == (
        outcome,
        fault,
        clears_sent,
        trips_breaker,
    )


@pytest.mark.parametrize(
    ("present", "expected"),
    [(H, True), (frozenset({"b" * 40}), False), (frozenset(), False)],
    ids=["already-present", "other-torrents-only", "empty-instance"],
)
def test_already_there(present: frozenset[str], expected: bool) -> None:
    """An item present before the add is delivered ("already there") and never added twice."""
    assert already_there(H, present) is expected


@pytest.mark.parametrize(
    ("accepted", "step"), [(True, Step.ACCEPTED_URL), (False, Step.REFUSED)], ids=["ok", "fails"]
)
def test_judge_url(accepted: bool, step: Step) -> None:
    """A URL has no infohash to confirm: the instance's reply is its receipt."""
    assert judge_url(accepted) is step


# --- the breaker ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "opens", "status"),
    [
        (Unreachable("p", "connection refused", kind=FailureKind.REFUSED), False, Status.ERROR),
        (Unreachable("p", "connect timeout", kind=FailureKind.CONNECT_TIMEOUT), True, Status.TIMEOUT),
        (Unreachable("p", "read timeout", kind=FailureKind.READ_TIMEOUT), True, Status.TIMEOUT),
        (Unreachable("p", "WriteTimeout", kind=FailureKind.WRITE_TIMEOUT), True, Status.TIMEOUT),
        (Unreachable("p", "pool timeout", kind=FailureKind.POOL_TIMEOUT), True, Status.TIMEOUT),
        (
            Unreachable("p", "no answer within the 2 s deadline", kind=FailureKind.DEADLINE),
            True,
            Status.ERROR,
        ),
        (Unreachable("p", "host name not found", kind=FailureKind.DNS), True, Status.ERROR),
        (Unreachable("p", "TLS failed", kind=FailureKind.TLS), True, Status.ERROR),
        (Unreachable("p", "ReadError", kind=FailureKind.BROKEN), True, Status.ERROR),
        (Uncertain("p", "read timeout after sending", kind=FailureKind.READ_TIMEOUT), True, Status.TIMEOUT),
        (AuthFailed("p", "wrong username or password"), False, Status.AUTH_FAILED),
        (Banned("p", "banned"), False, Status.BANNED),
        (Rejected("p", "HTTP 500", 500), False, Status.ERROR),
    ],
    ids=[
        "refused-never-opens",
        "connect-timeout",
        "read-timeout",
        "write-timeout",
        "pool-timeout",
        "probe-deadline",
        "dns",
        "tls",
        "connection-broken",
        "timeout-after-sending",
        "auth-failed-is-the-login-budgets",
        "banned-is-the-login-budgets",
        "5xx-answered",
    ],
)
def test_probe_errors(error: InstanceError, opens: bool, status: Status) -> None:
    """Which errors open the breaker (refused never does: found again in < 1 ms), and the status shown."""
    assert breaker.opens_breaker(error) is opens
    assert status_of(error) is status
    after = breaker.after_probe(Guard(), error, NOW, COOLDOWN)
    assert (after.open_until == NOW + COOLDOWN) is opens
    if opens:
        assert (after.last_error, after.timed_out) == (error.detail, status is Status.TIMEOUT)


def test_breaker_steps_once_per_outage() -> None:
    """A breaker another process opened meanwhile is not stepped again; a success closes it."""
    error = Unreachable("p", "connect timeout", kind=FailureKind.CONNECT_TIMEOUT)
    guard = opened()
    assert breaker.after_probe(guard, error, NOW, COOLDOWN) is guard
    assert breaker.may_connect(breaker.after_probe(guard, None, NOW, COOLDOWN), NOW)


@pytest.mark.parametrize(
    ("stored", "timed_out"),
    [
        ({"failures": 1, "open_until": NOW, "last_error": "connect timeout (host or VPN path down?)"}, True),
        ({"failures": 1, "open_until": NOW, "last_error": "host name not found"}, False),
        ({"last_error": "connect timeout", "timed_out": False, "unknown": 1}, False),
    ],
    ids=["legacy-timeout", "legacy-other", "current"],
)
def test_guard_from_stored(stored: dict[str, object], timed_out: bool) -> None:
    """Guards written before ``timed_out`` existed keep showing TIMEOUT; unknown keys are ignored."""
    assert breaker.from_stored(stored).timed_out is timed_out


# --- after the last instance: rejected, or queued (with or without backoff) -----------------------------


@pytest.mark.parametrize(
    ("refusals", "tried", "rejected"),
    [(2, 2, True), (1, 1, True), (1, 2, False), (0, 2, False), (0, 0, False), (1, 0, True)],
    ids=[
        "all-instances-refused",
        "the-only-instance-refused",
        "one-refused-one-failed",
        "none-refused",
        "nothing-tried",
        "refused-earlier-nothing-usable-now",
    ],
)
def test_refused_everywhere(refusals: int, tried: int, rejected: bool) -> None:
    """Rejected only when every instance tried refused the item; otherwise it stays pending."""
    assert refused_everywhere(refusals, tried) is rejected


def report(*instances: InstanceHealth) -> HealthReport:
    state = overall_state(instances)
    return HealthReport(UP, instances, state, VERDICTS[state], NOW, 1.0)


@pytest.mark.parametrize(
    ("health", "outcome", "backoff", "text"),
    [
        (
            report(inst("p", Status.TIMEOUT), inst("s", Status.VPN_DOWN, 2)),
            Outcome.NO_INSTANCE,
            False,
            "no instance available: p TIMEOUT, s VPN_DOWN",
        ),
        (
            report(inst("p"), inst("s", Status.ERROR, 2)),
            Outcome.NOT_DELIVERED,
            True,
            "not delivered: s ERROR",
        ),
        (
            report(inst("p"), inst("s", priority=2)),
            Outcome.NOT_DELIVERED,
            True,
            "not delivered: every instance failed",
        ),
    ],
    ids=["nothing-healthy-queued-without-backoff", "some-healthy-backoff", "all-healthy-all-failed"],
)
def test_queue_reason(health: HealthReport, outcome: Outcome, backoff: bool, text: str) -> None:
    """Unplaced items wait; they back off only if some instance is healthy (else due when one returns)."""
    why = queue_reason(health)
    assert (why.outcome, why.backoff, str(why)) == (outcome, backoff, text)


# --- reasons: rendered from the outcome, byte-identical to what --json always showed --------------------


@pytest.mark.parametrize(
    ("result", "state", "fault", "reason"),
    [
        (ItemResult("m", "n", "h", Outcome.ADDED, "p"), "delivered", Fault.NONE, "added"),
        (ItemResult("m", "n", "h", Outcome.ALREADY_THERE, "p"), "delivered", Fault.NONE, "already there"),
        (ItemResult("u", "n", None, Outcome.ACCEPTED_URL, "p"), "delivered", Fault.NONE, "accepted (URL)"),
        (
            ItemResult("x", "x", None, Outcome.INVALID_ITEM, error="bad magnet"),
            "rejected",
            Fault.ITEM,
            "bad magnet",
        ),
        (
            ItemResult("t", "n", "h", Outcome.INVALID_TORRENT, refusals=(Refusal("p", "415"),)),
            "rejected",
            Fault.ITEM,
            "p refused the .torrent file (HTTP 415: invalid torrent)",
        ),
        (
            ItemResult(
                "m",
                "n",
                "h",
                Outcome.REFUSED_BY_INSTANCES,
                refusals=(Refusal("p", "Fails."), Refusal("s", "409")),
            ),
            "rejected",
            Fault.INSTANCE,
            "refused by p (Fails.); s (409)",
        ),
        (
            ItemResult("m", "n", "h", Outcome.NO_INSTANCE, down=(Unavailable("p", Status.TIMEOUT),)),
            "queued",
            Fault.INSTANCE,
            "no instance available: p TIMEOUT",
        ),
        (
            ItemResult(
                "m", "n", "h", Outcome.NOT_DELIVERED, error="p accepted but did not show it within 5 s"
            ),
            "queued",
            Fault.INSTANCE,
            "not delivered: every instance failed; p accepted but did not show it within 5 s",
        ),
        (
            ItemResult("m", "n", "h", Outcome.BUSY, id=3),
            "queued",
            Fault.NONE,
            "already queued and being delivered by another qbfailover process",
        ),
    ],
    ids=[o.value for o in Outcome],
)
def test_reason_is_rendered_from_the_outcome(
    result: ItemResult, state: str, fault: Fault, reason: str
) -> None:
    """Each outcome renders the exact reason text users and the ledger have always seen."""
    assert (result.state, result.fault, result.reason) == (state, fault, reason)
    assert list(result.as_dict()) == ["id", "item", "name", "infohash", "state", "instance", "reason"]


def test_batches_end_at_the_item_count_or_before_the_byte_budget() -> None:
    assert batch_bounds([100] * 5, 2) == [(0, 2), (2, 4), (4, 5)]
    assert batch_bounds([100] * 5, 10, max_bytes=250) == [(0, 2), (2, 4), (4, 5)]
    assert batch_bounds([10, 900, 10, 10], 10, max_bytes=500) == [(0, 1), (1, 2), (2, 4)]  # big one alone
    assert batch_bounds([], 10) == []


@given(st.lists(st.integers(0, 1000), max_size=40), st.integers(1, 8), st.integers(1, 3000))
def test_batches_cover_every_item_once_in_order(sizes: list[int], count: int, budget: int) -> None:
    bounds = batch_bounds(sizes, count, max_bytes=budget)
    assert [i for start, end in bounds for i in range(start, end)] == list(range(len(sizes)))
    for start, end in bounds:
        assert end - start <= count
        assert end - start == 1 or sum(sizes[start:end]) <= budget
