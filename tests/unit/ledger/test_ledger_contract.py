"""The Ledger contract: every promise of ``LedgerBackend``, checked against each backend.

One suite for all backends (SQLite, and PostgreSQL on a throwaway cluster). Several workers
share one store through ``store(name)``, each with its own owner id, and one hand-moved clock
drives due times and leases, so nothing here sleeps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from qbfailover.config import DatabaseUrl
from qbfailover.core.breaker import Guard
from qbfailover.ledger import Entry, Ledger, LedgerBackend, NewEntry
from qbfailover.ledger.queuefile import QueueFile, read_queue_file, write_queue_file

BACKENDS = ["sqlite", "postgresql"]
LEASE = 120.0

Store = Callable[[str], LedgerBackend]


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 2_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    """Opens workers (by owner name) on one shared store of the backend under test."""
    opened: list[LedgerBackend] = []
    url = str(request.getfixturevalue("pg_url")) if request.param == "postgresql" else ""

    def worker(name: str) -> LedgerBackend:
        backend: LedgerBackend
        if request.param == "sqlite":
            backend = Ledger(
                tmp_path / "ledger.db", clock=clock, rng=lambda: 0.5, lease_seconds=LEASE, owner=name
            )
        elif request.param == "postgresql":
            from qbfailover.ledger.postgres import PostgresLedger

            backend = PostgresLedger(
                DatabaseUrl(url), clock=clock, rng=lambda: 0.5, lease_seconds=LEASE, owner=name
            )
        else:  # pragma: no cover - a backend listed without a way to open it
            raise AssertionError(f"no opener for backend {request.param!r}")
        opened.append(backend)
        return backend

    yield worker
    for backend in opened:
        backend.close()


@pytest.fixture
def a(store: Store) -> LedgerBackend:
    return store("worker-a")


@pytest.fixture
def b(store: Store) -> LedgerBackend:
    return store("worker-b")


def item(n: int, *, kind: str = "magnet") -> NewEntry:
    key = f"{n:040x}"
    return NewEntry(
        key=key,
        kind=kind,
        payload=f"magnet:?xt=urn:btih:{key}&dn=Book+{n}".encode(),
        name=f"Book {n}",
        options={"category": "books", "tags": ["x"]},
    )


def got(ledger: LedgerBackend, entry_id: int) -> Entry:
    entry = ledger.get(entry_id)
    assert entry is not None
    return entry


def ids(entries: list[Entry]) -> list[int]:
    return [e.id for e in entries]


# --------------------------------------------------------------------------------- record


def test_record_is_durable_pending_due_now_and_claimed(
    store: Store, a: LedgerBackend, clock: FakeClock
) -> None:
    """record() writes pending rows due now, claimed for the caller, readable by a reopened store."""
    entries = a.record([item(1), item(2)], reason="received")
    assert [e.key for e in entries] == [item(1).key, item(2).key]
    first = entries[0]
    assert (first.state, first.reason, first.attempts, first.uncertain) == ("pending", "received", 0, ())
    assert (first.payload, first.options, first.kind, first.name) == (
        item(1).payload,
        item(1).options,
        "magnet",
        "Book 1",
    )
    assert (first.created_at, first.next_attempt_at) == (clock.now, clock.now)
    assert all(e.claimed for e in entries)
    a.close()
    again = store("worker-a")
    assert got(again, first.id) == first


def test_record_dedupes_a_pending_key(a: LedgerBackend) -> None:
    """A key that is pending comes back as the same row (duplicates in one call share it)."""
    [first] = a.record([item(1)], reason="first", claim=False)
    again = a.record([item(1), item(2), item(1)], reason="second")
    assert ids(again) == [first.id, again[1].id, first.id]
    assert again[0].reason == "first"
    assert a.counts()["pending"] == 2


def test_record_again_after_delivery_is_a_new_row(a: LedgerBackend) -> None:
    """Once delivered, the same key handed over again is recorded anew."""
    [first] = a.record([item(1)], reason="r")
    a.mark_delivered([first.id], instance="primary", reason="added")
    [second] = a.record([item(1)], reason="r")
    assert second.id != first.id
    assert a.counts() == {"pending": 1, "delivered": 1, "rejected": 0}


def test_record_does_not_claim_what_another_worker_holds(a: LedgerBackend, b: LedgerBackend) -> None:
    """Re-adding an item another worker is delivering returns it unclaimed."""
    [held] = a.record([item(1)], reason="r")
    [seen] = b.record([item(1)], reason="r")
    assert seen.id == held.id
    assert not seen.claimed
    assert got(b, held.id).claimed is False
    assert got(a, held.id).claimed is True


def test_record_rejects_bad_input_before_writing(a: LedgerBackend) -> None:
    """An unknown kind is a ValueError and records nothing; no items, no rows."""
    with pytest.raises(ValueError, match="unknown kind"):
        a.record([item(1), item(2, kind="ftp")], reason="r")
    assert a.counts()["pending"] == 0
    assert a.record([], reason="r") == []


# ---------------------------------------------------------------------------- claim_due


def test_claim_due_takes_free_due_rows_oldest_first_up_to_limit(a: LedgerBackend) -> None:
    """Unclaimed rows are claimed oldest first, at most ``limit``, each only once."""
    entries = a.record([item(3), item(1), item(2)], reason="r", claim=False)
    assert not any(e.claimed for e in entries)
    first = a.claim_due(limit=2)
    assert ids(first) == ids(entries[:2])
    assert all(e.claimed for e in first)
    assert ids(a.claim_due(limit=10)) == [entries[2].id]
    assert a.claim_due(limit=10) == []
    assert a.claim_due(limit=0) == []


def test_claim_due_honours_due_times_and_ids(a: LedgerBackend, clock: FakeClock) -> None:
    """A row backing off is not due; ``ids`` narrows the choice; unknown ids are ignored."""
    e1, e2, e3 = a.record([item(1), item(2), item(3)], reason="r")
    a.mark_failed([e1.id], reason="down", error="refused")
    a.release([e2.id, e3.id])
    assert ids(a.claim_due(limit=5, ids=[e3.id, 99_999])) == [e3.id]
    assert a.claim_due(limit=5, ids=[]) == []
    assert ids(a.claim_due(limit=5)) == [e2.id]
    clock.now += 5.0
    assert ids(a.claim_due(limit=5)) == [e1.id]


def test_two_workers_never_claim_the_same_row(a: LedgerBackend, b: LedgerBackend) -> None:
    """What one worker claimed, another cannot, until it is released or the lease ends."""
    entries = a.record([item(n) for n in range(4)], reason="r", claim=False)
    mine = a.claim_due(limit=2)
    theirs = b.claim_due(limit=10)
    assert ids(mine) == ids(entries[:2])
    assert ids(theirs) == ids(entries[2:])
    assert a.claim_due(limit=10) == [] and b.claim_due(limit=10) == []


# ------------------------------------------------------------------------------ leases


def test_an_expired_lease_makes_rows_claimable_again(
    a: LedgerBackend, b: LedgerBackend, clock: FakeClock
) -> None:
    """A holder that goes quiet loses its rows when the lease ends, not a moment before."""
    [e] = a.record([item(1)], reason="r")
    clock.now += LEASE - 1
    assert b.claim_due(limit=5) == []
    clock.now += 1
    assert got(a, e.id).claimed is False
    [taken] = b.claim_due(limit=5)
    assert taken.id == e.id and taken.claimed


def test_an_expired_holder_cannot_mark_rows_taken_over(
    a: LedgerBackend, b: LedgerBackend, clock: FakeClock
) -> None:
    """After another worker took the rows over, the old holder's failure marks change nothing."""
    e1, e2, e3 = a.record([item(1), item(2), item(3)], reason="r")
    clock.now += LEASE
    assert ids(b.claim_due(limit=5)) == [e1.id, e2.id, e3.id]
    before = [got(b, e.id) for e in (e2, e3)]
    a.mark_rejected(e2.id, reason="bad")
    a.mark_failed([e3.id], reason="down", error="timeout")
    a.release([e2.id, e3.id])
    assert [got(b, e.id) for e in (e2, e3)] == before
    assert a.counts() == {"pending": 3, "delivered": 0, "rejected": 0}
    b.mark_rejected(e2.id, reason="bad")
    b.mark_failed([e3.id], reason="down", error="timeout")
    assert [got(b, e.id).state for e in (e2, e3)] == ["rejected", "pending"]
    assert got(b, e3.id).attempts == 1


