"""The ``qbfailover`` command: a thin layer over the library, one module per command group.

No logic of its own: it parses arguments, calls the library, prints one line per item (or the
stable ``--json`` documents), and turns every library error into one line on stderr and an exit
code (the codes are listed in ``cli.helpers``). ``cli.program`` builds the Typer app from ``add``,
``status`` (with ``unblock``), ``queue``, ``watch`` (with ``doctor``), ``serve``, ``provision`` and ``demo``;
``helpers`` holds what they share. ``app`` and ``main`` are re-exported here for the console script
(``qbfailover.cli:main``) and for tests (``from qbfailover.cli import app``).
"""

from qbfailover.cli.program import app, main

__all__ = ["app", "main"]
