"""qBittorrent.conf for a secondary (or test) instance: the keys qBittorrent really reads.

Written only while the instance is stopped: qBittorrent rewrites its config on exit. Values are
written the way Qt's QSettings writes them (``qt_ini_value``): quoted when they hold ``;``, ``,`` or
``=`` (QSettings would otherwise split them into lists), ``\\`` and ``"`` escaped, and every
non-ASCII character as a ``\\xNNNN`` escape, because qBittorrent 4.x (Qt 5) reads the file as
Latin-1: a raw UTF-8 ``é`` comes back as ``Ã©`` (measured on 4.5.2).

Measured on 4.5.2 as well: the conf is rewritten on every exit with the process umask (a 0600 file
comes back 0644), so the start scripts set ``umask 077``; the pre-4.4 key names
(``[Preferences] Downloads\\SavePath``, ``Connection\\PortRangeMin``, ``Bittorrent\\DHT`` …) are
still migrated by 4.5.2 when ``[Meta] MigrationVersion`` is absent.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from qbfailover.config import Secret

PBKDF2_ROUNDS = 100_000


def hash_password(password: str, salt: bytes | None = None) -> str:
    """qBittorrent 4.2+'s ``WebUI\\Password_PBKDF2`` value (PBKDF2-HMAC-SHA512, 100k rounds)."""
    salt = os.urandom(16) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, PBKDF2_ROUNDS, 64)
    return f"@ByteArray({base64.b64encode(salt).decode()}:{base64.b64encode(key).decode()})"


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
    # Where qBittorrent writes qbittorrent.log (default: its own data/logs folder).
    log_dir: Path | None = None
    # "SQLite" keeps resume data in torrents.db (4.4+); "Legacy" is qBittorrent's .fastresume files.
    resume_storage: str = "Legacy"


def _b(value: bool) -> str:
    return "true" if value else "false"


def qt_ini_value(value: str) -> str:
    """``value`` as Qt 5's QSettings writes a string into an INI file (``iniEscapedString``).

    Quoted if it holds ``;``, ``,`` or ``=`` or starts/ends with a space; ``\\`` and ``"`` are
    backslash-escaped; control and non-ASCII characters become ``\\x`` + hex (UTF-16 units), and
    a hex digit right after such an escape is escaped too so it cannot extend it. A leading ``@``
    is doubled (``@ByteArray(``/``@Variant(`` are type markers). Qt 5 and Qt 6 both read this.
    """
    if value.startswith("@"):
        value = "@" + value
    out: list[str] = []
    needs_quotes = False
    escape_next_if_hex = False
    simple = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
    for unit in _utf16_units(value):
        ch = chr(unit)
        if ch in ";,=":
            needs_quotes = True
        if escape_next_if_hex and ch in "0123456789abcdefABCDEF":
            out.append(f"\\x{unit:x}")
            continue
        escape_next_if_hex = False
        if ch == "\0":
            out.append("\\0")
            escape_next_if_hex = True
        elif ch in simple:
            out.append(simple[ch])
        elif ch in '"\\':
            out.append("\\" + ch)
        elif unit <= 0x1F or unit >= 0x7F:
            out.append(f"\\x{unit:x}")
            escape_next_if_hex = True
        else:
            out.append(ch)
    text = "".join(out)
    if needs_quotes or text.startswith(" ") or text.endswith(" "):
        text = f'"{text}"'
    return text


def _utf16_units(value: str) -> list[int]:
    data = value.encode("utf-16-le", "surrogatepass")
    return [int.from_bytes(data[i : i + 2], "little") for i in range(0, len(data), 2)]


_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "0": "\0",
    '"': '"',
    "\\": "\\",
    "'": "'",
    "?": "?",
}


