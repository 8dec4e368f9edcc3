"""What only the PostgreSQL ledger does: URLs, schema, rights, errors, reconnects, wake-ups, owners.

The shared promises are in ``test_ledger_contract.py`` (run on both backends); these tests need
the session's throwaway cluster (``pg_cluster`` in ``tests/conftest.py``) and real processes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qbfailover.cli import app
from qbfailover.config import DatabaseUrl, load_settings, parse_ledger_location
from qbfailover.errors import ConfigError, StoreError
from qbfailover.ledger import Ledger, NewEntry, open_ledger, postgres_conn
from qbfailover.ledger.postgres import PostgresLedger
from qbfailover.ledger.postgres_schema import SCHEMA_VERSION


def item(n: int) -> NewEntry:
    key = f"{n:040x}"
    return NewEntry(
        key=key, kind="magnet", payload=f"magnet:?xt=urn:btih:{key}".encode(), name=f"n{n}", options={}
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------- the location


def test_a_postgres_url_stays_whole_and_masks_its_password(tmp_path: Path) -> None:
    """QBFAILOVER_DB=postgresql://... is kept as a URL (no folded //); its password never shows."""
    url = "postgresql://qbf:s3cr3t-pw@db.example:5433/queue"
    settings = load_settings(env={"QBITTORRENT_URL": "http://127.0.0.1:1/", "QBFAILOVER_DB": url})
    where = settings.db_path
    assert isinstance(where, DatabaseUrl)
    assert where.reveal_url() == url
    assert "s3cr3t-pw" not in f"{where} {where!r} {settings!r}"
    assert str(where) == "postgresql://qbf:***@db.example:5433/queue"
    assert (where.dbname, where.user) == ("queue", "qbf")


def test_paths_and_sqlite_urls_stay_sqlite(tmp_path: Path) -> None:
    """A path or sqlite:///path is a SQLite file; an unknown scheme is a ConfigError naming the forms."""
    assert parse_ledger_location(str(tmp_path / "l.db"), "K", {}) == tmp_path / "l.db"
    assert parse_ledger_location(f"sqlite://{tmp_path}/l.db", "K", {}) == tmp_path / "l.db"
    with pytest.raises(ConfigError, match="unknown ledger scheme 'mysql'"):
        parse_ledger_location("mysql://u@h/db", "K", {})
    assert isinstance(open_ledger(tmp_path / "x.db"), Ledger)


def test_password_env_and_lease_settings(tmp_path: Path) -> None:
    """db_password_env names the variable with the password; db_lease must be a positive number."""
    toml = tmp_path / "c.toml"
    toml.write_text(
        '[[instances]]\nname = "a"\nurl = "http://127.0.0.1:1/"\n'
        '[settings]\ndb = "postgresql://qbf@h/q"\ndb_password_env = "QBF_DB_PW"\ndb_lease = 5\n'
    )
    where = load_settings(toml, env={"QBF_DB_PW": "pw-from-env"}).db_path
    assert isinstance(where, DatabaseUrl)
    assert (where.reveal_password(), where.lease_seconds) == ("pw-from-env", 5.0)
    assert "pw-from-env" not in repr(where)
    with pytest.raises(ConfigError, match="QBF_DB_PW"):
        load_settings(toml, env={})
    with pytest.raises(ConfigError, match="positive number"):
        parse_ledger_location("postgresql://h/q", "K", {}, lease="-1")


# ------------------------------------------------------------------- failures, one line each


def test_connection_refused_is_one_line_naming_the_fix_without_the_password() -> None:
    """Nothing listening: a StoreError of one line that says what to do and masks the password."""
    db = DatabaseUrl(f"postgresql://qbf:hunter2-pw@127.0.0.1:{_closed_port()}/q")
    with pytest.raises(StoreError) as caught:
        PostgresLedger(db, reconnect_seconds=0)
    message = str(caught.value)
    assert "\n" not in message and "hunter2-pw" not in message
    assert "cannot reach ledger postgresql://qbf:***@127.0.0.1" in message
    assert "start PostgreSQL or fix QBFAILOVER_DB" in message


