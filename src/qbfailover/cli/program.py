"""The ``qbfailover`` program: the Typer app, every command group registered in one place, in help order.

Command modules define plain functions (and the ``queue`` and ``ledger`` groups their own Typer);
this module is the only one that knows them all, so no command module imports another and there is
no circle. The order of ``COMMANDS`` is the order ``qbfailover --help`` lists them. (Named
``program``, not ``app``, so that ``qbfailover.cli.app`` is only ever the Typer app.)

``run`` builds the app with only the command being run (``qbfailover add …`` imports no other
command module and builds no other command's options: ~10-15 ms of a cold start); anything else,
``--help`` and unknown names included, gets the whole app, so what is printed never differs.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
import typer.main

# (name, module under qbfailover.cli, attribute): commands first, then the groups, in help order
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("add", "add", "add"),
    ("status", "status", "status"),
    ("unblock", "status", "unblock"),
    ("demo", "demo", "demo"),
    ("watch", "watch", "watch"),
    ("failback", "failback", "failback"),
    ("serve", "serve", "serve"),
    ("doctor", "watch", "doctor"),
    ("setup-secondary", "provision", "setup_secondary"),
    ("backup", "provision", "backup"),
    ("repair", "provision", "repair"),
)
GROUPS: tuple[tuple[str, str, str], ...] = (
    ("queue", "queue", "queue_app"),
    ("ledger", "ledger", "ledger_app"),
)
HELP = "Deliver magnets and .torrent files to qBittorrent with VPN-aware failover and a durable queue."


def _load(module: str, attribute: str) -> Any:
    return getattr(importlib.import_module(f"qbfailover.cli.{module}"), attribute)


def build_app(only: str | None = None) -> typer.Typer:
    """The Typer app with every command, or with just the command or group named ``only``."""
    app = typer.Typer(
        name="qbfailover",
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    for name, module, attribute in GROUPS:
        if only in (None, name):
            app.add_typer(_load(module, attribute), name=name)
    for name, module, attribute in COMMANDS:
        if only in (None, name):
            app.command(name)(_load(module, attribute))
    return app


def __getattr__(name: str) -> Any:
    """``program.app``, the whole app, is built on first use (``run`` may need only one command)."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()["app"] = full = build_app()
    return full


def run(argv: list[str] | None = None) -> None:
    """Run the command line ``argv`` (default ``sys.argv[1:]``, left to click as the full app would)."""
    words = sys.argv[1:] if argv is None else argv
    name = words[0] if words else None
    if name not in {n for n, _, _ in (*COMMANDS, *GROUPS)}:
        __getattr__("app")(argv)
        return
    # One registered command would make Typer build a bare command, not the group the full
    # app is: ``get_group`` keeps ``qbfailover add`` the same group, with one entry.
    typer.main.get_group(build_app(only=name))(argv)