def test_a_delivery_counts_even_after_the_lease_was_taken_over(
    a: LedgerBackend, b: LedgerBackend, clock: FakeClock
) -> None:
    """A confirmed delivery by a lapsed holder is recorded, and the new holder cannot undo it.

    The item is on that instance whoever holds the row; recording it at once keeps the new
    holder's later failure mark from leaving it pending (and the next drain from sending it twice).
    """
    [e] = a.record([item(1)], reason="r")
    clock.now += LEASE
    assert ids(b.claim_due(limit=5)) == [e.id]
    a.mark_delivered([e.id], instance="primary", reason="added")
    b.mark_failed([e.id], reason="down", error="timeout")
    b.mark_delivered([e.id], instance="secondary", reason="added")
    row = got(b, e.id)
    assert (row.state, row.instance, row.attempts, row.claimed) == ("delivered", "primary", 0, False)


def test_an_expired_holder_still_marks_rows_nobody_took(a: LedgerBackend, clock: FakeClock) -> None:
    """A lapsed lease nobody took over still names its holder, so the holder's outcome counts."""
    [e] = a.record([item(1)], reason="r")
    clock.now += LEASE * 2
    a.mark_delivered([e.id], instance="primary", reason="added")
    assert got(a, e.id).state == "delivered"


def test_the_holders_writes_renew_its_lease(a: LedgerBackend, b: LedgerBackend, clock: FakeClock) -> None:
    """note_sent and every mark extend the rest of the holder's batch: a working drain keeps it."""
    e1, e2, e3 = a.record([item(1), item(2), item(3)], reason="r")
    clock.now += LEASE - 1
    a.note_sent([e1.id], "primary")
    clock.now += LEASE - 1
    a.mark_delivered([e1.id], instance="primary", reason="added")
    clock.now += LEASE - 1
    assert b.claim_due(limit=5) == []
    assert got(a, e2.id).claimed and got(a, e3.id).claimed
    clock.now += 1
    assert ids(b.claim_due(limit=5)) == [e2.id, e3.id]


