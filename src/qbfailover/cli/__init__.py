"""The ``qbfailover`` command: a thin layer over the library, one module per command group.

No logic of its own: it parses arguments, calls the library, prints one line per item (or the
stable ``--json`` documents), and turns every library error into one line on stderr and an exit
code (the codes are listed in ``cli.helpers``). ``cli.program`` builds the Typer app from ``add``,
``status`` (with ``unblock``), ``queue``, ``watch`` (with ``doctor``), ``serve``, ``provision`` and ``demo``;
``helpers`` holds what they share; ``entry`` is the console script's ``main``, which answers
``--help`` from ``helptext`` without importing Typer when it can. ``app`` (built on first use, so a
cold ``qbfailover add`` never builds the others) and ``main`` are re-exported here for the console
script (``qbfailover.cli:main``) and for tests (``from qbfailover.cli import app``).
"""

from __future__ import annotations

from qbfailover.cli.entry import main

TYPE_CHECKING = False  # not typing's: importing typing costs a cold --help ~5 ms
if TYPE_CHECKING:
    from typing import Any

    from qbfailover.cli.program import app

__all__ = ["app", "main"]


def __getattr__(name: str) -> Any:
    """``app`` imports Typer and every command module: only when someone asks for it (PEP 562)."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from qbfailover.cli import program

    return program.app
