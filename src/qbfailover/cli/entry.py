"""The console script's ``main``: the cheapest way into the command, before Typer is imported.

Two things every cold ``qbfailover`` process would otherwise pay for nothing: ``--help`` is
answered from ``cli.helptext`` (Typer's own text, saved) when it can be, and two imports this
process never uses are marked absent before httpx/httpcore can make them.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Console-script entry point (``qbfailover = qbfailover.cli:main``)."""
    # httpcore imports trio at import time whenever it is installed (selenium, for one, pulls it
    # in): 35-100 ms on every cold command that talks to an instance. httpx imports its own
    # command-line client (click, rich.progress, pygments: ~20 ms) unless that import fails, and
    # falls back to a stub. This process only ever runs asyncio and never httpx's CLI, so both
    # are marked absent here; library users' processes are left alone.
    sys.modules.setdefault("trio", None)  # type: ignore[arg-type]
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    from qbfailover.cli.helptext import saved_help

    text = saved_help(sys.argv[1:])
    if text is not None:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:  # the reader went away (| head): quiet, like click, exit 1
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(1) from None
        raise SystemExit(0)
    from qbfailover.cli.program import run

    run()
