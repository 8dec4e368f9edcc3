"""Failback's plan, rule by rule (core.failback): which items move, which stay, and why."""

from __future__ import annotations

import pytest

from qbfailover.core.failback import Candidate, Facts, StayReason, map_savepath, plan_failback

RANKS = {"primary": 1, "secondary": 2, "local": 3}
HALF = Facts(progress=0.5, save_path="/dl/secondary", category="books", tags="x")
DONE = Facts(progress=1.0, save_path="/dl/secondary/seed")


def cand(n: int, source: str = "secondary", *, resume: bool = False) -> Candidate:
    return Candidate(n, f"item {n}", f"{n:040x}", source, resume=resume)


def listing(*pairs: tuple[int, Facts]) -> dict[str, Facts]:
    return {f"{n:040x}": facts for n, facts in pairs}


@pytest.mark.parametrize(
    ("case", "candidates", "target", "listed", "on_target", "kwargs", "moves", "stays"),
    [
        (
            "healthy primary: moves",
            [cand(1)],
            "primary",
            {"secondary": listing((1, HALF))},
            set(),
            {},
            [1],
            [],
        ),
        (
            "no usable instance",
            [cand(1)],
            None,
            {"secondary": listing((1, HALF))},
            set(),
            {},
            [],
            [(1, StayReason.NO_TARGET)],
        ),
        (
            "best usable is the source itself (VPN down)",
            [cand(1)],
            "secondary",
            {"secondary": listing((1, HALF))},
            set(),
            {},
            [],
            [(1, StayReason.NO_TARGET)],
        ),
        (
            "a third instance moves to the secondary while the primary is down",
            [cand(1, "local")],
            "secondary",
            {"local": listing((1, HALF))},
            set(),
            {},
            [1],
            [],
        ),
        (
            "source cannot be listed",
            [cand(1)],
            "primary",
            {"secondary": None},
            set(),
            {},
            [],
            [(1, StayReason.SOURCE_UNREACHABLE)],
        ),
        (
            "removed by the user",
            [cand(1)],
            "primary",
            {"secondary": {}},
            set(),
            {},
            [],
            [(1, StayReason.GONE)],
        ),
        (
            "complete stays by default",
            [cand(1)],
            "primary",
            {"secondary": listing((1, DONE))},
            set(),
            {},
            [],
            [(1, StayReason.COMPLETE)],
        ),
        (
            "complete moves when included",
            [cand(1)],
            "primary",
            {"secondary": listing((1, DONE))},
            set(),
            {"include_complete": True},
            [1],
            [],
        ),
        (
            "limit keeps the newest for the next run",
            [cand(3), cand(1), cand(2)],
            "primary",
            {"secondary": listing((1, HALF), (2, HALF), (3, HALF))},
            set(),
            {"limit": 2},
            [1, 2],
            [(3, StayReason.LIMIT)],
        ),
        (
            "an open move comes first, beyond the limit, even if gone from the source but on the target",
            [cand(1), cand(2, resume=True)],
            "primary",
            {"secondary": listing((1, HALF))},
            {f"{2:040x}"},
            {"limit": 1},
            [2, 1],
            [],
        ),
        (
            "an open move whose item is on neither instance: gone, not re-added",
            [cand(2, resume=True)],
            "primary",
            {"secondary": {}},
            set(),
            {},
            [],
            [(2, StayReason.GONE)],
        ),
        (
            "an open move waits while no instance ranks above its source",
            [cand(2, resume=True)],
            None,
            {"secondary": listing((2, HALF))},
            set(),
            {},
            [],
            [(2, StayReason.NO_TARGET)],
        ),
    ],
)
def test_plan(
    case: str,
    candidates: list[Candidate],
    target: str | None,
    listed: dict[str, dict[str, Facts] | None],
    on_target: set[str],
    kwargs: dict[str, object],
    moves: list[int],
    stays: list[tuple[int, StayReason]],
) -> None:
    plan = plan_failback(
        candidates,
        target=target,
        ranks=RANKS,
        listed=listed,
        on_target=frozenset(on_target),
        **kwargs,  # type: ignore[arg-type]
    )
    assert [m.candidate.entry_id for m in plan.moves] == moves, case
    assert [(s.candidate.entry_id, s.reason) for s in plan.stays] == stays, case
    assert all(m.target == target for m in plan.moves)