def test_a_claim_left_behind_lapses_while_its_holder_works_on(
    a: LedgerBackend, b: LedgerBackend, clock: FakeClock
) -> None:
    """Only the batch claimed last is renewed: a row an earlier batch left claimed frees up in one lease."""
    [left] = a.record([item(1)], reason="r")
    [later] = a.record([item(2)], reason="r")
    clock.now += LEASE - 1
    a.note_sent([later.id], "primary")
    clock.now += 1
    assert ids(b.claim_due(limit=5)) == [left.id]
    assert got(a, later.id).claimed


def test_release_gives_claims_back_without_counting_a_try(
    a: LedgerBackend, b: LedgerBackend, clock: FakeClock
) -> None:
    """release() frees the caller's claims at once (no attempt, no backoff); others' claims stay."""
    e1, e2 = a.record([item(1), item(2)], reason="r")
    b.release([e1.id, e2.id])
    assert b.claim_due(limit=5) == []
    a.release([e1.id])
    [taken] = b.claim_due(limit=5)
    assert taken.id == e1.id
    assert (taken.attempts, taken.next_attempt_at) == (0, clock.now)
    assert got(a, e2.id).claimed


# ---------------------------------------------------------------------------- sending


def test_note_sent_and_clear_sent_track_uncertain_instances(a: LedgerBackend, b: LedgerBackend) -> None:
    """Instances an add went to stay listed until confirmed absent or delivered there."""
    [e] = a.record([item(1)], reason="r")
    a.note_sent([e.id], "primary")
    a.note_sent([e.id], "primary")
    a.note_sent([e.id], "secondary")
    assert got(b, e.id).uncertain == ("primary", "secondary")
    a.clear_sent([e.id], "secondary")
    assert got(a, e.id).uncertain == ("primary",)
    a.note_sent([], "primary")
    a.clear_sent([], "primary")
    a.mark_delivered([e.id], instance="primary", reason="added")
    assert got(a, e.id).uncertain == ()


