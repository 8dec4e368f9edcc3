"""``qbfailover doctor`` against real qbittorrent-nox: each diagnosis, its fix, and the exit code."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PRIMARY_HOST, SECONDARY_HOST, WEBUI_PORT, Topology
from harness import blackholed, magnet
from qbfailover.engine.inputs import parse_item
from qbfailover.ledger.sqlite import Ledger, NewEntry
from qbfailover.ops.doctor import RESULT_CODES, disk_check, free_bytes
from qbfailover.ops.provision.conf import conf_path

pytestmark = pytest.mark.integration

QBF = [sys.executable, "-m", "qbfailover"]
KEYS = {"check", "result", "detail", "fix"}


def doctor(env: dict[str, str], *args: str) -> tuple[int, list[dict[str, str]], str]:
    """Run ``doctor --json``; returns the exit code, the checks, and stderr."""
    proc = subprocess.run(
        [*QBF, "doctor", "--json", *args], env=env, capture_output=True, text=True, timeout=120
    )
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def by_name(checks: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {c["check"]: c for c in checks}


def worst_code(checks: list[dict[str, str]]) -> int:
    return max(RESULT_CODES[c["result"]] for c in checks)  # type: ignore[index]


def test_healthy_topology(topology: Topology) -> None:
    """Both instances up: every check passes (disk as free space says), JSON keys are stable."""
    code, checks, stderr = doctor(topology.env())
    assert all(set(c) == KEYS for c in checks)
    named = by_name(checks)
    expected = ["settings", "ledger", "vpn"]
    for name in ("primary", "secondary"):
        expected += [f"{name}.{c}" for c in ("reachable", "login", "banned", "version", "process", "disk")]
    expected += ["queue", "notify"]
    assert [c["check"] for c in checks] == expected
    for check in checks:
        if not check["check"].endswith(".disk"):
            assert check["result"] == "PASS", check
    assert "qbittorrent-nox" in named["primary.process"]["detail"]
    assert named["primary.version"]["detail"].startswith("qBittorrent v")
    for inst in (topology.primary, topology.secondary):
        disk = named[f"{inst.name}.disk"]
        want = disk_check(inst.name, str(inst.downloads), free_bytes(str(inst.downloads)))
        assert disk["result"] == want.result and str(inst.downloads) in disk["detail"]
    assert code == worst_code(checks)
    assert topology.primary.password not in json.dumps(checks) + stderr


def test_outages_fail_with_fixes(topology: Topology, faults: None) -> None:
    """Primary path blackholed and secondary stopped: reachability and process checks FAIL, exit 2."""
    topology.secondary.stop()
    with blackholed(PRIMARY_HOST):
        code, checks, _ = doctor(topology.env())
    named = by_name(checks)
    assert code == 2
    primary = named["primary.reachable"]
    assert primary["result"] == "FAIL" and "timeout" in primary["detail"] and primary["fix"]
    assert "primary.login" not in named  # the chain stops at the first failure
    assert named["primary.process"]["result"] == "PASS"  # the process is fine: the path is not
    assert named["secondary.reachable"]["result"] == "FAIL"
    assert "connection refused" in named["secondary.reachable"]["detail"]
    assert named["secondary.process"]["result"] == "FAIL"
    assert named["secondary.process"]["detail"] == f"nothing listens on {SECONDARY_HOST}:{WEBUI_PORT}"
    assert all(c["fix"] for c in checks if c["result"] != "PASS")


def test_vpn_down(topology: Topology, faults: None) -> None:
    """VPN gateway unreachable: the vpn check FAILs with its fix; the WebUIs are still diagnosed."""
    from conftest import VPN_GATEWAY

    with blackholed(VPN_GATEWAY):
        code, checks, _ = doctor(topology.env())
    named = by_name(checks)
    assert code == 2 and named["vpn"]["result"] == "FAIL" and "reconnect the VPN" in named["vpn"]["fix"]
    assert named["primary.login"]["result"] == "PASS"


def test_port_held_by_another_program(topology: Topology) -> None:
    """The spec's port conflict: the secondary's port is held by a program that is not qBittorrent."""
    topology.secondary.stop()
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind((SECONDARY_HOST, WEBUI_PORT))
        squatter.listen(8)
        code, checks, _ = doctor(topology.env())
    process = by_name(checks)["secondary.process"]
    assert code == 2 and process["result"] == "FAIL"
    assert "not qBittorrent" in process["detail"] and "python" in process["detail"].lower()
    assert "another port" in process["fix"]


def test_wrong_password_is_diagnosed_without_spending_the_budget(topology: Topology) -> None:
    """A wrong password FAILs login with a fix; running doctor again sends no second wrong login."""
    env = {
        **topology.env(),
        "QBITTORRENT_PASSWORD": "not-the-password",
        "QBITTORRENT_SECONDARY_PASSWORD": topology.secondary.password,
    }
    for run in range(3):
        code, checks, _ = doctor(env)
        login = by_name(checks)["primary.login"]
        assert code == 2 and login["result"] == "FAIL" and "qbfailover unblock primary" in login["fix"]
        # After the first run the login budget refuses to send the wrong password again.
        assert by_name(checks)["primary.reachable"]["detail"].endswith("(not re-tried)") == (run > 0)
    logs = topology.primary.profile.rglob("*.log")
    assert sum(p.read_text(errors="replace").count("invalid credentials") for p in logs) == 1
    assert "not-the-password" not in json.dumps(checks)


def test_backlog_and_localhost_auth_warn(topology: Topology) -> None:
    """An item pending for two hours WARNs; LocalHostAuth=false on an instance WARNs with the setting."""
    topology.secondary.stop()
    conf = conf_path(topology.secondary.profile)
    conf.write_text(conf.read_text().replace("WebUI\\LocalHostAuth=true", "WebUI\\LocalHostAuth=false"))
    topology.secondary.start()
    old = parse_item(magnet(1, "backlog"))
    with Ledger(topology.db, clock=lambda: time.time() - 7200) as ledger:
        ledger.record(
            [NewEntry(key=old.key, kind=old.kind, payload=old.payload(), name=old.name, options={})],
            reason="test",
            claim=False,
        )
    code, checks, _ = doctor(topology.env())
    named = by_name(checks)
    assert (
        named["queue"]["result"] == "WARN" and "1 pending, oldest waiting 2.0 h" in named["queue"]["detail"]
    )
    bypass = named["secondary.localhost_auth"]
    assert bypass["result"] == "WARN" and "LocalHostAuth" in bypass["detail"]
    assert "primary.localhost_auth" not in named
    assert code == worst_code(checks) >= 1


def test_text_output_and_bad_settings(tmp_path: Path) -> None:
    """Without settings: one FAIL line naming the variable, exit 2, no traceback; text has a summary."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "QBFAILOVER_DB": str(tmp_path / "l.db")}
    proc = subprocess.run([*QBF, "doctor"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("FAIL  settings  QBITTORRENT_URL is not set")
    assert lines[1].strip().startswith("fix: ")
    assert lines[-1] == "doctor: 0 PASS, 0 WARN, 1 FAIL"
    assert "Traceback" not in proc.stdout + proc.stderr
