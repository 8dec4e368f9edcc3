"""``--help`` without Typer: the page Typer printed for these very sources, saved by ``helpgen``.

Importing Typer and building the command tree took ~40 ms before a single line was printed, so a
cold ``qbfailover --help`` cost 11x a bare ``python -c pass``. ``helpdata`` holds what Typer prints
at the usual width, with a checksum of every source file that page came from. A saved page is
used only when nothing could make Typer print something else: the same sources (checksum) and
platform, the console script's own name in ``Usage:``, a terminal of 80 columns or more (or none), no shell
completion request. Otherwise Typer renders the page, as before. tests/unit/cli/test_help_saved.py
compares the two for every saved page; ``python -m qbfailover.cli.helpgen`` writes them anew.
"""

from __future__ import annotations

import os
import sys
import zlib

TYPE_CHECKING = False  # typing and collections.abc are not loaded yet on this path: ~2 ms
if TYPE_CHECKING:
    from collections.abc import Iterable

PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAM = "qbfailover"
# click wraps help at min(columns, 80) - 2: any terminal this wide gets the saved 78-column page
COLUMNS = 80


def checksum(files: Iterable[str]) -> str | None:
    """CRC-32 over the files (paths relative to the package) and their lengths; None if one is missing.

    A change detector, not a security check: hashlib alone would cost a cold start 2-3 ms.
    """
    crc = 0
    for rel in files:
        try:
            with open(os.path.join(PACKAGE, rel), "rb") as f:
                data = f.read()
        except OSError:
            return None
        crc = zlib.crc32(data, zlib.crc32(f"{rel}\0{len(data)}\0".encode(), crc))
    return f"{crc:08x}"


def _columns() -> int:
    """The terminal width click's help formatter sees (COLUMNS, else the terminal, else 80)."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or COLUMNS  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return COLUMNS


def _program() -> str:
    """What click names the program in ``Usage:``: the script's file name, unless run by ``python -m``."""
    if getattr(sys.modules.get("__main__"), "__package__", None) in (None, ""):
        return os.path.basename(sys.argv[0])
    return ""


def saved_help(argv: list[str]) -> str | None:
    """The saved page for ``qbfailover [CMD] --help`` if it is exactly what Typer would print, else None."""
    if not 1 <= len(argv) <= 2 or argv[-1] != "--help":
        return None
    from qbfailover.cli import helpdata

    page = helpdata.PAGES.get(" ".join(argv[:-1]))
    if page is None or _program() != PROGRAM or "_QBFAILOVER_COMPLETE" in os.environ:
        return None
    if sys.platform != helpdata.PLATFORM:  # some defaults follow the platform (setup-secondary, backup)
        return None
    if _columns() < COLUMNS or checksum(helpdata.FILES) != helpdata.CHECKSUM:
        return None
    return page