def test_a_killed_senders_rows_show_the_send_to_the_next_worker(
    a: LedgerBackend, b: LedgerBackend, clock: FakeClock
) -> None:
    """A send noted before the holder vanished is visible to whoever takes the row next."""
    [e] = a.record([item(1)], reason="r")
    a.note_sent([e.id], "primary")
    clock.now += LEASE
    [taken] = b.claim_due(limit=5)
    assert taken.uncertain == ("primary",)


# ------------------------------------------------------------------------------ marks


def test_mark_delivered_is_final_and_keeps_the_first_delivery(a: LedgerBackend, clock: FakeClock) -> None:
    """Delivered rows leave the queue; a second delivery report moves nothing."""
    [e, other] = a.record([item(1), item(2)], reason="r")
    a.note_sent([e.id], "secondary")
    a.mark_delivered([e.id], instance="primary", reason="added")
    first = got(a, e.id)
    assert (first.state, first.instance, first.reason, first.delivered_at) == (
        "delivered",
        "primary",
        "added",
        clock.now,
    )
    assert first.uncertain == ("secondary",) and not first.claimed
    clock.now += 10
    a.mark_delivered([e.id], instance="secondary", reason="already there")
    later = got(a, e.id)
    assert (later.instance, later.reason, later.delivered_at) == ("primary", "added", first.delivered_at)
    a.mark_rejected(e.id, reason="late")
    a.mark_failed([e.id], reason="down", error="x")
    assert got(a, e.id).state == "delivered"
    assert a.counts() == {"pending": 1, "delivered": 1, "rejected": 0}
    assert ids(a.list()) == [other.id]


def test_mark_rejected_is_final(a: LedgerBackend) -> None:
    """A rejected row is never claimed, retried or revived by a later failure."""
    [e] = a.record([item(1)], reason="r")
    a.mark_rejected(e.id, reason="invalid torrent")
    a.mark_failed([e.id], reason="down", error="refused")
    row = got(a, e.id)
    assert (row.state, row.reason, row.attempts, row.claimed) == ("rejected", "invalid torrent", 0, False)
    assert a.retry(None) == 0
    assert a.claim_due(limit=5) == []
    assert a.counts() == {"pending": 0, "delivered": 0, "rejected": 1}


def test_mark_failed_counts_backs_off_and_releases(a: LedgerBackend, clock: FakeClock) -> None:
    """Each failure counts, releases the row and doubles the wait from 5 s up to 15 min."""
    [e] = a.record([item(1)], reason="r")
    delays = []
    for _ in range(10):
        a.mark_failed([e.id], reason="all instances down", error="connection refused")
        row = got(a, e.id)
        assert (row.state, row.reason, row.last_error, row.claimed) == (
            "pending",
            "all instances down",
            "connection refused",
            False,
        )
        delays.append(row.next_attempt_at - clock.now)
        clock.now = row.next_attempt_at - 0.1
        assert a.claim_due(limit=1) == []
        clock.now += 0.1
        assert ids(a.claim_due(limit=1)) == [e.id]
    assert delays == [5, 10, 20, 40, 80, 160, 320, 640, 900, 900]
    assert got(a, e.id).attempts == 10


