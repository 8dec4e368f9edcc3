"""The saved ``--help`` pages are exactly Typer's, and are printed only when Typer would print the same.

``cli.helptext`` answers ``qbfailover [CMD] --help`` without importing Typer (cold start: ~2x a bare
``python -c pass`` instead of ~11x). These tests render each page through Typer in a child process
(as the console script would: its name in argv[0], a plain pipe, ``COLUMNS=80``) and compare.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from qbfailover.cli import helpdata, helpgen, helptext

# main() as the console script runs it (argv[0] = .../qbfailover, no python -m); the exit code and
# whether Typer was imported go to stderr after the page.
AS_SCRIPT = """
import sys
sys.argv[0] = "/usr/local/bin/qbfailover"
from qbfailover.cli import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
sys.stdout.flush()
print(code, "typer" in sys.modules, file=sys.stderr)
"""
# The same command line through Typer alone (the app's own rendering, no saved page).
THROUGH_TYPER = AS_SCRIPT.replace(
    "from qbfailover.cli import main", "from qbfailover.cli.program import run as main"
)


def run(script: str, args: list[str], **env: str) -> tuple[str, int, bool]:
    """(stdout, exit code, typer imported) of ``script`` with ``args``; COLUMNS=80 unless given."""
    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "_QBFAILOVER_COMPLETE")}
    environ.update({"COLUMNS": "80", **env})
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, env=environ, timeout=60
    )
    code, typer = done.stderr.split()[-2:]
    return done.stdout, int(code), typer == "True"


def test_the_saved_pages_are_current() -> None:
    """helpdata.py is what helpgen writes now: re-run ``python -m qbfailover.cli.helpgen`` if not."""
    pages, files = helpgen.render()
    assert tuple(files) == helpdata.FILES
    assert helptext.checksum(files) == helpdata.CHECKSUM, "stale: python -m qbfailover.cli.helpgen"
    assert pages == helpdata.PAGES, "stale: python -m qbfailover.cli.helpgen"
    assert {"", "add", "status", "queue", "ledger"} <= set(pages)


@pytest.mark.parametrize("path", ["", "add", "status", "queue", "watch", "setup-secondary"])
def test_the_saved_page_is_typers_own(path: str) -> None:
    """``qbfailover [CMD] --help``: the same bytes and exit code as Typer, without importing Typer."""
    args = [*path.split(), "--help"]
    fast, fast_code, fast_typer = run(AS_SCRIPT, args)
    typer_page, typer_code, typer_used = run(THROUGH_TYPER, args)
    assert typer_used and not fast_typer, "the saved page was not used"
    assert (fast, fast_code) == (typer_page, typer_code) == (helpdata.PAGES[path], 0)


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--help"], {"COLUMNS": "60"}),  # a narrow terminal: Typer wraps at 58
        (["add", "--help"], {"COLUMNS": "72"}),
        (["--help"], {"_QBFAILOVER_COMPLETE": "bash_source"}),  # a completion request
        (["queue", "drain", "--help"], {}),  # sub-commands are not saved
        (["add", "x", "--help"], {}),
        (["--hel"], {}),
        ([], {}),  # no arguments: the program's help and exit 2, as always
    ],
)
def test_anything_else_goes_through_typer_unchanged(args: list[str], env: dict[str, str]) -> None:
    """Whenever a saved page might differ, Typer answers, and the script prints exactly what Typer does."""
    fast, fast_code, fast_typer = run(AS_SCRIPT, args, **env)
    slow, slow_code, _ = run(THROUGH_TYPER, args, **env)
    assert fast_typer
    assert (fast, fast_code) == (slow, slow_code)


def test_python_dash_m_names_itself_as_before() -> None:
    """``python -m qbfailover --help`` says ``Usage: python -m qbfailover``: Typer, not the saved page."""
    done = subprocess.run(
        [sys.executable, "-m", "qbfailover", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
        timeout=60,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("Usage: python -m qbfailover [OPTIONS]")


def test_a_changed_source_turns_the_saved_pages_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the checksum of the cli sources no longer matches, nothing saved is printed."""
    monkeypatch.setattr(sys, "argv", ["/usr/bin/qbfailover", "--help"])
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("_QBFAILOVER_COMPLETE", raising=False)
    monkeypatch.setattr(sys.modules["__main__"], "__package__", None, raising=False)
    assert helptext.saved_help(["--help"]) == helpdata.PAGES[""]
    monkeypatch.setattr(helpdata, "CHECKSUM", "00000000")
    assert helptext.saved_help(["--help"]) is None
