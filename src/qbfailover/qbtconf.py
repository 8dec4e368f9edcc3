"""qBittorrent.conf for a secondary (or test) instance: the keys qBittorrent really reads.

Written only while the instance is stopped: qBittorrent rewrites its config on exit. Values with
``;`` or ``,`` are quoted, as QSettings would otherwise split them into lists.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from .config import Secret

PBKDF2_ROUNDS = 100_000


def hash_password(password: str, salt: bytes | None = None) -> str:
    """qBittorrent 4.2+'s ``WebUI\\Password_PBKDF2`` value (PBKDF2-HMAC-SHA512, 100k rounds)."""
    salt = os.urandom(16) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, PBKDF2_ROUNDS, 64)
    return f"@ByteArray({base64.b64encode(salt).decode()}:{base64.b64encode(key).decode()})"


def verify_password(password: str, stored: str) -> bool:
    """Check a password against a ``@ByteArray(salt:key)`` value (used by tests and doctor)."""
    inner = stored.strip().strip('"')
    if not inner.startswith("@ByteArray(") or not inner.endswith(")"):
        return False
    salt_b64, _, key_b64 = inner[len("@ByteArray(") : -1].partition(":")
    try:
        salt, key = base64.b64decode(salt_b64), base64.b64decode(key_b64)
    except ValueError:
        return False
    return hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ROUNDS, 64) == key


@dataclass(frozen=True, slots=True)
class ConfOptions:
    """What a generated qBittorrent.conf says."""

    webui_port: int
    username: str
    password: Secret
    downloads: Path
    bt_port: int
    bind: str = "127.0.0.1"
    version: tuple[int, int] = (4, 5)
    server_domains: str = "localhost;127.0.0.1"
    local_host_auth: bool = True
    secure_cookie: bool = True
    session_timeout: int = 3600
    ban_count: int = 5
    ban_duration: int = 3600
    # Pin BitTorrent traffic to one interface/address (tests and demos: loopback only).
    interface: str | None = None
    interface_address: str | None = None
    password_hash: str | None = field(default=None, repr=False)


def _b(value: bool) -> str:
    return "true" if value else "false"


def _q(value: str) -> str:
    """Quote a value QSettings would otherwise read as a list."""
    text = value.replace("\\", "/")
    return f'"{text}"' if any(c in text for c in ";,") or text != text.strip() else text


def render_qbittorrent_conf(opts: ConfOptions) -> str:
    """The whole config file; 4.4+ key names unless ``opts.version`` is older (see README)."""
    pw_hash = opts.password_hash or hash_password(opts.password.reveal())
    downloads = str(opts.downloads).replace("\\", "/")
    incomplete = downloads.rstrip("/") + "/.incomplete"
    finished = downloads.rstrip("/") + "/.torrents/completed"
    new_keys = opts.version >= (4, 4)
    bt: list[str] = ["[BitTorrent]"]
    pref: list[str] = ["[Preferences]"]
    if new_keys:
        bt += [
            f"Session\\DefaultSavePath={_q(downloads)}",
            f"Session\\TempPath={_q(incomplete)}",
            "Session\\TempPathEnabled=true",
            f"Session\\FinishedTorrentExportDirectory={_q(finished)}",
            f"Session\\Port={opts.bt_port}",
            "Session\\DHTEnabled=false",
            "Session\\PeXEnabled=false",
            "Session\\LSDEnabled=false",
            "Session\\AddTrackersEnabled=false",
            "Session\\QueueingSystemEnabled=false",
        ]
        if opts.interface:
            bt += [f"Session\\Interface={opts.interface}", f"Session\\InterfaceName={opts.interface}"]
        if opts.interface_address:
            bt.append(f"Session\\InterfaceAddress={opts.interface_address}")
    else:
        pref += [
            f"Downloads\\SavePath={_q(downloads)}",
            f"Downloads\\TempPath={_q(incomplete)}",
            "Downloads\\TempPathEnabled=true",
            f"Downloads\\FinishedTorrentExportDir={_q(finished)}",
            f"Connection\\PortRangeMin={opts.bt_port}",
            "Bittorrent\\DHT=false",
            "Bittorrent\\PeX=false",
            "Bittorrent\\LSD=false",
        ]
        if opts.interface:
            pref += [f"Connection\\Interface={opts.interface}", f"Connection\\InterfaceName={opts.interface}"]
        if opts.interface_address:
            pref.append(f"Connection\\InterfaceAddress={opts.interface_address}")
    pref += [
        "Connection\\ResolvePeerCountries=false",
        "Connection\\UPnP=false",
        "General\\Locale=en",
        f"WebUI\\Address={opts.bind}",
        f"WebUI\\Port={opts.webui_port}",
        "WebUI\\Enabled=true",
        f"WebUI\\Username={opts.username}",
        f'WebUI\\Password_PBKDF2="{pw_hash}"',
        f"WebUI\\LocalHostAuth={_b(opts.local_host_auth)}",
        "WebUI\\AuthSubnetWhitelistEnabled=false",
        "WebUI\\CSRFProtection=true",
        "WebUI\\ClickjackingProtection=true",
        "WebUI\\HostHeaderValidation=true",
        f"WebUI\\ServerDomains={_q(opts.server_domains)}",
        f"WebUI\\SecureCookie={_b(opts.secure_cookie)}",
        f"WebUI\\SessionTimeout={opts.session_timeout}",
        f"WebUI\\MaxAuthenticationFailCount={opts.ban_count}",
        f"WebUI\\BanDuration={opts.ban_duration}",
        "WebUI\\UseUPnP=false",
        "WebUI\\HTTPS\\Enabled=false",
    ]
    sections = [
        ["[LegalNotice]", "Accepted=true"],
        ["[Network]", "PortForwardingEnabled=false", "Proxy\\OnlyForTorrents=false"],
        bt,
        pref,
        ["[Application]", "FileLogger\\Enabled=true"],
    ]
    return "\n\n".join("\n".join(s) for s in sections) + "\n"


def conf_path(profile: Path) -> Path:
    """Where qBittorrent reads its config for ``--profile=profile``."""
    return profile / "qBittorrent" / "config" / "qBittorrent.conf"