def test_mark_failed_without_backoff_is_due_at_once(a: LedgerBackend, clock: FakeClock) -> None:
    """No instance available: the try counts, but the row is due again immediately."""
    [e] = a.record([item(1)], reason="r")
    a.mark_failed([e.id], reason="no instance available", error="down", backoff=False)
    row = got(a, e.id)
    assert (row.attempts, row.next_attempt_at) == (1, clock.now)
    assert ids(a.claim_due(limit=1)) == [e.id]


# ------------------------------------------------------------- people's commands and stats


def test_retry_makes_pending_rows_due_now(a: LedgerBackend) -> None:
    """retry(id) and retry(None) clear the backoff of pending rows only, counting them."""
    e1, e2, e3 = a.record([item(1), item(2), item(3)], reason="r")
    a.mark_failed([e1.id, e2.id, e3.id], reason="down", error="x")
    a.mark_delivered([e3.id], instance="p", reason="added")
    assert a.claim_due(limit=5) == []
    assert a.retry(e1.id) == 1
    assert a.retry(e3.id) == 0
    assert ids(a.claim_due(limit=5)) == [e1.id]
    assert a.retry(None) == 2
    assert ids(a.claim_due(limit=5)) == [e2.id]


def test_drop_deletes_a_row_once(a: LedgerBackend) -> None:
    """drop() removes a row for good and says whether there was one."""
    [e] = a.record([item(1)], reason="r")
    assert a.drop(e.id)
    assert not a.drop(e.id)
    assert a.get(e.id) is None
    assert a.counts()["pending"] == 0


def test_list_counts_and_oldest_pending(a: LedgerBackend, clock: FakeClock) -> None:
    """list() filters by state oldest first; counts() has every state; oldest_pending() ages the queue."""
    assert a.counts() == {"pending": 0, "delivered": 0, "rejected": 0}
    assert a.oldest_pending() is None
    start = clock.now
    e1, e2 = a.record([item(1), item(2)], reason="r")
    clock.now += 60
    e3, e4 = a.record([item(3), item(4)], reason="r")
    a.mark_delivered([e1.id], instance="p", reason="added")
    a.mark_rejected(e4.id, reason="bad")
    assert a.counts() == {"pending": 2, "delivered": 1, "rejected": 1}
    assert a.oldest_pending() == start
    assert ids(a.list()) == [e2.id, e3.id]
    assert ids(a.list(limit=1)) == [e2.id]
    assert ids(a.list(states=("delivered", "rejected"))) == [e1.id, e4.id]
    assert a.list(states=()) == []
    with pytest.raises(ValueError, match="unknown state"):
        a.list(states=("done",))


def test_list_newest_is_last_updated_first_and_bounded(a: LedgerBackend, clock: FakeClock) -> None:
    """list(newest=True) orders by updated_at then id, both descending, before the limit: the
    status page reads only its newest outcomes; the default order stays by id."""
    e1, e2, e3, e4, e5, e6 = a.record([item(n) for n in range(1, 7)], reason="r")
    clock.now += 10
    a.mark_rejected(e4.id, reason="bad")
    clock.now += 10
    a.mark_delivered([e2.id], instance="p", reason="added")
    clock.now += 10
    a.mark_delivered([e5.id, e1.id], instance="p", reason="added")  # one updated_at: by id, descending
    clock.now += 10
    a.mark_failed([e6.id], reason="down", error="x")  # updated last, but pending: not listed
    done = ("delivered", "rejected")
    assert ids(a.list(states=done, newest=True)) == [e5.id, e1.id, e2.id, e4.id]
    assert ids(a.list(states=done, limit=3, newest=True)) == [e5.id, e1.id, e2.id]
    assert ids(a.list(states=done, limit=1, newest=True)) == [e5.id]
    assert [e.updated_at for e in a.list(states=done, limit=3, newest=True)] == [clock.now - 10] * 2 + [
        clock.now - 20
    ]
    assert ids(a.list(states=done)) == [e1.id, e2.id, e4.id, e5.id]
    assert ids(a.list(states=done, limit=3)) == [e1.id, e2.id, e4.id]
    assert ids(a.list(newest=True)) == [e6.id, e3.id]