def test_a_missing_database_and_a_missing_driver_name_their_fix(pg_cluster: Any, monkeypatch: Any) -> None:
    """No such database: create it; no psycopg: install the extra."""
    with pytest.raises(StoreError, match=r"database 'nope' does not exist; create it"):
        PostgresLedger(DatabaseUrl(pg_cluster.url("nope")))
    monkeypatch.setattr(postgres_conn, "psycopg", None)
    with pytest.raises(StoreError, match=r"pip install 'qbfailover\[postgres\]'"):
        PostgresLedger(DatabaseUrl(pg_cluster.url("postgres")))


def test_a_role_without_rights_is_told_which_grant_to_ask_for(pg_cluster: Any, pg_url: str) -> None:
    """A role that may not create the schema gets a one-line StoreError naming the GRANT; once the
    schema exists and it has rights on the tables, the same role works without CREATE."""
    dbname = pg_url.rsplit("/", 1)[1]
    pg_cluster.sql(dbname, "CREATE ROLE clerk LOGIN")
    pg_cluster.sql(dbname, f"REVOKE CREATE ON DATABASE {dbname} FROM PUBLIC")
    clerk = DatabaseUrl(pg_url.replace("qbf@", "clerk@"))
    with pytest.raises(StoreError) as caught:
        PostgresLedger(clerk)
    assert f"GRANT CREATE ON DATABASE {dbname}" in str(caught.value) and "\n" not in str(caught.value)
    PostgresLedger(DatabaseUrl(pg_url)).close()  # the owner creates the schema
    pg_cluster.sql(dbname, "GRANT USAGE ON SCHEMA qbfailover TO clerk")
    pg_cluster.sql(dbname, "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA qbfailover TO clerk")
    with PostgresLedger(clerk) as ledger:
        [entry] = ledger.record([item(1)], reason="r")
        assert entry.claimed and ledger.counts()["pending"] == 1


def test_a_newer_schema_is_refused_in_one_line(pg_cluster: Any, pg_url: str) -> None:
    """A ledger written by a newer qbfailover is never touched: upgrade first."""
    PostgresLedger(DatabaseUrl(pg_url)).close()
    pg_cluster.sql(
        pg_url.rsplit("/", 1)[1], "UPDATE qbfailover.meta SET value = '99' WHERE key = 'schema_version'"
    )
    with pytest.raises(
        StoreError, match=rf"has schema 99, newer than this qbfailover understands \({SCHEMA_VERSION}\)"
    ):
        PostgresLedger(DatabaseUrl(pg_url))


# ------------------------------------------------------------------ connections come back


def test_a_dropped_connection_is_reopened_and_nothing_is_lost(pg_cluster: Any, pg_url: str) -> None:
    """The server ends our session (as a restart does): the next operation reconnects and works."""
    dbname = pg_url.rsplit("/", 1)[1]
    with PostgresLedger(DatabaseUrl(pg_url)) as ledger:
        ledger.record([item(1)], reason="r", claim=False)
        pg_cluster.sql(
            "postgres",
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{dbname}' "
            "AND pid != pg_backend_pid()",
        )
        ledger.record([item(2)], reason="r", claim=False)
        assert ledger.counts()["pending"] == 2


def test_a_record_wakes_a_waiting_watcher(pg_url: str) -> None:
    """wait_for_work() is True on first listening (look once), then once per record by another
    worker, and False when nothing came."""
    db = DatabaseUrl(pg_url)
    with PostgresLedger(db) as watcher, PostgresLedger(db) as producer:
        assert watcher.wait_for_work(0.05) is True  # starts listening: look once, work may be waiting
        assert watcher.wait_for_work(0.05) is False  # nothing recorded since
        producer.record([item(1)], reason="r", claim=False)
        assert watcher.wait_for_work(30.0) is True
        assert watcher.wait_for_work(0.05) is False  # the one record woke it once


