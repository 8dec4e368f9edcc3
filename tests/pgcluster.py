"""A throwaway PostgreSQL cluster for the tests and the bench: Debian's binaries, loopback, a temp dir.

Why the tests start their own: ``./scripts/test`` runs inside a private network namespace, where
a cluster started on the host (such as the one ``apt-get install postgresql`` starts) is not
reachable. PostgreSQL refuses to run as root, so as root the cluster runs as the ``postgres``
user (or ``nobody``) from a directory that user owns. For the tests fsync is off: they need speed,
not power-loss safety (the durability promise is PostgreSQL's own); the bench runs it durable.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PgCluster", "SharedVerdict", "find_pg_bin", "running_cluster", "shared_config", "shared_verdict"]

SUPERUSER = "qbf"


def find_pg_bin() -> Path | None:
    """Debian's PostgreSQL binaries (``/usr/lib/postgresql/N/bin``), the newest; never ``/usr/local``."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> str | None:
    """The unprivileged user that runs the cluster when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root, but there is neither a postgres nor a nobody user")


class PgCluster:
    """One cluster: ``initdb`` into a temp dir, started on 127.0.0.1 at a free port."""

    def __init__(self, bin_dir: Path, *, durable: bool = False) -> None:
        self.bin_dir = bin_dir
        self.durable = durable
        self.user = _run_as()
        self.root = Path(tempfile.mkdtemp(prefix="qbf-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = _free_port()
        self._names = itertools.count(1)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.root.chmod(0o700)
        self._pg("initdb", "-D", str(self.data), "-A", "trust", "-U", SUPERUSER, "--no-sync", "-E", "UTF8")

    def _pg(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / tool), *args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120, cwd="/")

    def start(self) -> None:
        """Start (or restart after :meth:`stop`) the server; returns once it accepts connections."""
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={self.port}",
                f"-c unix_socket_directories={self.root}",
                *(() if self.durable else ("-c fsync=off", "-c synchronous_commit=off")),
                *(() if self.durable else ("-c full_page_writes=off",)),
                "-c max_connections=200",
            ]
        )
        self._pg(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: disconnect everyone, as a restart by an admin does)."""
        self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def url(self, dbname: str) -> str:
        """A libpq URL for ``dbname`` as the cluster's superuser (trust auth: no password)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL. Each test gets its own, so nothing leaks between them."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self.sql("postgres", f"CREATE DATABASE {name}")
        return self.url(name)

    def sql(self, dbname: str, statement: str) -> None:
        """Run one statement as the superuser (roles, grants, databases for the tests)."""
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            conn.execute(statement.encode())

    def destroy(self) -> None:
        """Stop the server if it runs and delete its directory."""
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running_cluster(*, durable: bool = False) -> Iterator[PgCluster]:
    """A started cluster for the duration of the block; RuntimeError if PostgreSQL is not installed.

    ``durable``: PostgreSQL's defaults (fsync, synchronous commit), for the bench to compare
    with SQLite's ``synchronous=FULL`` fairly; the tests run with fsync off.
    """
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql; scripts/bootstrap does)")
    cluster = PgCluster(bin_dir, durable=durable)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


# --- the shared-ledger scenarios: a config per process, and the verdict read from PostgreSQL -------


def shared_config(
    path: Path,
    primary: Any,
    secondary: Any,
    url: str,
    *,
    lease: float | None = None,
    read_timeout: float = 10.0,
    batch_size: int = 100,
) -> Path:
    """A TOML config for the spec's topology whose ledger is the PostgreSQL database at ``url``.

    Passwords come from QBF_TEST_PASSWORD (as in ``chaoslib.env``); ``lease`` shortens the claim
    lease (``db_lease``) so that a takeover after a crash happens within a test's time.
    """
    lease_line = f"db_lease = {lease}\n" if lease is not None else ""
    blocks = [
        f'[settings]\ndb = "{url}"\n{lease_line}cooldown = 1\ndeadline = 2.0\nbatch_size = {batch_size}\n',
        '[vpn]\nkind = "icmp"\ntarget = "127.0.0.3"\n',
    ]
    for inst, priority in ((primary, 1), (secondary, 2)):
        blocks.append(
            f'[[instances]]\nname = "{inst.name}"\nurl = "{inst.url}"\nusername = "{inst.username}"\n'
            f'password_env = "QBF_TEST_PASSWORD"\npriority = {priority}\n'
            f"requires_vpn = {'true' if priority == 1 else 'false'}\nread_timeout = {read_timeout}\n"
        )
    path.write_text("\n".join(blocks))
    return path


@dataclass
class SharedVerdict:
    """Where every handed-in item ended, judged against the shared ledger: exactly once, nothing lost."""

    items: int
    rows: int
    pending: int
    on_none: list[str]
    on_two: list[str]
    false_delivered: list[str]

    @property
    def ok(self) -> bool:
        """Every item on exactly one instance, one ledger row each, none pending, no false mark."""
        return (
            not (self.on_none or self.on_two or self.false_delivered)
            and self.pending == 0
            and self.rows == self.items
        )

    def line(self) -> str:
        """The figures in one line (also the assertion message)."""
        return (
            f"items {self.items}, ledger rows {self.rows}, pending {self.pending}; on no instance "
            f"{len(self.on_none)} {self.on_none[:3]}, on two {len(self.on_two)} {self.on_two[:3]}, "
            f"marked delivered but absent {len(self.false_delivered)}"
        )


def shared_verdict(keys: Sequence[str], url: str, on: dict[str, set[str]]) -> SharedVerdict:
    """Compare the ledger at ``url`` with what each instance holds (``on``: name -> hashes)."""
    from qbfailover.config import DatabaseUrl
    from qbfailover.ledger.postgres import PostgresLedger

    with PostgresLedger(DatabaseUrl(url)) as ledger:
        rows = ledger.list(states=("pending", "delivered", "rejected"))
    by_key = {e.key: e for e in rows}
    none: list[str] = []
    two: list[str] = []
    false: list[str] = []
    for key in keys:
        where = {name for name, hashes in on.items() if key in hashes}
        if not where:
            none.append(key)
        elif len(where) > 1:
            two.append(key)
        entry = by_key.get(key)
        if entry is not None and entry.state == "delivered" and entry.instance not in where:
            false.append(key)
    pending = sum(1 for e in rows if e.state == "pending")
    return SharedVerdict(len(keys), len(rows), pending, none, two, false)