@pytest.mark.parametrize(
    ("case", "candidate", "listed", "on_target", "moves", "stays"),
    [
        (
            "added by URL",
            Candidate(1, "u", "http://x/y", "secondary", url=True),
            {"secondary": {}},
            set(),
            [],
            [StayReason.URL],
        ),
        (
            "open move to another instance waits for it",
            Candidate(1, "a", f"{1:040x}", "local", resume=True, moving_to="primary"),
            {"local": listing((1, HALF))},
            set(),
            [],
            [StayReason.OPEN_ELSEWHERE],
        ),
        (
            "open move, source cannot be listed: stays (its data may be complete)",
            cand(1, resume=True),
            {"secondary": None},
            {f"{1:040x}"},
            [],
            [StayReason.SOURCE_UNREACHABLE],
        ),
        (
            "a hybrid is found under any of its hashes",
            Candidate(1, "h", "aa" * 20, "secondary", hashes=frozenset({"aa" * 20, "bb" * 32, "bb" * 20})),
            {"secondary": {"bb" * 20: HALF}},
            set(),
            [1],
            [],
        ),
    ],
)
def test_plan_edges(
    case: str,
    candidate: Candidate,
    listed: dict[str, dict[str, Facts] | None],
    on_target: set[str],
    moves: list[int],
    stays: list[StayReason],
) -> None:
    target = "secondary" if candidate.source == "local" else "primary"
    plan = plan_failback(
        [candidate], target=target, ranks=RANKS, listed=listed, on_target=frozenset(on_target)
    )
    assert [m.candidate.entry_id for m in plan.moves] == moves, case
    assert [s.reason for s in plan.stays] == stays, case


def test_plan_marks_what_is_already_on_the_target_and_complete() -> None:
    plan = plan_failback(
        [cand(1), cand(2)],
        target="primary",
        ranks=RANKS,
        listed={"secondary": listing((1, DONE), (2, HALF))},
        on_target=frozenset({f"{2:040x}"}),
        include_complete=True,
    )
    assert [(m.candidate.entry_id, m.complete, m.on_target) for m in plan.moves] == [
        (1, True, False),
        (2, False, True),
    ]
    doc = plan.as_dict()
    assert doc["target"] == "primary"
    assert doc["moves"][0] == {  # type: ignore[index]
        "id": 1,
        "name": "item 1",
        "infohash": f"{1:040x}",
        "from": "secondary",
        "to": "primary",
        "complete": True,
        "resume": False,
    }


@pytest.mark.parametrize(
    ("path", "mapping", "expected"),
    [
        ("/dl/secondary/books", [("/dl/secondary", "/mnt/library")], "/mnt/library/books"),
        ("/dl/secondary", [("/dl/secondary/", "/mnt/library")], "/mnt/library"),
        ("/dl/secondary2/x", [("/dl/secondary", "/mnt/library")], None),  # whole components only
        ("C:\\qb_sec\\downloads\\a", [("C:\\qb_sec\\downloads", "/srv/a")], "/srv/a\\a"),
        ("/elsewhere", [("/dl", "/x"), ("/else", "/y")], None),
        ("/dl/a", [], None),
    ],
)
def test_map_savepath(path: str, mapping: list[tuple[str, str]], expected: str | None) -> None:
    assert map_savepath(path, mapping) == expected


@pytest.mark.parametrize(
    ("since", "last_run", "ok", "now", "more", "expected"),
    [
        (None, None, False, 100.0, False, (None, False)),  # primary down: nothing, clock reset
        (50.0, None, False, 100.0, False, (None, False)),  # a flap resets the settle time
        (None, None, True, 100.0, False, (100.0, False)),  # just came back: start settling
        (50.0, None, True, 100.0, False, (50.0, False)),  # settling (60 s needed)
        (40.0, None, True, 100.0, False, (40.0, True)),  # settled: first run
        (0.0, 90.0, True, 100.0, True, (0.0, True)),  # the last batch was full: keep going
        (0.0, 90.0, True, 100.0, False, (0.0, False)),  # nothing more: wait a settle period
        (0.0, 30.0, True, 100.0, False, (0.0, True)),  # a settle period later: look again
    ],
)
def test_failback_due(
    since: float | None,
    last_run: float | None,
    ok: bool,
    now: float,
    more: bool,
    expected: tuple[float | None, bool],
) -> None:
    from qbfailover.core.failback import failback_due

    assert failback_due(since, last_run, primary_ok=ok, now=now, settle=60.0, more=more) == expected