# -------------------------------------------------------------------- owners across hosts

_CLAIMER = textwrap.dedent(
    """
    import sys
    from qbfailover.config import DatabaseUrl
    from qbfailover.ledger.postgres import PostgresLedger
    ledger = PostgresLedger(DatabaseUrl(sys.argv[1]))
    print(" ".join(str(e.id) for e in ledger.claim_due(limit=10)), flush=True)
    sys.stdin.read()
    """
)


def test_a_dead_local_workers_claims_free_at_once_a_foreign_hosts_wait_for_the_lease(
    pg_cluster: Any, pg_url: str
) -> None:
    """kill -9 of a claimer on this host frees its rows for the next claim; a claim whose owner
    names another host (which this host cannot check) stays until its lease ends."""
    db = DatabaseUrl(pg_url)
    with PostgresLedger(db) as ledger:
        entries = ledger.record([item(1), item(2)], reason="r", claim=False)
        proc = subprocess.Popen(
            [sys.executable, "-c", _CLAIMER, pg_url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        held = proc.stdout.readline().split()
        assert held == [str(e.id) for e in entries]
        assert ledger.claim_due(limit=10) == []
        proc.kill()
        proc.wait(timeout=30)
        pg_cluster.sql(
            pg_url.rsplit("/", 1)[1],
            f"UPDATE qbfailover.entries SET claim_owner = 'elsewhere/1:1.00' WHERE id = {entries[1].id}",
        )
        assert [e.id for e in ledger.claim_due(limit=10)] == [entries[0].id]


# ------------------------------------------------------------------------- ledger migrate


def test_ledger_migrate_copies_once_without_duplicates(pg_url: str, tmp_path: Path) -> None:
    """Every row is copied with its state; a key pending in both is kept once; a rerun copies nothing."""
    source = tmp_path / "ledger.sqlite3"
    with Ledger(source) as old:
        e1, e2, e3, _ = old.record([item(1), item(2), item(3), item(4)], reason="queued", claim=False)
        old.mark_delivered([e1.id], instance="primary", reason="added")
        old.mark_rejected(e2.id, reason="invalid")
        old.mark_failed([e3.id], reason="down", error="refused")
    with PostgresLedger(DatabaseUrl(pg_url)) as shared:
        shared.record([item(4)], reason="from another host", claim=False)
    runner = CliRunner()
    args = ["ledger", "migrate", "--from", str(source), "--to", pg_url, "--json"]
    first = runner.invoke(app, args, env={**os.environ})
    assert first.exit_code == 0, first.output
    doc = json.loads(first.stdout)
    assert doc["copied"] == {"pending": 1, "delivered": 1, "rejected": 1}
    assert doc["already_pending"] == 1
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and json.loads(again.stdout)["previously_copied_at"] is not None
    with PostgresLedger(DatabaseUrl(pg_url)) as shared:
        assert shared.counts() == {"pending": 2, "delivered": 1, "rejected": 1}
        [copied] = [e for e in shared.list() if e.key == item(3).key]
        assert (copied.attempts, copied.last_error, copied.claimed) == (1, "refused", False)


def test_ledger_migrate_refuses_a_non_postgres_target_and_a_dead_server(tmp_path: Path) -> None:
    """--to must be a PostgreSQL URL (exit 2); an unreachable one is one line, exit 5, no password."""
    runner = CliRunner()
    source = tmp_path / "l.db"
    Ledger(source).close()
    wrong = runner.invoke(app, ["ledger", "migrate", "--from", str(source), "--to", str(tmp_path / "x.db")])
    assert wrong.exit_code == 2 and "--to must be a postgresql://" in wrong.output
    url = f"postgresql://qbf:pw-9876@127.0.0.1:{_closed_port()}/q"
    down = runner.invoke(app, ["ledger", "migrate", "--from", str(source), "--to", url])
    assert down.exit_code == 5
    assert "cannot reach ledger" in down.output and "pw-9876" not in down.output


_OPENER = textwrap.dedent(
    """
    import sys
    from qbfailover.config import DatabaseUrl
    from qbfailover.ledger.postgres import PostgresLedger
    sys.stdin.readline()
    with PostgresLedger(DatabaseUrl(sys.argv[1])) as ledger:
        ledger.record([], reason="r")
    print("opened", flush=True)
    """
)


def test_many_processes_creating_the_schema_at_once_all_succeed(pg_url: str) -> None:
    """Eight processes opening one empty database together: one creates the schema, all open it."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPENER, pg_url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for _ in range(8)
    ]
    for proc in procs:  # the start line: every process is up before any opens the ledger
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = [proc.communicate(timeout=120) for proc in procs]
    assert [r[0].strip() for r in results] == ["opened"] * 8, [r[1][-500:] for r in results]


def test_concurrent_recorders_and_drainers_deliver_each_item_once(pg_url: str, tmp_path: Path) -> None:
    """4 writers and 2 drains as processes on one PostgreSQL ledger: no row claimed twice, every
    item delivered once (the multi-process test of the SQLite store, on the shared backend)."""
    worker = Path(__file__).with_name("ledger_worker.py")
    PostgresLedger(DatabaseUrl(pg_url)).close()
    per_writer, total = 500, 2000
    logs = {name: tmp_path / f"{name}.log" for name in ("d1", "d2", "a1", "a2")}
    procs = [
        subprocess.Popen([sys.executable, str(worker), *args], stderr=subprocess.PIPE, text=True)
        for args in (
            ["drain", pg_url, "d1", str(total), str(logs["d1"])],
            ["drain", pg_url, "d2", str(total), str(logs["d2"])],
            ["record", pg_url, "aa", str(per_writer), "20"],
            ["record", pg_url, "bb", str(per_writer), "7"],
            ["add", pg_url, "cc", str(per_writer), "25", "a1", str(logs["a1"])],
            ["add", pg_url, "dd", str(per_writer), "10", "a2", str(logs["a2"])],
        )
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=280)
        assert proc.returncode == 0, err
    claimed_by: dict[int, list[str]] = {}
    for name, log in logs.items():
        for line in (log.read_text(encoding="ascii") if log.exists() else "").split():
            claimed_by.setdefault(int(line), []).append(name)
    assert {i: who for i, who in claimed_by.items() if len(who) > 1} == {}
    assert len(claimed_by) == total
    with PostgresLedger(DatabaseUrl(pg_url)) as ledger:
        assert ledger.counts() == {"pending": 0, "delivered": total, "rejected": 0}
        rows = ledger.list(states=("delivered",))
    assert {e.id: e.instance for e in rows} == {i: who[0] for i, who in claimed_by.items()}


def test_conflicts_are_retried_and_a_lost_connection_is_reopened_within_the_deadline() -> None:
    """Deadlocks between workers run again at once; a lost connection is reopened and the work
    run again; past the deadline the last failure comes out as it was."""
    import psycopg
    from psycopg import errors as pg_errors

    calls: list[str] = []

    def flaky() -> str:
        calls.append("try")
        if len(calls) == 1:
            raise pg_errors.DeadlockDetected("deadlock detected")
        if len(calls) == 2:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return "done"

    def lost(exc: BaseException) -> bool:
        return postgres_conn.is_connection_lost(exc, None)

    def reopen() -> None:
        calls.append("reopen")

    assert postgres_conn.run_with_reconnect(flaky, reopen, lost, sleep=lambda s: None) == "done"
    assert calls == ["try", "try", "reopen", "try"]

    def down() -> str:
        raise psycopg.OperationalError("connection refused")

    with pytest.raises(psycopg.OperationalError):
        postgres_conn.run_with_reconnect(down, reopen, lost, deadline_seconds=0.0, sleep=lambda s: None)
