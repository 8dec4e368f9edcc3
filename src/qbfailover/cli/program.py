"""The ``qbfailover`` program: the Typer app, every command group registered in one place, in help order.

Command modules define plain functions (and the ``queue`` group its own Typer); this module is the
only one that knows them all, so no command module imports another and there is no circle. The
order of registration is the order ``qbfailover --help`` lists them. (Named ``program``, not
``app``, so that ``qbfailover.cli.app`` is only ever the Typer app re-exported by the package.)
"""

from __future__ import annotations

import sys

import typer

from qbfailover.cli.add import add
from qbfailover.cli.demo import demo
from qbfailover.cli.failback import failback
from qbfailover.cli.ledger import ledger_app
from qbfailover.cli.provision import backup, repair, setup_secondary
from qbfailover.cli.queue import queue_app
from qbfailover.cli.serve import serve
from qbfailover.cli.status import status, unblock
from qbfailover.cli.watch import doctor, watch

app = typer.Typer(
    name="qbfailover",
    help="Deliver magnets and .torrent files to qBittorrent with VPN-aware failover and a durable queue.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(queue_app, name="queue")
app.add_typer(ledger_app, name="ledger")
app.command()(add)
app.command()(status)
app.command()(unblock)
app.command()(demo)
app.command()(watch)
app.command()(failback)
app.command()(serve)
app.command()(doctor)
app.command("setup-secondary")(setup_secondary)
app.command("backup")(backup)
app.command("repair")(repair)


def main() -> None:
    """Console-script entry point (``qbfailover = qbfailover.cli:main``)."""
    # httpcore imports trio at import time whenever it is installed (selenium, for one, pulls it
    # in): 35-100 ms on every cold command that talks to an instance. This process only ever runs
    # asyncio, so trio is marked absent here; library users' processes are left alone.
    sys.modules.setdefault("trio", None)  # type: ignore[arg-type]
    app()
