"""Pure decisions of the watch loop and its log line format (no I/O, no time)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from qbfailover.core.health import (
    VERDICTS,
    HealthReport,
    InstanceHealth,
    State,
    Status,
    VpnHealth,
    VpnStatus,
    overall_state,
)
from qbfailover.core.outcomes import AddResult, ItemResult, Outcome
from qbfailover.core.watchrules import (
    DrainTotals,
    by_instance,
    instance_changes,
    newly_healthy,
    should_drain,
    transition,
    transition_level,
)
from qbfailover.observe.logs import JsonFormatter, TextFormatter, event, quote, setup_logging


def report(primary: Status, secondary: Status | None = Status.OK) -> HealthReport:
    insts = [InstanceHealth("primary", primary, priority=1, detail="why" if primary is not Status.OK else "")]
    if secondary is not None:
        insts.append(InstanceHealth("secondary", secondary, priority=2))
    state = overall_state(insts)
    return HealthReport(VpnHealth(VpnStatus.UP), tuple(insts), state, VERDICTS[state], 0.0, 1.0)


def item(outcome: Outcome, instance: str | None = None) -> ItemResult:
    return ItemResult("magnet:?", "name", "ab" * 20, outcome, instance)


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        (None, State.BOTH_HEALTHY, None),
        (State.BOTH_HEALTHY, State.BOTH_HEALTHY, None),
        (State.BOTH_HEALTHY, State.PRIMARY_DOWN, (State.BOTH_HEALTHY, State.PRIMARY_DOWN)),
        (State.BOTH_DOWN, State.SECONDARY_DOWN, (State.BOTH_DOWN, State.SECONDARY_DOWN)),
    ],
)
def test_transition(previous: State | None, current: State, expected: tuple[State, State] | None) -> None:
    """Only a change between two cycles is a transition; the first cycle is not."""
    assert transition(previous, current) == expected


def test_transition_level() -> None:
    """Into BOTH_DOWN is an error, losing redundancy a warning, recovery info."""
    assert transition_level(State.BOTH_DOWN) == logging.ERROR
    assert transition_level(State.PRIMARY_DOWN) == logging.WARNING
    assert transition_level(State.SECONDARY_DOWN) == logging.WARNING
    assert transition_level(State.BOTH_HEALTHY) == logging.INFO
    assert transition_level(State.PRIMARY_ONLY) == logging.INFO


def test_newly_healthy() -> None:
    """First cycle: every usable instance is new; later only those that were not usable before."""
    both = report(Status.OK)
    assert newly_healthy(None, both) == {"primary", "secondary"}
    assert newly_healthy(frozenset({"secondary"}), both) == {"primary"}
    assert newly_healthy(frozenset({"primary", "secondary"}), both) == set()
    assert newly_healthy(frozenset({"primary"}), report(Status.TIMEOUT, Status.TIMEOUT)) == set()


def test_should_drain() -> None:
    """Drain only with something pending and at least one healthy instance."""
    assert should_drain(report(Status.OK), 3)
    assert should_drain(report(Status.VPN_DOWN), 1)  # the secondary is eligible
    assert not should_drain(report(Status.OK), 0)
    assert not should_drain(report(Status.TIMEOUT, Status.ERROR), 5)
    assert not should_drain(report(Status.AUTH_FAILED, None), 5)


def test_instance_changes() -> None:
    """First cycle reports the instances that are not OK; later ones only changed statuses."""
    first = instance_changes(None, report(Status.TIMEOUT))
    assert [(c.name, c.old, c.new, c.detail) for c in first] == [("primary", None, Status.TIMEOUT, "why")]
    assert instance_changes({"primary": Status.TIMEOUT, "secondary": Status.OK}, report(Status.TIMEOUT)) == []
    back = instance_changes({"primary": Status.TIMEOUT, "secondary": Status.OK}, report(Status.OK))
    assert [(c.name, c.old, c.new) for c in back] == [("primary", Status.TIMEOUT, Status.OK)]


def test_drain_totals_and_by_instance() -> None:
    """A batch's items are tallied by outcome, and by the instance that took them."""
    result = AddResult(
        [
            item(Outcome.ADDED, "primary"),
            item(Outcome.ALREADY_THERE, "primary"),
            item(Outcome.ADDED, "secondary"),
            item(Outcome.REFUSED_BY_INSTANCES),
            item(Outcome.NO_INSTANCE),
        ]
    )
    totals = DrainTotals()
    totals.add(result)
    assert (totals.delivered, totals.already_there, totals.rejected, totals.queued, totals.batches) == (
        2,
        1,
        1,
        1,
        1,
    )
    assert by_instance(result) == "primary:2,secondary:1"
    assert by_instance(AddResult([item(Outcome.NO_INSTANCE)])) is None


def test_quote() -> None:
    """logfmt values: bare words stay bare; spaces, quotes and newlines are quoted and escaped."""
    assert quote("BOTH_HEALTHY") == "BOTH_HEALTHY"
    assert quote("a b") == '"a b"'
    assert quote('say "hi"\n') == '"say \\"hi\\"\\n"'
    assert quote("") == '""'
    assert quote(3) == "3"


def record(message: str, **fields: object) -> logging.LogRecord:
    rec = logging.LogRecord("qbfailover.watch", logging.WARNING, __file__, 1, message, None, None)
    rec.fields = fields
    return rec


def test_text_formatter_one_line() -> None:
    """Text lines are LEVEL message key=value, on one line, without colour when asked."""
    line = TextFormatter().format(record("BOTH_HEALTHY -> PRIMARY_DOWN (x)\nmore", to="PRIMARY_DOWN", n=2))
    assert line == "WARNING BOTH_HEALTHY -> PRIMARY_DOWN (x) more to=PRIMARY_DOWN n=2"
    assert "\x1b[" in TextFormatter(colour=True).format(record("m"))


def test_json_formatter() -> None:
    """JSON lines carry ts, level, message and the fields as keys."""
    doc = json.loads(JsonFormatter().format(record("hello", cycle=3, to="BOTH_DOWN")))
    assert doc["level"] == "WARNING" and doc["message"] == "hello"
    assert doc["cycle"] == 3 and doc["to"] == "BOTH_DOWN"
    assert doc["ts"].endswith("+00:00")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """setup_logging changes process-wide logging: put it back for the other tests."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("qbfailover").level)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    logging.getLogger("qbfailover").setLevel(saved[2])


def test_setup_logging_no_colour_without_tty(restore_logging: None) -> None:
    """Logging to a non-terminal stream has no escape codes; None fields are dropped; httpx is quiet."""
    stream = io.StringIO()
    logger = setup_logging("info", "text", stream)
    event(logging.getLogger("qbfailover.watch"), logging.INFO, "state X", state="X", skipped=None)
    logging.getLogger("httpx").info("HTTP Request: GET ...")
    logger.debug("hidden")
    assert stream.getvalue() == "INFO state X state=X\n"
    setup_logging("info", "json", stream)  # replaces the handler, never doubles it
    event(logging.getLogger("qbfailover.watch"), logging.INFO, "again")
    assert stream.getvalue().count("again") == 1
