"""The demo's stage: two qbittorrent-nox processes, a switchable VPN path, a private network.

Linux only. Everything here is started and stopped by ``scenarios.Demo``; nothing outlives it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from qbfailover.config import VpnProbeConfig
from qbfailover.errors import QbFailoverError

PRIMARY_HOST = "127.0.0.2"
SECONDARY_HOST = "127.0.0.1"
VPN_GATEWAY = "127.0.0.3"
PORT = 52095
NFT_TABLE = "qbfdemo"
NETNS_FLAG = "QBF_DEMO_IN_NETNS"


class DemoError(QbFailoverError):
    """The demo cannot run here (missing qbittorrent-nox, busy port, …)."""


def reexec_in_netns(argv: list[str]) -> None:
    """As root, run the demo again inside ``unshare --net`` (only loopback exists there)."""
    if os.environ.get(NETNS_FLAG) == "1" or sys.platform != "linux" or os.geteuid() != 0:
        return
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return
    if subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode != 0:
        return
    env = {**os.environ, NETNS_FLAG: "1"}
    script = 'ip link set lo up && exec "$@"'
    os.execvpe(
        "unshare",
        ["unshare", "--net", "sh", "-c", script, "sh", sys.executable, "-m", "qbfailover", "demo", *argv],
        env,
    )


@dataclass
class Instance:
    """One demo qbittorrent-nox: where it listens, its profile, and its process while it runs."""

    name: str
    host: str
    port: int
    profile: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The WebUI URL the demo's settings point at (loopback only: the demo never leaves the host)."""
        return f"http://{self.host}:{self.port}/"

    def start(self, log: Path) -> None:
        """Start qbittorrent-nox and wait (up to 30 s) until its WebUI port accepts connections."""
        with log.open("ab") as sink:
            self.proc = subprocess.Popen(
                ["qbittorrent-nox", f"--profile={self.profile}", f"--webui-port={self.port}"],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise DemoError(
                    f"qbittorrent-nox ({self.name}) exited with {self.proc.returncode}; see {log}"
                )
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), 0.2):
                return
            time.sleep(0.02)
        raise DemoError(f"qbittorrent-nox ({self.name}) did not open {self.host}:{self.port} in 30 s")

    def stop(self) -> None:
        """SIGTERM and wait for a clean exit (qBittorrent writes its conf then); SIGKILL after 35 s."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        self.proc.terminate()
        try:
            self.proc.wait(35)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class VpnSwitch:
    """The simulated VPN path to the gateway: nft drop rules in the namespace, else a TCP listener."""

    def __init__(self) -> None:
        self.use_nft = (
            os.environ.get(NETNS_FLAG) == "1"
            and shutil.which("nft") is not None
            and shutil.which("ping") is not None
        )
        self._listener: socket.socket | None = None
        self.port = 0

    def probe(self) -> VpnProbeConfig:
        """The VPN probe settings that watch this switch (ICMP with nft, else TCP to the listener)."""
        if self.use_nft:
            return VpnProbeConfig(kind="icmp", target=VPN_GATEWAY, timeout=1.0)
        return VpnProbeConfig(kind="tcp", target=f"{VPN_GATEWAY}:{self.port}", timeout=1.0)

    def up(self) -> None:
        """Make the gateway answer: drop the nft table, or open the listener."""
        if self.use_nft:
            subprocess.run(["nft", "delete", "table", "inet", NFT_TABLE], capture_output=True)
            return
        if self._listener is None:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((VPN_GATEWAY, self.port))
            s.listen(16)
            self.port = s.getsockname()[1]
            self._listener = s

    def down(self) -> None:
        """Blackhole the gateway (nft drop rule), or close the listener so probes fail."""
        if self.use_nft:
            for args in (
                ["add", "table", "inet", NFT_TABLE],
                [
                    "add",
                    "chain",
                    "inet",
                    NFT_TABLE,
                    "out",
                    "{ type filter hook output priority 0; policy accept; }",
                ],
                ["add", "rule", "inet", NFT_TABLE, "out", "ip", "daddr", VPN_GATEWAY, "drop"],
            ):
                subprocess.run(["nft", *args], check=True, capture_output=True)
            return
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def close(self) -> None:
        """Remove whatever ``up``/``down`` left behind."""
        if self.use_nft:
            subprocess.run(["nft", "delete", "table", "inet", NFT_TABLE], capture_output=True)
        elif self._listener is not None:
            self._listener.close()
            self._listener = None


def port_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound now (the demo moves to the next port when not)."""
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True
