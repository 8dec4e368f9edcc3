"""Real qbittorrent-nox instances for tests, and the faults we inject into them.

Every instance binds its WebUI and BitTorrent session to one loopback address, with DHT, PeX, LSD
and UPnP off; the suite itself runs in a private network namespace when it can (scripts/test), so
nothing leaves the machine even by mistake.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qbfailover.config import InstanceConfig, Secret
from qbfailover.ops.provision.conf import ConfOptions, conf_path, render_qbittorrent_conf

STOP_GRACE = 35.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def in_private_netns() -> bool:
    """True when the only interface is loopback (scripts/test put us in ``unshare --net``)."""
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:
        return False
    return names == ["lo"]


@dataclass(frozen=True)
class Runtime:
    """How to run one qBittorrent version: a binary on the host, or inside a chroot."""

    label: str
    chroot: Path | None = None

    def command(self, profile: Path, port: int) -> list[str]:
        if self.chroot is None:
            return ["qbittorrent-nox", f"--profile={profile}", f"--webui-port={port}"]
        inner = "/" + str(profile.relative_to(self.chroot))
        return [
            "chroot",
            str(self.chroot),
            "qbittorrent-nox",
            f"--profile={inner}",
            f"--webui-port={port}",
            "--confirm-legal-notice",
        ]

    @property
    def version(self) -> tuple[int, int]:
        major, minor = self.label.split(".")[:2]
        return int(major), int(minor)


HOST_RUNTIME = Runtime("4.5")

# The versions the compatibility tests know: label → Debian suite of its chroot ("" = the host's
# package). scripts/qbt-chroots builds the chroots under QBF_QBT_CACHE with the same mapping.
QBT_SUITES = {"4.5": "", "5.1": "trixie", "5.3": "sid"}
QBT_CACHE = Path(os.environ.get("QBF_QBT_CACHE", "/var/cache/qbfailover"))


def installed_version(runtime: Runtime) -> str:
    """``qBittorrent v5.3.0`` → ``5.3.0``: what the runtime really runs."""
    cmd = ["qbittorrent-nox", "--version"]
    if runtime.chroot is not None:
        cmd = ["chroot", str(runtime.chroot), *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    return out.stdout.strip().rpartition(" v")[2] if out.returncode == 0 else ""


def runtime_for(label: str) -> Runtime:
    """The runtime of a version label, checked to run that version; RuntimeError says the fix."""
    suite = QBT_SUITES.get(label)
    if suite is None:
        raise RuntimeError(f"unknown qBittorrent version {label!r} (known: {', '.join(QBT_SUITES)})")
    runtime = Runtime(label, QBT_CACHE / f"qbt-{suite}") if suite else HOST_RUNTIME
    if runtime.chroot is not None and not (runtime.chroot / "usr/bin/qbittorrent-nox").exists():
        raise RuntimeError(f"no qBittorrent {label} chroot at {runtime.chroot}: run scripts/qbt-chroots")
    found = installed_version(runtime)
    if found.split(".")[:2] != label.split("."):
        where = runtime.chroot or "the host"
        raise RuntimeError(
            f"{where} runs qBittorrent {found or '(none)'}, not {label}: rebuild it from a pinned mirror "
            f"(QBF_QBT_MIRROR, see scripts/qbt-chroots)"
        )
    return runtime


@dataclass
class QbtInstance:
    """One qbittorrent-nox process with a throwaway profile."""

    name: str
    host: str
    port: int
    root: Path
    runtime: Runtime = HOST_RUNTIME
    username: str = "tester"
    password: str = field(default_factory=lambda: "pw-" + secrets.token_urlsafe(12))
    proc: subprocess.Popen[bytes] | None = None
    ban_count: int = 5

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def profile(self) -> Path:
        return self.root / f"{self.name}-profile"

    @property
    def downloads(self) -> Path:
        return self.root / f"{self.name}-downloads"

    def config(self, **overrides: object) -> InstanceConfig:
        values: dict[str, object] = {
            "name": self.name,
            "url": self.url,
            "username": self.username,
            "password": Secret(self.password),
        }
        values.update(overrides)
        return InstanceConfig(**values)  # type: ignore[arg-type]

    def write_profile(self) -> None:
        self.downloads.mkdir(parents=True, exist_ok=True)
        path = conf_path(self.profile)
        path.parent.mkdir(parents=True, exist_ok=True)
        downloads = self.downloads
        if self.runtime.chroot is not None:
            downloads = Path("/") / downloads.relative_to(self.runtime.chroot)
        path.write_text(
            render_qbittorrent_conf(
                ConfOptions(
                    webui_port=self.port,
                    username=self.username,
                    password=Secret(self.password),
                    downloads=downloads,
                    bt_port=free_port(self.host),
                    bind=self.host,
                    version=self.runtime.version,
                    server_domains=f"localhost;127.0.0.1;{self.host}",
                    interface="lo",
                    interface_address=self.host,
                    ban_count=self.ban_count,
                )
            )
        )

    def start(self, timeout: float = 30.0) -> None:
        if not conf_path(self.profile).exists():
            self.write_profile()
        # A listener still on host:port (an instance of an earlier test still exiting) would answer
        # wait_listening for us while our instance fails to bind: wait for the port to be free.
        wait_port_free(self.host, self.port, STOP_GRACE)
        log = (self.root / f"{self.name}.log").open("ab")
        self.proc = subprocess.Popen(
            self.runtime.command(self.profile, self.port),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_listening(self.host, self.port, timeout, self.proc)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after qBittorrent's worst observed shutdown time."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.thaw()
            self.proc.terminate()
            try:
                self.proc.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def freeze(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)


def wait_port_free(host: str, port: int, timeout: float) -> None:
    """Poll until nothing accepts TCP connections on host:port; a clear error if it stays taken."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                pass
        except OSError:
            return
        time.sleep(0.02)
    raise RuntimeError(f"{host}:{port} is still taken by another process after {timeout} s")


