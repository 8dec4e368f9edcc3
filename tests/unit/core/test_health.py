"""The spec's health state machine, generalised to N instances: statuses → state → verdict → exit code."""

from __future__ import annotations

import json
import re

import pytest

from qbfailover.core.health import (
    EXIT_CODES,
    VERDICT_TEXT,
    VERDICTS,
    HealthReport,
    InstanceHealth,
    State,
    Status,
    Verdict,
    VpnHealth,
    VpnStatus,
    describe_transition,
    gate_on_vpn,
    overall_state,
    status_document,
)

S = Status
UP = VpnHealth(VpnStatus.UP, latency_ms=1.5, detail="ping reply", target="127.0.0.3", kind="icmp")
DOWN = VpnHealth(VpnStatus.DOWN, detail="no ping reply", target="127.0.0.3", kind="icmp")
NO_VPN = VpnHealth(VpnStatus.NOT_CONFIGURED, detail="no VPN probe configured")
FAILURES = [S.VPN_DOWN, S.TIMEOUT, S.AUTH_FAILED, S.BANNED, S.ERROR]


def inst(name: str, status: Status, priority: int, *, requires_vpn: bool = False) -> InstanceHealth:
    return InstanceHealth(name=name, status=status, priority=priority, requires_vpn=requires_vpn)


def judge(vpn: VpnHealth, primary_webui: Status, secondary: Status | None) -> State:
    """What the client does: gate the VPN-bound primary on the VPN probe, then take the state."""
    rows = [inst("primary", gate_on_vpn(primary_webui, True, vpn), 1, requires_vpn=True)]
    if secondary is not None:
        rows.append(inst("secondary", gate_on_vpn(secondary, False, vpn), 2))
    return overall_state(rows)


@pytest.mark.parametrize(
    ("vpn", "primary", "secondary", "state"),
    [
        # BOTH_HEALTHY: VPN connected, primary OK, secondary OK.
        (UP, S.OK, S.OK, State.BOTH_HEALTHY),
        # PRIMARY_DOWN: VPN disconnected (even if the primary's WebUI answers on the LAN) ...
        (DOWN, S.OK, S.OK, State.PRIMARY_DOWN),
        # ... or the primary fails, whatever the reason.
        *[(UP, failure, S.OK, State.PRIMARY_DOWN) for failure in FAILURES],
        # SECONDARY_DOWN: primary OK, secondary TIMEOUT (or any failure).
        (UP, S.OK, S.TIMEOUT, State.SECONDARY_DOWN),
        (UP, S.OK, S.ERROR, State.SECONDARY_DOWN),
        (UP, S.OK, S.AUTH_FAILED, State.SECONDARY_DOWN),
        # BOTH_DOWN: both fail (scenario 3: VPN down and the secondary stopped).
        (DOWN, S.OK, S.TIMEOUT, State.BOTH_DOWN),
        (DOWN, S.TIMEOUT, S.TIMEOUT, State.BOTH_DOWN),
        (UP, S.ERROR, S.TIMEOUT, State.BOTH_DOWN),
        # PRIMARY_ONLY: no secondary configured (absent, or reported NOT_CONFIGURED) and primary OK.
        (UP, S.OK, None, State.PRIMARY_ONLY),
        (UP, S.OK, S.NOT_CONFIGURED, State.PRIMARY_ONLY),
        # PRIMARY_ONLY with the primary failing: nothing to fail over to, so items are queued.
        (UP, S.TIMEOUT, None, State.BOTH_DOWN),
        (DOWN, S.OK, S.NOT_CONFIGURED, State.BOTH_DOWN),
    ],
)
def test_spec_state_machine(vpn: VpnHealth, primary: Status, secondary: Status | None, state: State) -> None:
    """Every row of the spec's table: VPN + primary + secondary statuses give the spec's state."""
    assert judge(vpn, primary, secondary) == state