def test_purge_removes_only_old_delivered_rows(a: LedgerBackend, clock: FakeClock) -> None:
    """purge_delivered() keeps pending, rejected and recently delivered rows."""
    old, recent, pending, rejected = a.record([item(n) for n in range(4)], reason="r")
    a.mark_delivered([old.id], instance="p", reason="added")
    a.mark_rejected(rejected.id, reason="bad")
    clock.now += 1000
    a.mark_delivered([recent.id], instance="p", reason="added")
    clock.now += 100
    assert a.purge_delivered(500) == 1
    assert a.get(old.id) is None
    assert a.purge_delivered(0) == 1
    assert a.counts() == {"pending": 1, "delivered": 0, "rejected": 1}
    assert got(a, pending.id).state == "pending"


# ----------------------------------------------------------------------- guards and salt


def test_guards_round_trip_between_workers(a: LedgerBackend, b: LedgerBackend) -> None:
    """A saved guard is what the next process loads; an unknown instance gets a fresh one."""
    guard = Guard(failures=3, open_until=123.5, last_error="refused", auth_failures=1)
    assert a.load_guard("primary") == Guard()
    a.save_guard("primary", Guard(failures=1))
    a.save_guard("primary", guard)
    assert b.load_guard("primary") == guard
    assert b.load_guard("secondary") == Guard()


def test_salt_is_created_once_and_shared(a: LedgerBackend, b: LedgerBackend) -> None:
    """The fingerprint salt is random, 16 bytes, and the same for every worker of one store."""
    salt = a.salt()
    assert len(salt) == 16
    assert a.salt() == salt
    assert b.salt() == salt


# ----------------------------------------------------------- the seed's queue file, in and out


def test_queue_file_import_and_export_through_the_protocol(a: LedgerBackend, tmp_path: Path) -> None:
    """Import records the file's links unclaimed; export writes pending links back in the spec's format."""
    links = [item(n).payload.decode() for n in range(3)]
    source = tmp_path / "in.json"
    write_queue_file(source, QueueFile("2025-11-28T15:30:00.123456", "VPN down", links))
    queue = read_queue_file(source)
    entries = a.record(
        [
            NewEntry(key=item(n).key, kind="magnet", payload=m.encode(), name="", options={})
            for n, m in enumerate(queue.magnets)
        ],
        reason=f"imported from in.json: {queue.reason}",
        claim=False,
    )
    assert not any(e.claimed for e in entries)
    a.mark_delivered([entries[0].id], instance="p", reason="added")
    out = tmp_path / "out.json"
    pending = a.list(states=("pending",))
    write_queue_file(out, QueueFile("now", "queued", [e.payload.decode() for e in pending]))
    assert read_queue_file(out).magnets == links[1:]


def test_amend_options_changes_a_free_pending_row_only(a: LedgerBackend, b: LedgerBackend) -> None:
    """amend_options() replaces a pending row's options; delivered, rejected and missing rows refuse."""
    [e, f, g] = a.record([item(1), item(2), item(3)], reason="r", claim=False)
    assert a.amend_options(e.id, {"category": "tv", "upLimit": "100"})
    assert got(a, e.id).options == {"category": "tv", "upLimit": "100"}
    assert got(a, e.id).state == "pending"
    a.mark_delivered([f.id], instance="primary", reason="added")
    assert not a.amend_options(f.id, {"category": "tv"})
    assert got(a, f.id).options == item(2).options
    a.mark_rejected(g.id, reason="bad")
    assert not a.amend_options(g.id, {"category": "tv"})
    assert not a.amend_options(999_999, {"category": "tv"})


def test_amend_options_leaves_a_row_another_worker_holds(a: LedgerBackend, b: LedgerBackend) -> None:
    """A row claimed by another live worker keeps its options; its own holder may amend it."""
    [e] = a.record([item(1)], reason="r")
    assert e.claimed
    assert not b.amend_options(e.id, {"category": "tv"})
    assert got(a, e.id).options == item(1).options
    assert a.amend_options(e.id, {"category": "tv"})
    assert got(b, e.id).options == {"category": "tv"}


