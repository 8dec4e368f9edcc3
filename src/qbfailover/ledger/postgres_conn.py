"""The PostgreSQL ledger's connection: opening it, naming its failures in one line, reconnecting.

Why apart from the queries: what a person must do when the database is unreachable, refuses the
login, or denies a right is the same for every operation, and so is the rule that a dropped
connection (a restart of PostgreSQL, a failover, a blip) is reopened and the operation run again.
That is safe because every operation is idempotent or harmless when repeated after an
unknown commit: ``record`` dedupes by key, marks and renewals set values. Passwords never reach
a message: every text passes through :func:`~qbfailover.config.model.mask_url`, and the
password itself is cut out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final, TypeVar

from qbfailover.config.database import DatabaseUrl, mask_url
from qbfailover.errors import StoreError

try:
    import psycopg
    from psycopg import errors as pg_errors
except ImportError:  # pragma: no cover - exercised by a test that hides the module
    psycopg = None  # type: ignore[assignment]

__all__ = [
    "RECONNECT_SECONDS",
    "Connection",
    "connect",
    "is_connection_lost",
    "is_retryable_conflict",
    "require_driver",
    "run_with_reconnect",
    "store_error",
]

Connection = Any
"""A psycopg connection (``Any``: psycopg is an optional import)."""

RECONNECT_SECONDS: Final = 30.0
"""How long an operation keeps reopening a dropped connection before it is a StoreError."""
CONNECT_TIMEOUT: Final = 10
_T = TypeVar("_T")

_INSTALL_HINT: Final = "install the PostgreSQL driver: pip install 'qbfailover[postgres]'"


def require_driver() -> None:
    """A StoreError naming the extra to install when psycopg is missing."""
    if psycopg is None:
        raise StoreError(
            f"QBFAILOVER_DB names a PostgreSQL database, but psycopg is missing; {_INSTALL_HINT}"
        )


def connect(db: DatabaseUrl) -> Connection:
    """An autocommit connection (transactions are explicit), with TCP keepalives.

    Keepalives matter for a host that vanishes behind a partition: without them a query waits
    for the kernel's two-hour default before the connection is known dead.
    """
    require_driver()
    extra: dict[str, Any] = {}
    password = db.reveal_password()
    if password is not None:
        extra["password"] = password
    try:
        return psycopg.connect(
            db.reveal_url(),
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT,
            application_name="qbfailover",
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
            **extra,
        )
    except psycopg.Error as exc:
        raise store_error(exc, db, "connecting") from None


def is_connection_lost(exc: BaseException, conn: Connection | None) -> bool:
    """Whether ``exc`` means the connection is gone (reopen and retry), not a refused statement."""
    if psycopg is None or not isinstance(exc, psycopg.Error):
        return False
    if conn is not None and (conn.closed or conn.broken):
        return True
    state = getattr(exc, "sqlstate", None) or ""
    return isinstance(exc, psycopg.OperationalError) and (
        not state or state.startswith("08") or state in ("57P01", "57P02", "57P03")
    )


def is_retryable_conflict(exc: BaseException) -> bool:
    """A deadlock or serialisation failure between workers: PostgreSQL undid it, run it again."""
    if psycopg is None:
        return False
    return isinstance(exc, pg_errors.DeadlockDetected | pg_errors.SerializationFailure)


def run_with_reconnect(
    attempt: Callable[[], _T],
    reopen: Callable[[], None],
    lost: Callable[[BaseException], bool],
    *,
    deadline_seconds: float = RECONNECT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> _T:
    """``attempt()``; after a lost connection, ``reopen()`` and try again until the deadline.

    Conflicts between workers (deadlock, serialisation) are retried at once, a few times. The
    last failure is re-raised as it was, for the caller to turn into a StoreError.
    """
    deadline = time.monotonic() + deadline_seconds
    delay = 0.05
    conflicts = 0
    while True:
        try:
            return attempt()
        except Exception as exc:
            if is_retryable_conflict(exc) and conflicts < 10:
                conflicts += 1
                continue
            if not lost(exc) or time.monotonic() + delay > deadline:
                raise
        while True:
            sleep(delay)
            delay = min(delay * 2, 1.0)
            try:
                reopen()
                break
            except StoreError:
                if time.monotonic() + delay > deadline:
                    raise


def _first_line(exc: BaseException, db: DatabaseUrl) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = text.replace("connection failed: ", "")
    for secret in db.secrets():
        text = text.replace(secret, "***")
    return mask_url(text)


def _state_of_refused_login(detail: str) -> str:
    """libpq reports a refused login as text only (no SQLSTATE): recover the code from it."""
    if "password authentication failed" in detail or "no password supplied" in detail:
        return "28P01"
    if "no pg_hba.conf entry" in detail or ("role" in detail and "does not exist" in detail):
        return "28000"
    if "database" in detail and "does not exist" in detail:
        return "3D000"
    if "permission denied for database" in detail:
        return "42501"
    return ""


def store_error(exc: BaseException, db: DatabaseUrl, action: str) -> StoreError:
    """One line for a PostgreSQL failure, naming the database (password masked) and the fix."""
    where = f"ledger {db.shown}"
    detail = _first_line(exc, db)
    state = getattr(exc, "sqlstate", None) or _state_of_refused_login(detail)
    if state in ("28P01", "28000"):
        return StoreError(
            f"{where}: PostgreSQL refused the login ({detail}); check the password (in the URL, "
            "PGPASSWORD, ~/.pgpass or db_password_env) and pg_hba.conf"
        )
    if state == "3D000":
        return StoreError(
            f"{where}: database {db.dbname!r} does not exist; create it (createdb -O ROLE "
            f"{db.dbname}) or fix QBFAILOVER_DB"
        )
    if state == "42501":
        return StoreError(
            f"{where}: role {db.user or '(default)'} lacks a right while {action} ({detail}); "
            f"GRANT CREATE ON DATABASE {db.dbname} TO the role for the first use, or have the "
            "schema's owner grant it USAGE and SELECT/INSERT/UPDATE/DELETE on schema qbfailover"
        )
    if state.startswith("53"):
        return StoreError(f"{where}: PostgreSQL is out of resources while {action} ({detail}); ask its admin")
    if (
        psycopg is not None
        and isinstance(exc, psycopg.OperationalError)
        and (not state or state.startswith(("08", "57P")))
    ):
        return StoreError(
            f"cannot reach {where} while {action} ({detail}); start PostgreSQL or fix QBFAILOVER_DB "
            "(everything recorded before is kept there)"
        )
    shown_state = f"{state}: " if state else ""
    return StoreError(f"{where} failed while {action} ({shown_state}{detail})")
