"""What the user asks for, checked: ports, versions, user name, password, bind address (pure).

Every refusal is a one-line ``ProvisionError`` naming the flag and an accepted value, so a typo is
caught before anything is written.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping

from qbfailover.config import Secret
from qbfailover.errors import ProvisionError

DEFAULT_BT_PORTS = "6881-6920"
DEFAULT_BIND = "127.0.0.1"
DEFAULT_VERSION = (4, 5)
MIN_VERSION = (4, 2)  # PBKDF2 passwords; older releases stored an MD5 (WebUI\Password_ha1)
MIN_PASSWORD = 6  # qBittorrent's own minimum in its options dialog
PORT_SEARCH = 200  # how far past a busy WebUI port we look for a free one


def parse_port_range(text: str) -> tuple[int, int]:
    """``"6881-6920"`` → ``(6881, 6920)``; a single port is a range of one."""
    m = re.fullmatch(r"\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?", text)
    if not m:
        raise ProvisionError(f"--bt-ports {text!r}: give a port or a range such as {DEFAULT_BT_PORTS}")
    lo = int(m.group(1))
    hi = int(m.group(2) or lo)
    if not (1 <= lo <= hi <= 65535):
        raise ProvisionError(f"--bt-ports {text!r}: ports go from 1 to 65535, low end first")
    return lo, hi


def check_port(port: int, what: str = "--webui-port") -> int:
    """``port`` if it is a TCP port number, else a ProvisionError naming ``what``."""
    if not 1 <= port <= 65535:
        raise ProvisionError(f"{what} {port}: give a TCP port from 1 to 65535")
    return port


def parse_version(text: str | None) -> tuple[int, int]:
    """``"4.5"`` / ``"4.5.2"`` / ``"v4.3.9"`` → ``(4, 5)``; refuses releases without PBKDF2."""
    if text is None:
        return DEFAULT_VERSION
    m = re.fullmatch(r"\s*v?(\d+)\.(\d+)(?:\.\d+)*\s*", text)
    if not m:
        raise ProvisionError(f"--qbittorrent-version {text!r}: give X.Y, such as 4.5")
    version = int(m.group(1)), int(m.group(2))
    if version < MIN_VERSION:
        raise ProvisionError(
            f"qBittorrent {text} stores an MD5 WebUI password; upgrade to 4.2 or later (4.4+ recommended)"
        )
    return version


def version_from_output(text: str) -> tuple[int, int] | None:
    """``"qBittorrent v4.5.2"`` (``--version`` output) → ``(4, 5)``."""
    m = re.search(r"v(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


_USERNAME = re.compile(r"[\x21-\x7e]{3,}")


def check_username(name: str) -> str:
    """qBittorrent wants at least 3 characters; we also keep to printable ASCII without spaces."""
    if not _USERNAME.fullmatch(name) or any(c in name for c in "\\\"'"):
        raise ProvisionError(
            "--username: use at least 3 printable ASCII characters, without spaces, quotes or backslashes"
        )
    return name


def check_password(password: Secret) -> Secret:
    """``password`` if qBittorrent accepts it and it survives the conf (no edge spaces, no line breaks)."""
    value = password.reveal()
    if len(value) < MIN_PASSWORD:
        raise ProvisionError(
            f"the password is too short: qBittorrent needs at least {MIN_PASSWORD} characters"
        )
    if value != value.strip() or any(c in value for c in "\r\n\x00"):
        raise ProvisionError("the password must not start or end with spaces nor hold line breaks")
    return password


def password_from_env(var: str, environ: Mapping[str, str]) -> Secret:
    """The password held by the environment variable named ``var`` (never echoed)."""
    value = environ.get(var)
    if not value:
        raise ProvisionError(f"--password-env {var}: that environment variable is not set or empty")
    return check_password(Secret(value))


def check_bind(address: str) -> str:
    """An IP address (``0.0.0.0``/``::`` listen everywhere: only do that on purpose)."""
    try:
        return str(ipaddress.ip_address(address.strip("[]")))
    except ValueError:
        raise ProvisionError(
            f"--bind {address!r}: give an IP address such as 127.0.0.1 (the default)"
        ) from None


def url_host(bind: str) -> str:
    """The host to put in QBITTORRENT_SECONDARY_URL for a WebUI bound to ``bind``."""
    ip = ipaddress.ip_address(bind)
    if ip.is_unspecified:
        return "127.0.0.1" if ip.version == 4 else "[::1]"
    return f"[{ip}]" if ip.version == 6 else str(ip)


def server_domains(bind: str) -> str:
    """WebUI\\ServerDomains: what the Host header may name (host-header validation stays on)."""
    names = ["localhost", "127.0.0.1"]
    ip = ipaddress.ip_address(bind)
    if ip.version == 6:
        names.append("[::1]" if ip.is_unspecified else f"[{ip}]")
    elif not ip.is_unspecified and str(ip) not in names:
        names.append(str(ip))
    return ";".join(names)


def choose_port(
    candidates: Iterable[int], is_free: Callable[[int], bool], exclude: Iterable[int] = ()
) -> int | None:
    """The first candidate that ``is_free`` and is not excluded."""
    skip = set(exclude)
    return next((p for p in candidates if p not in skip and is_free(p)), None)


def next_free_port(busy: int, is_free: Callable[[int], bool], exclude: Iterable[int] = ()) -> int | None:
    """The first free port after ``busy`` (the suggestion for the spec's scenario 5)."""
    return choose_port(range(busy + 1, min(busy + PORT_SEARCH, 65535) + 1), is_free, exclude)
