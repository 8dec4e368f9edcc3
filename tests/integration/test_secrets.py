"""Secrets stay secret: the password and the live session id appear nowhere a user or a log can read.

Every command runs with a known password against real qbittorrent-nox; its stdout, stderr, the
ledger (with its WAL), exported and generated files, reprs and the messages of auth errors are then
searched for the password (as typed and form-encoded) and for the session cookie the client holds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote_plus

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chaos"))

from chaoslib import QBF, wait_for

from conftest import Topology
from harness import free_port, magnet
from qbfailover.config import Secret, load_settings
from qbfailover.engine.client import AsyncResilientClient
from qbfailover.errors import QbFailoverError
from qbfailover.ledger.queuefile import QueueFile, now_iso, write_queue_file
from qbfailover.qbt.webui import WebUI

pytestmark = pytest.mark.integration


def needles(*secrets: str) -> list[bytes]:
    out: list[bytes] = []
    for s in secrets:
        out += [s.encode(), quote_plus(s).encode()]
    return out


def leaks(blob: bytes | str, secrets: list[bytes]) -> list[bytes]:
    data = blob.encode() if isinstance(blob, str) else blob
    return [s for s in secrets if s in data]


def files_under(*roots: Path) -> list[Path]:
    return [p for r in roots for p in ([r] if r.is_file() else r.rglob("*")) if p.is_file()]


def test_no_command_shows_the_password(topology: Topology, tmp_path: Path) -> None:
    """add, status, queue list/import/drain/export, doctor, watch, unblock, setup-secondary: zero bytes."""
    password = topology.primary.password
    secrets = needles(password)
    env = topology.env()
    queue = tmp_path / "in.json"
    write_queue_file(
        queue, QueueFile(saved_at=now_iso(), reason="t", magnets=[magnet(i, "sq") for i in range(5)])
    )
    export = tmp_path / "out.json"
    profile = tmp_path / "new-secondary" / "profile"
    commands = [
        ["add", magnet(1, "secret"), magnet(2, "secret")],
        ["add", magnet(3, "secret"), "--json"],
        ["status"],
        ["status", "--json"],
        ["queue", "import", str(queue)],
        ["queue", "list", "--all"],
        ["queue", "list", "--all", "--json"],
        ["queue", "drain", "--json"],
        ["queue", "export", str(export)],
        ["doctor"],
        ["doctor", "--json"],
        ["unblock"],
        [
            "setup-secondary",
            "--profile",
            str(profile),
            "--webui-port",
            str(free_port()),
            "--username",
            "someone",
            "--password-env",
            "QBITTORRENT_PASSWORD",
            "--qbittorrent-version",
            "4.5",
        ],
    ]
    outputs: dict[str, str] = {}
    codes: dict[str, int] = {}
    for args in commands:
        proc = subprocess.run([*QBF, *args], env=env, capture_output=True, text=True, timeout=120)
        assert "Traceback" not in proc.stderr, proc.stderr
        outputs[" ".join(args)] = proc.stdout + proc.stderr
        codes[args[0]] = max(codes.get(args[0], 0), proc.returncode)
    assert '"successful"' in outputs["queue drain --json"]
    ok = codes["add"] == codes["status"] == codes["queue"] == codes["setup-secondary"] == 0
    assert ok, (codes, outputs)

    log = tmp_path / "watch.log"
    with log.open("wb") as fh:
        watch = subprocess.Popen(
            [*QBF, "watch", "--interval", "0.2", "--metrics-port", "0", "--log-level", "debug"],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: b"state " in log.read_bytes(), 30, "watch's first cycle")
    finally:
        watch.send_signal(signal.SIGTERM)
        watch.wait(60)
    outputs["watch"] = log.read_text(errors="replace")

    for name, text in outputs.items():
        assert not leaks(text, secrets), f"`qbfailover {name}` printed the password"
    written = [*topology.db.parent.glob("ledger.sqlite3*"), export, *files_under(profile.parent)]
    assert topology.db in written and len(written) >= 4
    for path in written:
        assert not leaks(path.read_bytes(), secrets), f"{path} holds the password"


def test_session_id_and_password_stay_out_of_ledger_logs_reprs_and_errors(
    topology: Topology, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The client's live SID and the password: not in the ledger, debug logs, reprs or auth-error messages."""
    password = topology.primary.password
    settings = load_settings(env=topology.env(), dotenv=tmp_path / "none")
    caplog.set_level(logging.DEBUG)
    sids: list[str] = []
    errors: list[QbFailoverError] = []
    reprs: list[str] = []

    async def go() -> None:
        async with AsyncResilientClient(settings) as client:
            result = await client.add_torrents([magnet(i, "sid") for i in range(3)])
            assert result.successful
            await client.process_queue()
            for ui in client._webuis.values():
                sids.extend(ui.session_ids())
                reprs.append(repr(ui))
            reprs.extend([repr(client), repr(settings), *map(repr, settings.instances), repr(client.ledger)])
            reprs.append(repr(client.last_health))
        wrong = dataclasses.replace(settings.instances[0], password=Secret(password + "-not"))
        ui = WebUI(wrong)
        try:
            for call in (ui.login, ui.fetch_version):
                try:
                    await call()
                except QbFailoverError as exc:
                    errors.append(exc)
        finally:
            await ui.aclose()

    asyncio.run(go())
    assert sids, "the client holds no session cookie to look for"
    assert errors, "a wrong password raised nothing"
    secrets = needles(password, *sids)
    texts = [*reprs, *(str(e) for e in errors), *(repr(e) for e in errors), caplog.text]
    for text in texts:
        assert not leaks(text, secrets), text[:200]
    for path in topology.db.parent.glob("ledger.sqlite3*"):
        assert not leaks(path.read_bytes(), secrets), f"{path} holds a secret"


def test_secret_never_shows_itself() -> None:
    """Secret's repr/str/format hide the value; so do the reprs of what holds one."""
    s = Secret("hunter2-xyz")
    shown = [repr(s), str(s), f"{s}", f"{s!r}", repr([s]), repr({"p": s})]
    assert not any("hunter2" in t for t in shown)
