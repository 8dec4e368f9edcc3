"""Shared fixtures: real qbittorrent-nox instances in the spec's topology, and clean-up."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import (
    HOST_RUNTIME,
    QbtInstance,
    Runtime,
    in_private_netns,
    nft_available,
    restore_all,
)
from qbfailover.config import Settings, VpnProbeConfig

PRIMARY_HOST = "127.0.0.2"
SECONDARY_HOST = "127.0.0.1"
VPN_GATEWAY = "127.0.0.3"
WEBUI_PORT = 52095


def pytest_report_header(config: pytest.Config) -> str:
    where = "private network namespace" if in_private_netns() else "host network (loopback only)"
    return f"qbfailover: {where}; nft faults: {'yes' if nft_available() else 'no'}"


@pytest.fixture
def qbt_factory(tmp_path: Path) -> Iterator[Callable[..., QbtInstance]]:
    """Start real qbittorrent-nox instances; every one is stopped afterwards."""
    started: list[QbtInstance] = []

    def make(
        name: str,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        runtime: Runtime = HOST_RUNTIME,
        start: bool = True,
        **kwargs: Any,
    ) -> QbtInstance:
        from harness import free_port

        root = tmp_path if runtime.chroot is None else _chroot_tmp(runtime, tmp_path)
        inst = QbtInstance(
            name=name, host=host, port=port or free_port(host), root=root, runtime=runtime, **kwargs
        )
        started.append(inst)
        if start:
            inst.start()
        return inst

    yield make
    for inst in started:
        inst.stop()


def _chroot_tmp(runtime: Runtime, tmp_path: Path) -> Path:
    assert runtime.chroot is not None
    root = runtime.chroot / "tmp" / "qbftest" / tmp_path.name
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture
def faults() -> Iterator[None]:
    """nftables blackholes, removed after the test whatever happens."""
    if not nft_available():
        pytest.skip("needs root, nft and a private network namespace (run ./scripts/test)")
    restore_all()
    yield
    restore_all()


class Topology:
    """The spec's setup: primary behind a VPN probed at 127.0.0.3, secondary on 127.0.0.1."""

    def __init__(self, primary: QbtInstance, secondary: QbtInstance, db: Path) -> None:
        self.primary = primary
        self.secondary = secondary
        self.db = db

    def settings(self, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "instances": (
                self.primary.config(priority=1, requires_vpn=True),
                self.secondary.config(priority=2),
            ),
            "vpn": VpnProbeConfig(kind="icmp", target=VPN_GATEWAY, timeout=1.0),
            "db_path": self.db,
            "deadline": 2.0,
            "confirm_timeout": 3.0,
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    def env(self) -> dict[str, str]:
        """The spec's variables for CLI runs."""
        env = dict(os.environ)
        env.update(
            QBITTORRENT_URL=self.primary.url,
            QBITTORRENT_SECONDARY_URL=self.secondary.url,
            QBITTORRENT_USERNAME=self.primary.username,
            QBITTORRENT_PASSWORD=self.primary.password,
            QBITTORRENT_VPN_GATEWAY=VPN_GATEWAY,
            QBFAILOVER_DB=str(self.db),
        )
        return env


@pytest.fixture
def topology(qbt_factory: Callable[..., QbtInstance], tmp_path: Path) -> Topology:
    """Primary at 127.0.0.2:52095 and secondary at 127.0.0.1:52095, same credentials."""
    if not in_private_netns():
        pytest.skip("the spec's topology binds port 52095 on two loopback addresses: run ./scripts/test")
    primary = qbt_factory("primary", PRIMARY_HOST, WEBUI_PORT)
    secondary = qbt_factory("secondary", SECONDARY_HOST, WEBUI_PORT, password=primary.password)
    return Topology(primary, secondary, tmp_path / "ledger.sqlite3")
