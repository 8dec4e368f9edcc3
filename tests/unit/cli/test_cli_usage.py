"""The CLI's usage errors, its command list and its cold start: exit codes, one-line messages, imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qbfailover.cli import app

# No settings at all: a command that gets past its usage checks fails on QBITTORRENT_URL (exit 5).
NO_SETTINGS = {"QBITTORRENT_URL": None, "QBFAILOVER_CONFIG": None, "QBFAILOVER_METRICS_PORT": None}


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)  # no .env from the working directory
    return CliRunner()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["add"], 2, "nothing to add: give items as arguments or --from-file PATH"),
        (["queue", "retry"], 2, "give either an ID or --all"),
        (["queue", "retry", "7", "--all"], 2, "give either an ID or --all"),
        (["queue", "purge"], 2, "purge only removes delivered items: add --delivered"),
        (
            ["queue", "purge", "--delivered", "--older-than", "soon"],
            2,
            "--older-than 'soon': use a number with s, m, h, d or w (e.g. 30d)",
        ),
        (
            ["status", "--watch", "--json"],
            2,
            "--watch redraws a terminal display; use --json without --watch in scripts",
        ),
        (
            ["status", "--watch"],
            2,
            "status --watch needs a terminal; use 'status --json' in scripts, 'watch' as a service",
        ),
        (["watch", "--log-format", "xml"], 2, "--log-format must be one of text, json"),
        (["watch", "--log-level", "loud"], 2, "--log-level must be debug, info, warning or error"),
        (["setup-secondary", "--profile", "p"], 2, "setup-secondary needs --webui-port and --username"),
        (["status"], 5, "QBITTORRENT_URL is not set"),
        (["queue", "list", "--json"], 5, "QBITTORRENT_URL is not set"),
    ],
)
def test_usage_errors_are_one_line_with_their_exit_code(
    runner: CliRunner, args: list[str], code: int, message: str
) -> None:
    """Each refusal is one ``qbfailover: error:`` line on stderr, nothing on stdout, and its exit code."""
    result = runner.invoke(app, args, env=NO_SETTINGS)
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(f"qbfailover: error: {message}")
    assert result.stderr.count("\n") == 1


def test_add_names_an_unreadable_items_file(runner: CliRunner, tmp_path: Path) -> None:
    """``add --from-file`` of a missing file fails before any setting is read (exit 5, the path named)."""
    missing = tmp_path / "nope.txt"
    result = runner.invoke(app, ["add", "--from-file", str(missing)], env=NO_SETTINGS)
    assert result.exit_code == 5
    assert (
        result.stderr
        == f"qbfailover: error: cannot read {missing}: No such file or directory; check the path\n"
    )


def test_help_lists_the_commands_in_their_order(runner: CliRunner) -> None:
    """``qbfailover --help`` lists the commands in registration order, the ``queue`` group last."""
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.stdout.split("Commands:\n", 1)[1].splitlines() if line]
    assert listed == [
        *("add", "status", "unblock", "demo", "watch", "failback", "serve", "doctor"),
        *("setup-secondary", "backup", "repair", "queue", "ledger"),
    ]


# What a cold ``--help`` must not pay for: the network, the ledger, the engine, the service's extras.
HEAVY = (
    *("httpx", "sqlite3", "psutil", "prometheus_client", "apprise", "tomllib", "rich.progress"),
    *("qbfailover.engine.client", "qbfailover.ledger.sqlite", "qbfailover.ops.doctor"),
    *("starlette", "uvicorn", "multipart", "python_multipart", "qbfailover.gateway.routes"),
)
LIST_IMPORTS = """
import sys
from qbfailover.cli import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
print("\\n".join(sorted(sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args", [["--help"], ["add", "--help"], ["queue", "drain", "--help"], ["serve", "--help"]]
)
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    """``qbfailover … --help`` (the benchmarked cold start) imports no httpx, sqlite3, engine or ledger."""
    done = subprocess.run(
        [sys.executable, "-c", LIST_IMPORTS, *args], capture_output=True, text=True, timeout=60, check=True
    )
    assert "Usage: " in done.stdout
    loaded = set(done.stderr.split())
    assert not loaded & set(HEAVY), f"--help imported {sorted(loaded & set(HEAVY))}"
