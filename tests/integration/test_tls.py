"""HTTPS WebUIs with a self-signed CA: work when the user supplies the CA, fail clearly when not.

The certificate chain is made here (a throwaway CA signing a certificate for 127.0.0.1) and served
by a real qbittorrent-nox with ``WebUI\\HTTPS\\Enabled``. ``verify = false`` works only as an
explicit choice, and every run that uses it says so on one line.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness import QbtInstance, magnet
from qbfailover.config import Settings
from qbfailover.core.health import Status
from qbfailover.engine.client import AsyncResilientClient
from qbfailover.ops.provision.conf import conf_path

pytestmark = pytest.mark.integration

QBF = [sys.executable, "-m", "qbfailover"]


def make_chain(where: Path, host: str) -> tuple[Path, Path, Path]:
    """(ca.pem, cert.pem, key.pem): a CA and a server certificate for ``host`` signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qbfailover test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (where / "ca.pem", where / "cert.pem", where / "key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@pytest.fixture
def https(qbt_factory: Callable[..., QbtInstance], tmp_path: Path) -> tuple[QbtInstance, Path]:
    """A real qbittorrent-nox serving its WebUI over HTTPS; returns it and the CA file."""
    inst = qbt_factory("tls", start=False)
    ca, cert, key = make_chain(tmp_path, inst.host)
    inst.write_profile()
    conf = conf_path(inst.profile)
    https_keys = (
        f"WebUI\\HTTPS\\Enabled=true\nWebUI\\HTTPS\\CertificatePath={cert}\nWebUI\\HTTPS\\KeyPath={key}"
    )
    text = conf.read_text()
    assert "WebUI\\HTTPS\\Enabled=false" in text
    conf.write_text(text.replace("WebUI\\HTTPS\\Enabled=false", https_keys))
    inst.start()
    return inst, ca


def url(inst: QbtInstance) -> str:
    return f"https://{inst.host}:{inst.port}/"


def toml(path: Path, inst: QbtInstance, verify: str) -> Path:
    path.write_text(
        f'[settings]\ndb = "{path.parent / "ledger.sqlite3"}"\n\n'
        f'[[instances]]\nname = "tls"\nurl = "{url(inst)}"\n'
        f'username = "{inst.username}"\npassword = "{inst.password}"\nverify = {verify}\n'
    )
    return path


def status_of(settings: Settings) -> tuple[Status, str]:
    async def go() -> tuple[Status, str]:
        async with AsyncResilientClient(settings) as client:
            health = (await client.health_check()).instances[0]
            return health.status, health.detail

    return asyncio.run(go())


def test_https_with_the_users_ca_delivers(https: tuple[QbtInstance, Path], tmp_path: Path) -> None:
    """verify = "/path/ca.pem": the self-signed WebUI is trusted, items are delivered and confirmed."""
    inst, ca = https
    settings = Settings(
        instances=(inst.config(url=url(inst), verify=str(ca)),), db_path=tmp_path / "l.sqlite3"
    )

    async def go() -> None:
        async with AsyncResilientClient(settings) as client:
            assert (await client.health_check()).instances[0].status is Status.OK
            result = await client.add_torrents([magnet(1, "tls")])
            assert result.items[0].state == "delivered", result.items[0].reason

    asyncio.run(go())
    proc = subprocess.run(
        [*QBF, "status", "--config", str(toml(tmp_path / "q.toml", inst, f'"{ca}"'))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""


def test_https_without_the_ca_fails_clearly(https: tuple[QbtInstance, Path], tmp_path: Path) -> None:
    """Default verification against a self-signed WebUI: ERROR naming TLS/certificate and the fix."""
    inst, _ = https
    status, detail = status_of(
        Settings(instances=(inst.config(url=url(inst)),), db_path=tmp_path / "l.sqlite3")
    )
    assert status is Status.ERROR
    assert "TLS" in detail and "certificate" in detail and "verify" in detail, detail


def test_missing_ca_file_is_one_config_line(https: tuple[QbtInstance, Path], tmp_path: Path) -> None:
    """verify naming a CA file that is not there (or not PEM): exit 5, one line naming the file."""
    inst, _ = https
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    for ca in (tmp_path / "missing.pem", junk):
        proc = subprocess.run(
            [*QBF, "status", "--config", str(toml(tmp_path / "q.toml", inst, f'"{ca}"'))],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 5, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and str(ca) in lines[0] and "verify" in lines[0], proc.stderr


def test_verify_false_works_only_with_a_warning(
    https: tuple[QbtInstance, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """verify = false is an explicit opt-in: it connects, and says on one line that nothing is checked."""
    inst, _ = https
    caplog.set_level(logging.WARNING)
    status, _ = status_of(
        Settings(instances=(inst.config(url=url(inst), verify=False),), db_path=tmp_path / "l")
    )
    assert status is Status.OK
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "verify" in warnings[0] and "tls" in warnings[0], warnings
    proc = subprocess.run(
        [*QBF, "status", "--config", str(toml(tmp_path / "q.toml", inst, "false"))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "verify = false" in lines[0], proc.stderr