def qt_ini_unescape(raw: str) -> str:
    """Read back one INI value as QSettings does (quotes, backslash and ``\\x`` escapes, ``@@``).

    Values QSettings would read as a list (an unquoted ``,``) come back as the raw text joined by
    ``, `` — good enough for the single strings qbfailover reads (paths, user name).
    """
    raw = raw.strip()
    units: list[int] = []
    i, n = 0, len(raw)
    in_quotes = False
    while i < n:
        ch = raw[i]
        if ch == '"':
            in_quotes = not in_quotes
            i += 1
        elif ch == "\\" and i + 1 < n:
            nxt = raw[i + 1]
            if nxt == "x":
                j = i + 2
                while j < n and raw[j] in "0123456789abcdefABCDEF":
                    j += 1
                if j > i + 2:
                    units.append(int(raw[i + 2 : j], 16) & 0xFFFF)
                i = j
            else:
                units.extend(_utf16_units(_ESCAPES.get(nxt, nxt)))
                i += 2
        else:
            units.extend(_utf16_units(ch))
            i += 1
    data = b"".join(u.to_bytes(2, "little") for u in units)
    text = data.decode("utf-16-le", "surrogatepass")
    return text[1:] if text.startswith("@@") else text


def _q(value: str) -> str:
    """A string value, escaped for QSettings."""
    return qt_ini_value(value)


def _path(value: Path | str) -> str:
    """A path as qBittorrent stores it: forward slashes (Windows too), escaped for QSettings."""
    return qt_ini_value(str(value).replace("\\", "/"))


def render_qbittorrent_conf(opts: ConfOptions) -> str:
    """The whole config file; 4.4+ key names unless ``opts.version`` is older (see README)."""
    pw_hash = opts.password_hash or hash_password(opts.password.reveal())
    downloads = str(opts.downloads).replace("\\", "/").rstrip("/") or "/"
    incomplete = downloads.rstrip("/") + "/.incomplete"
    finished = downloads.rstrip("/") + "/.torrents/completed"
    new_keys = opts.version >= (4, 4)
    bt: list[str] = ["[BitTorrent]"]
    pref: list[str] = ["[Preferences]"]
    if new_keys:
        bt += [
            f"Session\\DefaultSavePath={_path(downloads)}",
            f"Session\\TempPath={_path(incomplete)}",
            "Session\\TempPathEnabled=true",
            f"Session\\FinishedTorrentExportDirectory={_path(finished)}",
            f"Session\\Port={opts.bt_port}",
            "Session\\DHTEnabled=false",
            "Session\\PeXEnabled=false",
            "Session\\LSDEnabled=false",
            "Session\\AddTrackersEnabled=false",
            "Session\\QueueingSystemEnabled=false",
            f"Session\\ResumeDataStorageType={opts.resume_storage}",
        ]
        if opts.interface:
            bt += [f"Session\\Interface={_q(opts.interface)}", f"Session\\InterfaceName={_q(opts.interface)}"]
        if opts.interface_address:
            bt.append(f"Session\\InterfaceAddress={_q(opts.interface_address)}")
    else:
        pref += [
            f"Downloads\\SavePath={_path(downloads)}",
            f"Downloads\\TempPath={_path(incomplete)}",
            "Downloads\\TempPathEnabled=true",
            f"Downloads\\FinishedTorrentExportDir={_path(finished)}",
            f"Connection\\PortRangeMin={opts.bt_port}",
            "Bittorrent\\DHT=false",
            "Bittorrent\\PeX=false",
            "Bittorrent\\LSD=false",
            "Bittorrent\\AddTrackers=false",
            "Queueing\\QueueingEnabled=false",
        ]
        if opts.interface:
            pref += [
                f"Connection\\Interface={_q(opts.interface)}",
                f"Connection\\InterfaceName={_q(opts.interface)}",
            ]
        if opts.interface_address:
            pref.append(f"Connection\\InterfaceAddress={_q(opts.interface_address)}")
    pref += [
        "Connection\\ResolvePeerCountries=false",
        "Connection\\UPnP=false",
        "General\\Locale=en",
        f"WebUI\\Address={_q(opts.bind)}",
        f"WebUI\\Port={opts.webui_port}",
        "WebUI\\Enabled=true",
        f"WebUI\\Username={_q(opts.username)}",
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
        ["[Application]", "FileLogger\\Enabled=true"]
        + ([f"FileLogger\\Path={_path(opts.log_dir)}"] if opts.log_dir is not None else []),
    ]
    return "\n\n".join("\n".join(s) for s in sections) + "\n"


