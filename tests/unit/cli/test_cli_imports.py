"""What a cold command imports: never trio or httpx's CLI; for ``--help`` or ``import qbfailover``, little."""

from __future__ import annotations

import subprocess
import sys

import pytest

RUN_MAIN = """
import sys
from qbfailover.cli import main
try:
    main()
except SystemExit:
    pass
print("\\n".join(sorted(k for k, v in sys.modules.items() if v is not None)), file=sys.stderr)
"""


def test_a_command_that_talks_to_an_instance_does_not_import_trio(tmp_path: object) -> None:
    """``status`` loads httpx and httpcore; trio (in the dev venv, through selenium) stays out."""
    env = {"QBITTORRENT_URL": "http://127.0.0.1:1/", "QBFAILOVER_DB": f"{tmp_path}/l.db", "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-c", RUN_MAIN, "status", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    loaded = set(done.stderr.split())
    assert {"httpx", "httpcore"} <= loaded, done.stderr[-500:]
    assert not {m for m in loaded if m == "trio" or m.startswith("trio.")}
    # httpx's own command-line client (click, rich.progress, pygments) is never loaded either
    assert not {m for m in loaded if m.split(".")[0] in {"pygments", "click"} or m == "rich.progress"}


# What neither ``import qbfailover`` nor a cold ``--help`` may load: the network, the engine, the
# settings, the event loop, and (for the saved help pages) Typer and rich themselves.
NEVER_AT_IMPORT = {"httpx", "httpcore", "asyncio", "sqlite3", "qbfailover.engine", "qbfailover.config"}
NEVER_FOR_HELP = {*NEVER_AT_IMPORT, "typer", "click", "rich", "qbfailover.cli.program", "typing"}


def test_import_qbfailover_loads_no_engine_and_no_httpx() -> None:
    """``import qbfailover`` is cheap: every public name is imported on first use."""
    code = "import sys, qbfailover\nprint(' '.join(k for k, v in sys.modules.items() if v), file=sys.stderr)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    loaded = set(done.stderr.split())
    assert "qbfailover" in loaded
    hit = {m for m in loaded for n in NEVER_AT_IMPORT if m == n or m.startswith(n + ".")}
    assert not hit, sorted(hit)


@pytest.mark.parametrize("args", [["--help"], ["add", "--help"], ["queue", "--help"]])
def test_help_loads_neither_typer_nor_httpx(args: list[str]) -> None:
    """The console script's ``--help`` prints the saved page: no Typer, rich, httpx or engine."""
    script = RUN_MAIN.replace("import sys\n", "import sys\nsys.argv[0] = 'qbfailover'\n", 1)
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "80", "PATH": ""},
    )
    assert done.stdout.startswith("Usage: qbfailover")
    loaded = set(done.stderr.split())
    hit = {m for m in loaded for n in NEVER_FOR_HELP if m == n or m.startswith(n + ".")}
    assert not hit, sorted(hit)