@pytest.mark.parametrize(
    ("webui", "requires_vpn", "vpn", "expected"),
    [
        (S.OK, True, DOWN, S.VPN_DOWN),
        (S.TIMEOUT, True, DOWN, S.VPN_DOWN),
        (S.OK, True, UP, S.OK),
        (S.TIMEOUT, True, UP, S.TIMEOUT),
        (S.OK, True, NO_VPN, S.OK),
        (S.OK, False, DOWN, S.OK),
        (S.ERROR, False, DOWN, S.ERROR),
        (S.NOT_CONFIGURED, False, DOWN, S.NOT_CONFIGURED),
    ],
)
def test_gate_on_vpn(webui: Status, requires_vpn: bool, vpn: VpnHealth, expected: Status) -> None:
    """Only an instance that requires the VPN is VPN_DOWN while the probe fails (no leak)."""
    assert gate_on_vpn(webui, requires_vpn, vpn) == expected


@pytest.mark.parametrize(
    ("a", "b", "c", "state"),
    [
        (S.OK, S.OK, S.OK, State.BOTH_HEALTHY),
        (S.OK, S.TIMEOUT, S.OK, State.BOTH_HEALTHY),
        (S.OK, S.OK, S.TIMEOUT, State.BOTH_HEALTHY),
        (S.OK, S.TIMEOUT, S.ERROR, State.SECONDARY_DOWN),
        (S.OK, S.NOT_CONFIGURED, S.TIMEOUT, State.SECONDARY_DOWN),
        (S.OK, S.NOT_CONFIGURED, S.NOT_CONFIGURED, State.PRIMARY_ONLY),
        (S.VPN_DOWN, S.OK, S.TIMEOUT, State.PRIMARY_DOWN),
        (S.VPN_DOWN, S.TIMEOUT, S.OK, State.PRIMARY_DOWN),
        (S.TIMEOUT, S.NOT_CONFIGURED, S.OK, State.PRIMARY_DOWN),
        (S.TIMEOUT, S.TIMEOUT, S.TIMEOUT, State.BOTH_DOWN),
        (S.BANNED, S.NOT_CONFIGURED, S.NOT_CONFIGURED, State.BOTH_DOWN),
    ],
)
def test_three_instances_in_any_order(a: Status, b: Status, c: Status, state: State) -> None:
    """With N instances the primary is the lowest priority number, wherever it sits in the list."""
    rows = [inst("c", c, 3), inst("a", a, 1), inst("b", b, 2)]
    assert overall_state(rows) == state
    assert overall_state(list(reversed(rows))) == state


def test_primary_is_chosen_by_priority_not_position() -> None:
    """An OK instance listed first but with priority 5 does not make the state BOTH_HEALTHY."""
    rows = [inst("late", S.OK, 5), inst("first", S.TIMEOUT, 1)]
    assert overall_state(rows) == State.PRIMARY_DOWN


def test_no_instances_is_both_down() -> None:
    """An empty report (nothing configured or reachable) is BOTH_DOWN, never a crash."""
    assert overall_state([]) == State.BOTH_DOWN


@pytest.mark.parametrize(
    ("state", "verdict", "code"),
    [
        (State.BOTH_HEALTHY, Verdict.EXCELLENT, 0),
        (State.PRIMARY_ONLY, Verdict.INFO, 0),
        (State.PRIMARY_DOWN, Verdict.WARNING, 1),
        (State.SECONDARY_DOWN, Verdict.INFO, 1),
        (State.BOTH_DOWN, Verdict.CRITICAL, 2),
    ],
)
def test_verdicts_and_exit_codes(state: State, verdict: Verdict, code: int) -> None:
    """The spec's verdicts; exit 0 healthy, 1 warning or redundancy lost, 2 critical."""
    assert VERDICTS[state] == verdict and EXIT_CODES[state] == code
    assert VERDICT_TEXT[state].startswith(f"{verdict}: ")


def test_every_state_has_a_verdict_text_and_exit_code() -> None:
    """No state is missing from the verdict, text and exit-code tables."""
    assert set(VERDICTS) == set(VERDICT_TEXT) == set(EXIT_CODES) == set(State)


