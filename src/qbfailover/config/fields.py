"""Checks for one setting each: URLs, host:port, probe targets, numbers, unknown keys.

Each returns the clean value or raises a one-line ConfigError naming the key (and the file, for
TOML) and the fix. None echoes a credential: a ``user:password@`` in a URL is masked.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from qbfailover.errors import ConfigError

_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")


def check_url(value: str, key: str, path: Path | None = None) -> str:
    """An http(s) URL with a host and a valid port, and no credentials in it (they go elsewhere)."""
    where = f"{path}: {key}" if path else key
    shown = re.sub(r"(?<=//).*@", "***@", value.strip())  # messages never echo user:password@
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        raise ConfigError(f"{where}={shown!r} is not a valid URL; e.g. http://127.0.0.1:8080/") from None
    if "@" in parts.netloc:
        raise ConfigError(f"{where}: put credentials in the username/password settings, not the URL")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}={shown!r} is not an http(s) URL; e.g. http://127.0.0.1:8080/")
    try:
        _ = parts.port
    except ValueError:
        raise ConfigError(f"{where}={shown!r} has an invalid port") from None
    return value.strip()


def parse_host_port(value: str, key: str = "target") -> tuple[str, int]:
    """Split ``host:port`` (IPv6 in brackets allowed); ConfigError names ``key`` if malformed."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{key}={value!r} must be host:port for a tcp probe")
    return host.strip("[]"), int(port)


def is_host(text: str) -> bool:
    """An IP address or a DNS name; never something ``ping`` would read as an option (``-f``)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return len(text) <= 253 and bool(_HOSTNAME.fullmatch(text))
    return True


def interface_name(name: str, key: str) -> str:
    """A network interface name for the ``interface`` probe (no path separators, not empty)."""
    name = name.strip()
    if not name or "/" in name:
        raise ConfigError(f"{key}: interface name is missing or invalid; e.g. interface:wg0")
    return name


def seconds(text: str, key: str) -> float:
    """A duration from an environment variable: finite and above zero, or the key is named."""
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{key}={text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{key}={text!r} must be a finite number of seconds greater than 0")
    return value


def positive_number(table: Mapping[str, object], key: str, default: float, path: Path, where: str) -> float:
    """A TOML number above zero (booleans refused: TOML ``true`` is not a timeout)."""
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not (0 < value < math.inf):
        raise ConfigError(f"{path}: {where}.{key} must be a positive number, got {value!r}")
    return float(value)


def positive_int(table: Mapping[str, object], key: str, default: int, path: Path, where: str) -> int:
    """A TOML whole number above zero (priorities, batch sizes)."""
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{path}: {where}.{key} must be a positive whole number, got {value!r}")
    return value


def reject_unknown_keys(table: Mapping[str, object], known: frozenset[str], path: Path, where: str) -> None:
    """A typo such as ``requires-vpn`` must not be silently ignored (it would leak past the VPN)."""
    unknown = sorted(set(table) - known)
    if not unknown:
        return
    import difflib  # only on this error path: it costs a millisecond of every start otherwise

    key = unknown[0]
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(sorted(known))}"
    raise ConfigError(f"{path}: {where} has an unknown key {key!r}; {hint}")