def conf_path(profile: Path) -> Path:
    """Where qBittorrent reads its config for ``--profile=profile``."""
    return profile / "qBittorrent" / "config" / "qBittorrent.conf"


# --- editing an existing file -----------------------------------------------------------------

_SECTION = re.compile(r"^\s*\[(?P<name>[^\]]*)\]\s*$")


def _key_of(line: str) -> str | None:
    if not line.strip() or line.lstrip().startswith((";", "#")) or _SECTION.match(line):
        return None
    key, sep, _ = line.partition("=")
    return key.strip() if sep else None


def read_ini_value(text: str, section: str, key: str) -> str | None:
    """The unescaped value of ``key`` in ``[section]`` (keys as written: ``WebUI\\Username``)."""
    current = None
    for line in text.splitlines():
        m = _SECTION.match(line)
        if m:
            current = m.group("name")
            continue
        if current == section and _key_of(line) == key:
            return qt_ini_unescape(line.partition("=")[2])
    return None


def set_ini_values(text: str, section: str, values: Mapping[str, str]) -> str:
    """``text`` with ``values`` (already escaped) set in ``[section]``; every other line untouched.

    Existing keys are replaced in place; missing ones are appended to the section (created at the
    end of the file if absent). Line endings of the original are kept.
    """
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines()
    pending = dict(values)
    current = None
    section_end: int | None = None
    out: list[str] = []
    for line in lines:
        m = _SECTION.match(line)
        if m:
            if current == section and section_end is None:
                section_end = len(out)
            current = m.group("name")
            out.append(line)
            continue
        key = _key_of(line)
        if current == section and key is not None and key in pending:
            out.append(f"{key}={pending.pop(key)}")
        else:
            out.append(line)
    if current == section and section_end is None:
        section_end = len(out)
    if pending:
        added = [f"{k}={v}" for k, v in pending.items()]
        if section_end is None:
            out += (["", f"[{section}]"] if out else [f"[{section}]"]) + added
        else:
            while section_end > 0 and not out[section_end - 1].strip():
                section_end -= 1
            out[section_end:section_end] = added
    return newline.join(out) + newline


def webui_section(text: str) -> tuple[str, str]:
    """Where this conf keeps the WebUI keys, as (section, key prefix).

    qBittorrent 5.3 (measured: MigrationVersion 12; 5.1 has 8) moves ``[Preferences] WebUI\\X`` to
    ``[WebUI] X`` at its first start and from then on ignores the old place, so an edit of a conf it
    has run must go to ``[WebUI]``. A conf it never ran is migrated at the next start.
    """
    if any((m := _SECTION.match(line)) and m.group("name") == "WebUI" for line in text.splitlines()):
        return "WebUI", ""
    return "Preferences", "WebUI\\"


def set_webui_values(text: str, values: Mapping[str, str]) -> str:
    """``set_ini_values`` for ``WebUI\\…`` keys (named as in ``[Preferences]``) where ``text`` keeps them."""
    section, prefix = webui_section(text)
    return set_ini_values(text, section, {prefix + k.removeprefix("WebUI\\"): v for k, v in values.items()})


def read_webui_value(text: str, key: str) -> str | None:
    """``read_ini_value`` for a ``WebUI\\…`` key (named as in ``[Preferences]``) in either layout."""
    section, prefix = webui_section(text)
    return read_ini_value(text, section, prefix + key.removeprefix("WebUI\\"))


def password_values(password: str, username: str | None = None) -> dict[str, str]:
    """The ``[Preferences]`` entries that set the WebUI password (PBKDF2) and, if given, user."""
    values = {"WebUI\\Password_PBKDF2": f'"{hash_password(password)}"'}
    if username is not None:
        values["WebUI\\Username"] = qt_ini_value(username)
    return values
