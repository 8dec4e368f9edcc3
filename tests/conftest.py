"""Shared fixtures: real qbittorrent-nox instances in the spec's topology, and clean-up."""

from __future__ import annotations

import fnmatch
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import (
    QBT_SUITES,
    QbtInstance,
    Runtime,
    in_private_netns,
    nft_available,
    restore_all,
    runtime_for,
)
from qbfailover.config import Settings, VpnProbeConfig

PRIMARY_HOST = "127.0.0.2"
SECONDARY_HOST = "127.0.0.1"
VPN_GATEWAY = "127.0.0.3"
WEBUI_PORT = 52095


def pytest_report_header(config: pytest.Config) -> str:
    where = "private network namespace" if in_private_netns() else "host network (loopback only)"
    versions = ",".join(qbt_versions(config))
    return f"qbfailover: {where}; nft faults: {'yes' if nft_available() else 'no'}; qBittorrent: {versions}"


# --- qBittorrent versions ---------------------------------------------------------------------
# Core tests (these modules, or marked ``compat``) run once per selected version; every other test
# runs on one version: 4.5 (the host's package) when selected, else the first one selected.
CORE_MODULES = ("test_failover.py", "test_queue*.py")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--qbt-versions",
        default=None,
        help="qBittorrent versions for the core integration tests, e.g. 4.5,5.3 "
        "(default: $QBF_QBT_VERSIONS, else all of 4.5,5.1,5.3 as root, else 4.5)",
    )


def qbt_versions(config: pytest.Config) -> list[str]:
    raw = config.getoption("--qbt-versions") or os.environ.get("QBF_QBT_VERSIONS")
    if not raw:
        raw = ",".join(QBT_SUITES) if os.geteuid() == 0 else "4.5"
    labels = [v.strip() for v in raw.split(",") if v.strip()]
    unknown = [v for v in labels if v not in QBT_SUITES]
    if unknown or not labels:
        raise pytest.UsageError(f"--qbt-versions: unknown {unknown or raw!r}; known: {', '.join(QBT_SUITES)}")
    return labels


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "qbt_runtime" not in metafunc.fixturenames:
        return
    core = metafunc.definition.get_closest_marker("compat") is not None or any(
        fnmatch.fnmatch(Path(str(metafunc.module.__file__)).name, pat) for pat in CORE_MODULES
    )
    if core:
        versions = qbt_versions(metafunc.config)
        metafunc.parametrize("qbt_runtime", versions, indirect=True, ids=versions)


_RUNTIMES: dict[str, Runtime | str] = {}


def qbt_runtime_of(label: str) -> Runtime:
    """The checked runtime for a version label (once per session); fails the test with the fix."""
    if label not in _RUNTIMES:
        try:
            _RUNTIMES[label] = runtime_for(label)
        except RuntimeError as exc:
            _RUNTIMES[label] = str(exc)
    found = _RUNTIMES[label]
    if isinstance(found, str):
        pytest.fail(found, pytrace=False)
    return found


@pytest.fixture
def qbt_runtime(request: pytest.FixtureRequest) -> Runtime:
    """The qBittorrent version this test runs against (parametrized for core tests)."""
    label = getattr(request, "param", None)
    if label is None:
        versions = qbt_versions(request.config)
        label = "4.5" if "4.5" in versions else versions[0]
    return qbt_runtime_of(str(label))


@pytest.fixture
def qbt_factory(tmp_path: Path, qbt_runtime: Runtime) -> Iterator[Callable[..., QbtInstance]]:
    """Start real qbittorrent-nox instances (default: this test's version); all stopped afterwards."""
    started: list[QbtInstance] = []
    chroot_roots: list[Path] = []

    def make(
        name: str,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        runtime: Runtime | None = None,
        start: bool = True,
        **kwargs: Any,
    ) -> QbtInstance:
        from harness import free_port

        runtime = runtime or qbt_runtime
        if runtime.chroot is None:
            root = tmp_path
        else:
            root = _chroot_tmp(runtime, tmp_path)
            chroot_roots.append(root)
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
    for root in chroot_roots:
        shutil.rmtree(root, ignore_errors=True)


def _chroot_tmp(runtime: Runtime, tmp_path: Path) -> Path:
    """A fresh directory inside the chroot (shared by every test run on this machine: unique names)."""
    assert runtime.chroot is not None
    parent = runtime.chroot / "tmp" / "qbftest"
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=tmp_path.name + "-", dir=parent))


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


# --- PostgreSQL (the shared ledger): one throwaway cluster per session, a database per test ------


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Any]:
    """A PostgreSQL cluster on 127.0.0.1 (Debian's binaries, run unprivileged), for the session."""
    from pgcluster import find_pg_bin, running_cluster

    if find_pg_bin() is None:
        pytest.skip("PostgreSQL is not installed (scripts/bootstrap installs it: apt-get install postgresql)")
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def pg_url(pg_cluster: Any) -> str:
    """The URL of a fresh, empty database in the session's cluster."""
    return str(pg_cluster.new_database())
