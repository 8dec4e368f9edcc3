"""``qbfailover demo``: the spec's failover scenarios, live, against two local qbittorrent-nox.

The demo itself lives in ``ops.demo`` (imported inside the command: it is heavy and rarely run).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from qbfailover.cli.helpers import errors_as_lines, out


def demo(
    workdir: Annotated[
        Path | None, typer.Option(help="Keep profiles and the ledger here (default: a temp dir).")
    ] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Do not delete the temp dir afterwards.")] = False,
) -> None:
    """Live demo: two real local qbittorrent-nox instances through the spec's failover scenarios."""
    from qbfailover.ops.demo import reexec_in_netns, run_demo

    argv = sys.argv[sys.argv.index("demo") + 1 :] if "demo" in sys.argv else []
    reexec_in_netns(argv)
    with errors_as_lines():
        run_demo(out.console, workdir, keep)