def test_amend_options_refuses_what_json_cannot_hold(a: LedgerBackend) -> None:
    """Options that are not JSON-serialisable are a ValueError, and the row is unchanged."""
    [e] = a.record([item(1)], reason="r", claim=False)
    with pytest.raises(ValueError):
        a.amend_options(e.id, {"bad": object()})
    assert got(a, e.id).options == item(1).options


# ------------------------------------------------------------------ failback's move journal


def delivered(ledger: LedgerBackend, n: int, instance: str = "secondary") -> Entry:
    [e] = ledger.record([item(n)], reason="received")
    ledger.mark_delivered([e.id], instance=instance, reason="added")
    return got(ledger, e.id)


def test_journal_move_opens_once_and_resumes(a: LedgerBackend, b: LedgerBackend, clock: FakeClock) -> None:
    """``moving`` opens a move; opening it again (a rerun, another worker) returns the open one."""
    e = delivered(a, 1)
    first = a.journal_move(e.id, source="secondary", target="primary", state="moving")
    assert (first.entry_id, first.source, first.target, first.state) == (
        e.id,
        "secondary",
        "primary",
        "moving",
    )
    assert first.started_at == clock.now
    clock.now += 5
    again = b.journal_move(e.id, source="other", target="elsewhere", state="moving")
    assert again == first
    assert b.moves(open_only=True) == [first]


def test_journal_move_moved_makes_the_entry_delivered_on_the_target(
    a: LedgerBackend, clock: FakeClock
) -> None:
    """Closing a move as ``moved`` records from, to, when; the entry now names the target."""
    e = delivered(a, 1)
    opened = a.journal_move(e.id, source="secondary", target="primary", state="moving")
    clock.now += 3
    done = a.journal_move(e.id, source="secondary", target="primary", state="moved", reason="confirmed")
    assert (done.id, done.state, done.reason, done.started_at, done.updated_at) == (
        opened.id,
        "moved",
        "confirmed",
        opened.started_at,
        clock.now,
    )
    after = got(a, e.id)
    assert (after.state, after.instance) == ("delivered", "primary")
    assert a.moves(open_only=True) == []
    assert a.moves() == [done]


def test_journal_move_other_outcomes_leave_the_entry(a: LedgerBackend) -> None:
    """``failed``, ``gone`` and ``kept`` close the move (or record a closed one) and change no entry."""
    e, f, g = delivered(a, 1), delivered(a, 2), delivered(a, 3)
    a.journal_move(e.id, source="secondary", target="primary", state="moving")
    a.journal_move(e.id, source="secondary", target="primary", state="failed", reason="primary refused")
    a.journal_move(f.id, source="secondary", target="primary", state="gone", reason="removed by the user")
    a.journal_move(g.id, source="secondary", target="primary", state="kept", reason="complete")
    history = a.moves()
    assert [(m.entry_id, m.state) for m in history] == [(g.id, "kept"), (f.id, "gone"), (e.id, "failed")]
    assert {got(a, x.id).instance for x in (e, f, g)} == {"secondary"}
    assert a.moves(limit=1) == history[:1]
    with pytest.raises(ValueError):
        a.journal_move(e.id, source="secondary", target="primary", state="teleported")


def test_writes_soon_after_a_renewal_leave_the_batch_alone() -> None:
    """Within a quarter lease of the last renewal only sent rows outside the batch are renewed
    (each full renewal rewrites every row of the batch); after it, the whole batch is."""
    from qbfailover.ledger.base import renewal

    assert renewal([1, 2, 3], [2, 9], renewed_at=100.0, now=120.0, lease=120.0) == ([9], False)
    assert renewal([1, 2, 3], [], renewed_at=100.0, now=129.9, lease=120.0) == ([], False)
    assert renewal([1, 2, 3], [9], renewed_at=100.0, now=130.0, lease=120.0) == ([1, 2, 3, 9], True)