@pytest.mark.parametrize(
    ("old", "new", "rows", "expected"),
    [
        (
            State.BOTH_HEALTHY,
            State.PRIMARY_DOWN,
            [
                InstanceHealth("primary", S.VPN_DOWN, detail="no ping reply"),
                InstanceHealth("secondary", S.OK),
            ],
            "BOTH_HEALTHY -> PRIMARY_DOWN (primary VPN_DOWN: no ping reply)",
        ),
        (
            State.PRIMARY_DOWN,
            State.BOTH_HEALTHY,
            [InstanceHealth("primary", S.OK), InstanceHealth("secondary", S.OK)],
            "PRIMARY_DOWN -> BOTH_HEALTHY (all instances OK)",
        ),
        (
            State.SECONDARY_DOWN,
            State.BOTH_DOWN,
            [InstanceHealth("primary", S.TIMEOUT), InstanceHealth("secondary", S.ERROR, detail="refused")],
            "SECONDARY_DOWN -> BOTH_DOWN (primary TIMEOUT; secondary ERROR: refused)",
        ),
    ],
)
def test_describe_transition(old: State, new: State, rows: list[InstanceHealth], expected: str) -> None:
    """Transitions read ``OLD -> NEW (reason)``, the reason naming what is not OK."""
    text = describe_transition(old, new, rows)
    assert text == expected
    assert re.fullmatch(r"[A-Z_]+ -> [A-Z_]+ \(.+\)", text)


def report(state: State, vpn: VpnHealth, rows: tuple[InstanceHealth, ...]) -> HealthReport:
    return HealthReport(vpn, rows, state, VERDICTS[state], checked_at=1764340200.0, duration_ms=3.2)


def test_status_document_keys() -> None:
    """status --json: state, verdict, vpn, instances (name/status/version/latency_ms), queue.pending."""
    rows = (
        InstanceHealth("primary", S.VPN_DOWN, None, "v4.5.2", "no ping reply", 1, True, "http://p/"),
        InstanceHealth("secondary", S.OK, 1.4, "v5.1.0", "", 2, False, "http://127.0.0.1:52095/"),
    )
    doc = status_document(report(State.PRIMARY_DOWN, DOWN, rows), pending=7, oldest=1764340000.0)
    assert json.loads(json.dumps(doc)) == doc  # plain JSON types only
    assert {"state", "verdict", "summary", "vpn", "instances", "queue", "exit_code"} <= set(doc)
    assert (doc["state"], doc["verdict"], doc["exit_code"]) == ("PRIMARY_DOWN", "Warning", 1)
    assert type(doc["state"]) is str and type(doc["verdict"]) is str
    assert doc["queue"] == {"pending": 7, "oldest": 1764340000.0}
    assert doc["vpn"] == {
        "status": "DOWN",
        "kind": "icmp",
        "target": "127.0.0.3",
        "latency_ms": None,
        "detail": "no ping reply",
    }
    instances = doc["instances"]
    assert isinstance(instances, list) and len(instances) == 2
    for row, health in zip(instances, rows, strict=True):
        assert {
            "name",
            "status",
            "version",
            "latency_ms",
            "requires_vpn",
            "priority",
            "url",
            "detail",
        } <= set(row)
        assert (row["name"], row["status"], row["version"], row["latency_ms"]) == (
            health.name,
            str(health.status),
            health.version,
            health.latency_ms,
        )
        assert type(row["status"]) is str


def test_status_document_exit_code_follows_state() -> None:
    """The document's exit_code is the state's exit code, for every state."""
    for state in State:
        doc = status_document(report(state, NO_VPN, ()), pending=0, oldest=None)
        assert doc["exit_code"] == EXIT_CODES[state] and doc["state"] == state.value


def test_health_report_helpers() -> None:
    """HealthReport.healthy lists OK instances; instance() finds one by name or returns None."""
    rows = (inst("a", S.OK, 1), inst("b", S.TIMEOUT, 2), inst("c", S.OK, 3))
    r = report(State.BOTH_HEALTHY, UP, rows)
    assert [i.name for i in r.healthy] == ["a", "c"]
    assert r.instance("b") is rows[1] and r.instance("zz") is None
    assert UP.up and not DOWN.up and not NO_VPN.up
