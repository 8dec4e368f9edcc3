"""The bench's world: real qbittorrent-nox instances in the spec's topology, and raw sessions to them.

Primary 127.0.0.2:52095 (requires the VPN, whose gateway 127.0.0.3 is probed by ping), secondary
127.0.0.1:52095, the same credentials on both, exactly as tests/conftest.py's ``topology``. Extra
throwaway instances (for the 10,000-item drain) live on 127.0.0.4 and up. Everything runs inside the
private network namespace scripts/bench enters, so fixed ports collide with nobody.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx

from harness import QbtInstance, in_private_netns, nft_available, restore_all
from qbfailover.config import InstanceConfig, Settings, VpnProbeConfig

PRIMARY_HOST = "127.0.0.2"
SECONDARY_HOST = "127.0.0.1"
VPN_GATEWAY = "127.0.0.3"
WEBUI_PORT = 52095
REPO = Path(__file__).resolve().parent.parent


class BenchError(RuntimeError):
    """The bench could not measure something (an instance did not come up, an item went missing)."""


def quiesce(inst: QbtInstance, *, window: float = 0.05, busy: float = 0.1, timeout: float = 10.0) -> None:
    """Wait until qbittorrent-nox is idle (under ``busy`` of a core for ``window`` s).

    After adding or deleting hundreds of torrents qBittorrent keeps working in the background
    (resume data, file cleanup) for a while; a sample started then pays for the previous one.
    """
    import psutil

    if inst.proc is None:
        return
    proc = psutil.Process(inst.proc.pid)

    def cpu() -> float:
        t = proc.cpu_times()
        return float(t.user + t.system)

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu()
        time.sleep(window)
        if cpu() - before < busy * window:
            return


class Raw:
    """A plain persistent httpx session to one instance: the baselines' client and our cleaner."""

    def __init__(self, inst: QbtInstance, timeout: float = 30.0) -> None:
        self.inst = inst
        self.http = httpx.Client(base_url=inst.url + "api/v2/", timeout=timeout, trust_env=False)

    def login(self) -> None:
        creds = {"username": self.inst.username, "password": self.inst.password}
        r = self.http.post("auth/login", data=creds)
        if r.status_code not in (200, 204) or r.text.strip() not in ("Ok.", ""):
            raise BenchError(f"login to {self.inst.name} failed: HTTP {r.status_code} {r.text[:60]!r}")

    def add(self, urls: Iterable[str]) -> None:
        r = self.http.post("torrents/add", data={"urls": "\n".join(urls)})
        if r.status_code not in (200, 202):
            raise BenchError(f"torrents/add on {self.inst.name}: HTTP {r.status_code}")

    def hashes(self) -> set[str]:
        """Every torrent's hash (one unfiltered torrents/info)."""
        r = self.http.get("torrents/info")
        return {t["hash"] for t in r.json()}

    def clear(self, timeout: float = 60.0) -> None:
        """Delete every torrent and wait until the instance lists none, so samples start equal."""
        self.http.post("torrents/delete", data={"hashes": "all", "deleteFiles": "false"})
        deadline = time.monotonic() + timeout
        while self.hashes():
            if time.monotonic() > deadline:
                raise BenchError(f"{self.inst.name} still lists torrents {timeout:g} s after delete")
            self.http.post("torrents/delete", data={"hashes": "all", "deleteFiles": "false"})
            time.sleep(0.02)
        quiesce(self.inst)

    def close(self) -> None:
        self.http.close()


class Lab:
    """Starts, restarts and finally kills the instances; hands out settings and ledger paths."""

    def __init__(self) -> None:
        if not in_private_netns() or not nft_available():
            raise BenchError(
                "the bench binds port 52095 on several loopback addresses and drops packets with nft: "
                "run it as root through ./scripts/bench (a private network namespace)"
            )
        restore_all()
        self.root = Path(tempfile.mkdtemp(prefix="qbf-bench-"))
        self._instances: list[QbtInstance] = []
        self._ledgers = 0
        self.primary = self.instance("primary", PRIMARY_HOST)
        self.secondary = self.instance("secondary", SECONDARY_HOST)

    @property
    def password(self) -> str:
        return self._instances[0].password if self._instances else ""

    def instance(self, name: str, host: str, port: int = WEBUI_PORT) -> QbtInstance:
        """A running instance on a clean profile (same credentials as the others)."""
        kwargs = {"password": self.password} if self._instances else {}
        label = f"{name}{len(self._instances)}"
        inst = QbtInstance(name=label, host=host, port=port, root=self.root, **kwargs)  # type: ignore[arg-type]
        self._instances.append(inst)
        inst.start()
        return inst

    def restart_primary(self) -> None:
        """A fresh, empty primary (after a figure killed it or filled it)."""
        self.primary.kill()
        self.primary = self.instance("primary", PRIMARY_HOST)

    def ledger(self, label: str) -> Path:
        """A new ledger path: separate ledgers keep breaker memory from leaking between samples."""
        self._ledgers += 1
        return self.root / f"{label}-{self._ledgers}.sqlite3"

    @staticmethod
    def instance_config(inst: QbtInstance, name: str, **overrides: object) -> InstanceConfig:
        return inst.config(name=name, **overrides)

    def settings(self, *, primary: bool = True, secondary: bool = True, db: Path | None = None) -> Settings:
        """The spec's topology (or part of it), with the VPN probe either way so only routing differs."""
        instances: list[InstanceConfig] = []
        if primary:
            instances.append(self.instance_config(self.primary, "primary", priority=1, requires_vpn=True))
        if secondary:
            instances.append(self.instance_config(self.secondary, "secondary", priority=2))
        return Settings(
            instances=tuple(instances),
            vpn=VpnProbeConfig(kind="icmp", target=VPN_GATEWAY, timeout=1.0),
            db_path=db or self.ledger("ledger"),
            deadline=2.0,
        )

    def env(self, *, primary: bool = True, db: Path | None = None) -> dict[str, str]:
        """The spec's variables for CLI runs: the whole topology, or just the local instance."""
        import os

        env = {k: v for k, v in os.environ.items() if not k.startswith(("QBITTORRENT_", "QBFAILOVER_"))}
        local = self.secondary
        env.update(
            QBITTORRENT_USERNAME=local.username,
            QBITTORRENT_PASSWORD=local.password,
            QBFAILOVER_DB=str(db or self.ledger("cli")),
        )
        if primary:
            env.update(
                QBITTORRENT_URL=self.primary.url,
                QBITTORRENT_SECONDARY_URL=local.url,
                QBITTORRENT_VPN_GATEWAY=VPN_GATEWAY,
            )
        else:
            env.update(QBITTORRENT_URL=local.url)
        return env

    def close(self) -> None:
        restore_all()
        for inst in self._instances:
            inst.kill()  # throwaway profiles: no need to wait for a graceful shutdown
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def raw(inst: QbtInstance) -> Iterator[Raw]:
    session = Raw(inst)
    try:
        session.login()
        yield session
    finally:
        session.close()
