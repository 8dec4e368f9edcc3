"""``qbfailover ledger migrate --to postgresql://...``: move a host's queue into the shared ledger.

Why a command: a host that joins a shared PostgreSQL ledger has its own SQLite queue, possibly
full after an outage. ``migrate`` copies it once, atomically, without losing or duplicating an
item (see :mod:`qbfailover.ledger.postgres_migrate`); running it again copies nothing. The source
is left as it was. Exit 0 when copied (or copied before), 5 when it could not run, 2 for usage.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from qbfailover.cli.helpers import EXIT_USAGE, ConfigOpt, JsonOpt, emit_json, errors_as_lines, fail, out

if TYPE_CHECKING:
    from qbfailover.config import DatabaseUrl
    from qbfailover.ledger.postgres_migrate import CopyResult

ledger_app = typer.Typer(
    help="Manage the ledger itself: move a host's SQLite queue into a shared PostgreSQL database.",
    no_args_is_help=True,
)


@ledger_app.command("migrate")
def migrate(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="The PostgreSQL ledger to copy into: postgresql://user@host:port/dbname (the password "
            "from PGPASSWORD, ~/.pgpass or --password-env rather than the command line).",
        ),
    ],
    source: Annotated[
        Path | None,
        typer.Option("--from", help="The SQLite ledger file to copy (default: the configured ledger)."),
    ] = None,
    password_env: Annotated[
        str | None,
        typer.Option("--password-env", help="Name of an environment variable holding the database password."),
    ] = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Copy every item of a SQLite ledger into PostgreSQL, once; stop the host's qbfailover first."""
    from qbfailover.config import DatabaseUrl, parse_ledger_location
    from qbfailover.errors import ConfigError

    with errors_as_lines():
        try:
            target = parse_ledger_location(to, "--to", os.environ, password_env=password_env)
        except ConfigError as exc:
            fail(str(exc), EXIT_USAGE)
        if not isinstance(target, DatabaseUrl):
            fail("--to must be a postgresql://user@host:port/dbname URL", EXIT_USAGE)
        origin = source if source is not None else _configured_ledger(config)
        result = _copy(origin, target)
    if json_out:
        emit_json(
            {
                "from": str(origin),
                "to": target.shown,
                "copied": result.copied,
                "already_pending": result.already_pending,
                "previously_copied_at": result.previously_copied_at,
            }
        )
        return
    if result.previously_copied_at is not None:
        out.print(f"{origin} was already copied into {target.shown}; nothing copied this time")
        return
    c = result.copied
    out.print(
        f"copied {sum(c.values())} item(s) from {origin} into {target.shown}: {c['pending']} pending, "
        f"{c['delivered']} delivered, {c['rejected']} rejected; {result.already_pending} pending "
        "item(s) were already queued there. Now set QBFAILOVER_DB to the URL on this host."
    )


def _configured_ledger(config: Path | None) -> Path:
    from qbfailover.cli.helpers import settings_from

    where = settings_from(config).db_path
    if not isinstance(where, Path):
        fail(
            "the configured ledger is already a database; pass --from FILE to copy a SQLite ledger",
            EXIT_USAGE,
        )
    return where


def _copy(origin: Path, target: DatabaseUrl) -> CopyResult:
    """Open both ledgers, copy, close both: StoreErrors come out as one line."""
    from qbfailover.ledger import Ledger
    from qbfailover.ledger.postgres import PostgresLedger

    if not origin.exists():
        fail(f"ledger {origin} does not exist; pass --from with the SQLite ledger to copy", EXIT_USAGE)
    with Ledger(origin) as sqlite_ledger, PostgresLedger(target) as shared:
        entries = sqlite_ledger.list(states=("pending", "delivered", "rejected"))
        return shared.copy_in(entries, sqlite_ledger.salt().hex())