def wait_listening(host: str, port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll until something accepts TCP connections on host:port (or the process dies)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"qbittorrent-nox exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listening on {host}:{port} after {timeout} s")


# --- network faults (nftables, inside the private namespace) ---------------------------------

NFT_TABLE = "qbftest"


def nft_available() -> bool:
    return shutil.which("nft") is not None and os.geteuid() == 0 and in_private_netns()


def _nft(*args: str) -> None:
    subprocess.run(["nft", *args], check=True, capture_output=True)


def blackhole(address: str) -> None:
    """Drop every packet to ``address``: connects time out like a dead VPN path."""
    _nft("add", "table", "inet", NFT_TABLE)
    _nft("add", "chain", "inet", NFT_TABLE, "out", "{ type filter hook output priority 0; policy accept; }")
    _nft("add", "rule", "inet", NFT_TABLE, "out", "ip", "daddr", address, "drop")


def restore_all() -> None:
    """Remove every blackhole."""
    subprocess.run(["nft", "delete", "table", "inet", NFT_TABLE], capture_output=True)


@contextlib.contextmanager
def blackholed(address: str) -> Iterator[None]:
    blackhole(address)
    try:
        yield
    finally:
        restore_all()


def magnet(n: int, prefix: str = "") -> str:
    """A tracker-less magnet with a unique, deterministic infohash.

    Hashes come from SHA-1: qBittorrent 4.5 silently drops most magnets whose hashes are mostly
    zero bytes (seen: 30 of 1,000 counters added), so counters make misleading test data.
    """
    digest = hashlib.sha1(f"{prefix}:{n}".encode()).hexdigest()
    return f"magnet:?xt=urn:btih:{digest}&dn=test-{prefix}{n}"


def bencode(value: object) -> bytes:
    """A tiny bencoder (keys sorted, as BEP 3 requires) to build test torrents."""
    if isinstance(value, bool):
        raise TypeError("bencode has no booleans")
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, dict):
        pairs = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in value.items())
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in pairs) + b"e"
    raise TypeError(f"cannot bencode {type(value).__name__}")
