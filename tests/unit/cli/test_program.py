"""``program.run`` builds only the command it runs; what it prints and returns is the full app's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from qbfailover.cli import app
from qbfailover.cli.program import COMMANDS, GROUPS

NO_SETTINGS = ("QBITTORRENT_URL", "QBFAILOVER_CONFIG", "QBFAILOVER_METRICS_PORT", "COLUMNS")


@pytest.mark.parametrize(
    "args",
    [
        ["add"],
        ["add", "--bogus"],
        ["add", "--help"],
        ["add", "--from-file", "/nonexistent/items.txt"],
        ["status", "--watch", "--json"],
        ["status"],
        ["queue"],
        ["queue", "retry"],
        ["queue", "drain", "--help"],
        ["queue", "nope"],
        ["ledger", "migrate"],
        ["watch", "--log-format", "xml"],
        ["setup-secondary", "--profile", "p"],
        ["serve", "--help"],
    ],
)
def test_one_command_app_answers_as_the_full_app(args: list[str], tmp_path: Path) -> None:
    """Same stdout, stderr and exit code, usage errors and help included."""
    one = _cli("run", args, tmp_path)
    full = _cli("app", args, tmp_path)
    assert one == full


def _cli(how: str, args: list[str], cwd: Path) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``args`` through ``program.run`` or the full ``program.app``."""
    script = (
        "import sys\nsys.argv[0] = 'qbfailover'\nfrom qbfailover.cli import program\n"
        f"(program.run if {how == 'run'} else program.app)(sys.argv[1:])"
    )
    env = {k: v for k, v in os.environ.items() if k not in NO_SETTINGS}
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60, cwd=cwd, env=env
    )
    return done.returncode, done.stdout, done.stderr


def test_every_command_is_registered() -> None:
    """The table lists each command and group once, and the full app has exactly those."""
    names = [n for n, _, _ in (*COMMANDS, *GROUPS)]
    assert len(names) == len(set(names))
    assert set(typer.main.get_group(app).commands) == set(names)


def test_running_add_imports_no_other_command() -> None:
    """``qbfailover add`` (failing on its usage check) loads the add module, not serve, watch or queue."""
    script = (
        "import sys\nfrom qbfailover.cli.program import run\ntry:\n    run(['add'])\n"
        "except SystemExit:\n    pass\nprint(' '.join(sys.modules), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    loaded = set(done.stderr.split()[-1000:])
    assert "qbfailover.cli.add" in loaded
    others = {f"qbfailover.cli.{m}" for _, m, _ in (*COMMANDS, *GROUPS) if m != "add"}
    assert not loaded & others, sorted(loaded & others)
