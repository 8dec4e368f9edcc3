"""Settings: the spec's environment variables (or a ``.env`` file), or a TOML file for N instances.

A small loader of our own instead of pydantic-settings: it imports in ~1 ms instead of ~130 ms
(the CLI's start-up budget), and every error names the exact key and the fix in one line.
Secrets live in :class:`Secret`, whose repr and str never show the value.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypedDict
from urllib.parse import urlsplit

from qbfailover.errors import ConfigError

ProbeKind = Literal["icmp", "tcp", "interface", "http"]
PROBE_KINDS: tuple[ProbeKind, ...] = ("icmp", "tcp", "interface", "http")


class Secret:
    """A credential that never shows itself in reprs, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class InstanceConfig:
    """One qBittorrent WebUI we may deliver to."""

    name: str
    url: str
    username: str = ""
    password: Secret = field(default_factory=lambda: Secret(""))
    api_key: Secret | None = None
    priority: int = 1
    requires_vpn: bool = False
    connect_timeout: float = 1.0
    read_timeout: float = 10.0
    verify: bool | str = True

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/") + "/"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True, slots=True)
class VpnProbeConfig:
    """How to tell whether the VPN path is up."""

    kind: ProbeKind
    target: str
    timeout: float = 1.0


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything qbfailover needs to run."""

    instances: tuple[InstanceConfig, ...]
    vpn: VpnProbeConfig | None = None
    db_path: Path = field(default_factory=lambda: default_db_path())
    deadline: float = 2.0
    cooldown: float = 30.0
    auth_cooldown: float = 900.0
    batch_size: int = 500
    confirm_timeout: float = 3.0
    # Notifications (watch): Apprise URLs and a plain JSON webhook; both carry tokens, hence Secret.
    notify_apprise: tuple[Secret, ...] = ()
    notify_webhook: Secret | None = None

    def instance(self, name: str) -> InstanceConfig:
        for inst in self.instances:
            if inst.name == name:
                return inst
        raise ConfigError(f"no instance named {name!r}; known: {', '.join(self.names)}")

    @property
    def names(self) -> list[str]:
        return [i.name for i in self.instances]

    @property
    def by_priority(self) -> list[InstanceConfig]:
        return sorted(self.instances, key=lambda i: i.priority)


def default_db_path() -> Path:
    """A per-user location that survives reboots (XDG state dir, or LOCALAPPDATA on Windows)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "qbfailover" / "ledger.sqlite3"


_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse KEY=VALUE lines (optional ``export``, quotes, ``#`` comments) without executing."""
    out: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return out
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}; fix its permissions or encoding") from None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _ENV_KEY.fullmatch(key):
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE; fix or remove that line")
        value = value.strip()
        if value[:1] in ("'", '"'):
            # KEY="value" # comment: the quotes go, and so does the comment after them.
            close = value.find(value[0], 1)
            rest = value[close + 1 :].strip() if close > 0 else ""
            if close < 0 or (rest and not rest.startswith("#")):
                raise ConfigError(f"{path}:{number}: unterminated or misplaced quote in {key}; fix that line")
            value = value[1:close]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        out[key] = value
    return out


def environment(env: Mapping[str, str] | None = None, dotenv: Path | None = None) -> dict[str, str]:
    """The process environment over the ``.env`` file (the environment wins, as in dotenv)."""
    merged = read_dotenv(dotenv if dotenv is not None else Path.cwd() / ".env")
    merged.update(os.environ if env is None else env)
    return merged


def load_settings(
    config_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    dotenv: Path | None = None,
) -> Settings:
    """Settings from ``--config``/``QBFAILOVER_CONFIG`` TOML if given, else the spec's variables."""
    values = environment(env, dotenv)
    path = config_path or (Path(values["QBFAILOVER_CONFIG"]) if values.get("QBFAILOVER_CONFIG") else None)
    if path is not None:
        return _from_toml(path, values)
    return _from_env(values)


def _from_env(values: Mapping[str, str]) -> Settings:
    primary_url = values.get("QBITTORRENT_URL", "").strip()
    if not primary_url:
        raise ConfigError(
            "QBITTORRENT_URL is not set; set it (e.g. QBITTORRENT_URL=http://host:8080/) in the "
            "environment or .env, or pass --config FILE"
        )
    username = values.get("QBITTORRENT_USERNAME", "")
    password = Secret(values.get("QBITTORRENT_PASSWORD", ""))
    gateway = values.get("QBITTORRENT_VPN_GATEWAY", "").strip()
    vpn = _vpn_from_text(gateway, "QBITTORRENT_VPN_GATEWAY") if gateway else None
    instances = [
        InstanceConfig(
            name="primary",
            url=_url(primary_url, "QBITTORRENT_URL"),
            username=username,
            password=password,
            priority=1,
            requires_vpn=vpn is not None,
        )
    ]
    secondary_url = values.get("QBITTORRENT_SECONDARY_URL", "").strip()
    if secondary_url:
        instances.append(
            InstanceConfig(
                name="secondary",
                url=_url(secondary_url, "QBITTORRENT_SECONDARY_URL"),
                username=values.get("QBITTORRENT_SECONDARY_USERNAME", username),
                password=Secret(values.get("QBITTORRENT_SECONDARY_PASSWORD", password.reveal())),
                priority=2,
            )
        )
    return Settings(
        instances=tuple(instances),
        vpn=vpn,
        db_path=_db_path(values),
        deadline=_float(values.get("QBFAILOVER_DEADLINE", "2"), "QBFAILOVER_DEADLINE"),
        **_notify(values, None, None),
    )


def _db_path(values: Mapping[str, str]) -> Path:
    raw = values.get("QBFAILOVER_DB", "").strip()
    return Path(raw).expanduser() if raw else default_db_path()


def _vpn_from_text(text: str, key: str) -> VpnProbeConfig:
    """``gateway.lan`` or an IP → icmp; ``tcp://host:port``; ``http(s)://…``; ``interface:wg0``."""
    low = text.lower()
    if low.startswith(("http://", "https://")):
        return VpnProbeConfig(kind="http", target=_url(text, key))
    if low.startswith("tcp://"):
        target = text[6:]
        _host_port(target, key)
        return VpnProbeConfig(kind="tcp", target=target)
    if low.startswith("interface:"):
        return VpnProbeConfig(kind="interface", target=_interface_name(text[10:], key))
    if not _is_host(text):
        raise ConfigError(
            f"{key}={text!r} is not an address; use an IP/host (ping), tcp://host:port, "
            "http://url or interface:NAME"
        )
    return VpnProbeConfig(kind="icmp", target=text)


_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")


def _is_host(text: str) -> bool:
    """An IP address or a DNS name; never something ``ping`` would read as an option (``-f``)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return len(text) <= 253 and bool(_HOSTNAME.fullmatch(text))
    return True


def _interface_name(name: str, key: str) -> str:
    name = name.strip()
    if not name or "/" in name:
        raise ConfigError(f"{key}: interface name is missing or invalid; e.g. interface:wg0")
    return name


def _from_toml(path: Path, env: Mapping[str, str]) -> Settings:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; fix --config/QBFAILOVER_CONFIG") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc}); fix the file") from None
    raw_instances = doc.get("instances")
    if not isinstance(raw_instances, list) or not raw_instances:
        raise ConfigError(f"{path}: needs at least one [[instances]] table with name and url")
    instances = [_instance(path, i, raw, env) for i, raw in enumerate(raw_instances)]
    names = [i.name for i in instances]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ConfigError(f"{path}: instance names must be unique; repeated: {', '.join(sorted(dupes))}")
    vpn = None
    raw_vpn = doc.get("vpn")
    if raw_vpn is not None:
        vpn = _vpn_table(path, raw_vpn)
    if vpn is None and any(i.requires_vpn for i in instances):
        raise ConfigError(
            f"{path}: an instance has requires_vpn = true but there is no [vpn] table; add "
            "[vpn] kind/target or set requires_vpn = false"
        )
    general = doc.get("settings", {})
    if not isinstance(general, dict):
        raise ConfigError(f"{path}: [settings] must be a table")
    db = general.get("db")
    return Settings(
        instances=tuple(instances),
        vpn=vpn,
        db_path=Path(str(db)).expanduser() if db else _db_path(env),
        deadline=_num(general, "deadline", 2.0, path, "settings"),
        cooldown=_num(general, "cooldown", 30.0, path, "settings"),
        auth_cooldown=_num(general, "auth_cooldown", 900.0, path, "settings"),
        batch_size=_int(general, "batch_size", 500, path, "settings"),
        confirm_timeout=_num(general, "confirm_timeout", 3.0, path, "settings"),
        **_notify(env, doc.get("notify"), path),
    )


class _NotifyFields(TypedDict):
    notify_apprise: tuple[Secret, ...]
    notify_webhook: Secret | None


def _notify(env: Mapping[str, str], table: object, path: Path | None) -> _NotifyFields:
    """Notification targets: the TOML ``[notify]`` table if given, else QBFAILOVER_NOTIFY_URLS /
    QBFAILOVER_WEBHOOK_URL. Errors name the key, never the URL (it usually holds a token)."""
    where = f"{path}: notify" if path else "QBFAILOVER_NOTIFY_URLS"
    if table is None:
        apprise = env.get("QBFAILOVER_NOTIFY_URLS", "").replace(",", " ").split()
        webhook = env.get("QBFAILOVER_WEBHOOK_URL", "").strip() or None
        hook_key = "QBFAILOVER_WEBHOOK_URL"
    else:
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [notify] must be a table (apprise = [...], webhook = '...')")
        raw = table.get("apprise", [])
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not all(isinstance(u, str) for u in raw):
            raise ConfigError(f"{where}.apprise must be a list of URL strings")
        apprise = [u.strip() for u in raw if u.strip()]
        hook = table.get("webhook")
        if hook is not None and not isinstance(hook, str):
            raise ConfigError(f"{where}.webhook must be a URL string")
        webhook = hook.strip() if hook else None
        hook_key = f"{path}: notify.webhook"
        where = f"{where}.apprise"
    for index, url in enumerate(apprise):
        if "://" not in url:
            raise ConfigError(f"{where}[{index}] is not an Apprise URL (scheme://...); see apprise's docs")
    if webhook is not None:
        try:
            parts = urlsplit(webhook)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:
            valid = False
        if not valid:
            raise ConfigError(f"{hook_key} is not an http(s) URL; e.g. https://hooks.example/qbfailover")
    return {
        "notify_apprise": tuple(Secret(u) for u in apprise),
        "notify_webhook": Secret(webhook) if webhook else None,
    }


def _instance(path: Path, index: int, raw: object, env: Mapping[str, str]) -> InstanceConfig:
    where = f"instances[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: {where} must be a table")
    _unknown_keys(raw, _INSTANCE_KEYS, path, where)
    name = raw.get("name")
    url = raw.get("url")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{path}: {where}.name is missing; give each instance a name")
    if not isinstance(url, str):
        raise ConfigError(f'{path}: {where}.url is missing; e.g. url = "http://127.0.0.1:8080/"')
    password = raw.get("password")
    password_env = raw.get("password_env")
    if password is not None and password_env is not None:
        raise ConfigError(f"{path}: {where} has both password and password_env; keep one")
    if password_env is not None:
        if not isinstance(password_env, str) or password_env not in env:
            raise ConfigError(
                f"{path}: {where}.password_env names {password_env!r}, which is not set; "
                "export it or put it in .env"
            )
        password = env[password_env]
    if password is not None and not isinstance(password, str):
        raise ConfigError(f"{path}: {where}.password must be a string")
    api_key_env = raw.get("api_key_env")
    api_key = None
    if api_key_env is not None:
        if not isinstance(api_key_env, str) or api_key_env not in env:
            raise ConfigError(f"{path}: {where}.api_key_env names {api_key_env!r}, which is not set")
        api_key = Secret(env[api_key_env])
    verify = raw.get("verify", True)
    if not isinstance(verify, bool | str) or verify == "":
        raise ConfigError(f"{path}: {where}.verify must be true, false or a CA file path")
    requires_vpn = raw.get("requires_vpn", False)
    if not isinstance(requires_vpn, bool):
        raise ConfigError(f"{path}: {where}.requires_vpn must be true or false")
    username = raw.get("username", "")
    if not isinstance(username, str):
        raise ConfigError(f"{path}: {where}.username must be a string")
    return InstanceConfig(
        name=name.strip(),
        url=_url(url, f"{where}.url", path),
        username=username,
        password=Secret(password or ""),
        api_key=api_key,
        priority=_int(raw, "priority", index + 1, path, where),
        requires_vpn=requires_vpn,
        connect_timeout=_num(raw, "connect_timeout", 1.0, path, where),
        read_timeout=_num(raw, "read_timeout", 10.0, path, where),
        verify=verify,
    )


def _vpn_table(path: Path, raw: object) -> VpnProbeConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: [vpn] must be a table with kind and target")
    _unknown_keys(raw, _VPN_KEYS, path, "[vpn]")
    kind = raw.get("kind", "icmp")
    target = raw.get("target")
    if kind not in PROBE_KINDS:
        raise ConfigError(f"{path}: vpn.kind = {kind!r}; use one of {', '.join(PROBE_KINDS)}")
    if not isinstance(target, str) or not target.strip():
        raise ConfigError(f"{path}: vpn.target is missing (an address, host:port, URL or interface)")
    if kind == "tcp":
        _host_port(target, f"{path}: vpn.target")
    if kind == "http":
        _url(target, "vpn.target", path)
    if kind == "icmp" and not _is_host(target.strip()):
        raise ConfigError(f"{path}: vpn.target = {target!r} is not an IP address or host name to ping")
    if kind == "interface":
        _interface_name(target, f"{path}: vpn.target")
    return VpnProbeConfig(kind=kind, target=target.strip(), timeout=_num(raw, "timeout", 1.0, path, "vpn"))


def _url(value: str, key: str, path: Path | None = None) -> str:
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


def _host_port(value: str, key: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{key}={value!r} must be host:port for a tcp probe")
    return host.strip("[]"), int(port)


def _float(text: str, key: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{key}={text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{key}={text!r} must be a finite number of seconds greater than 0")
    return value


def _num(table: Mapping[str, object], key: str, default: float, path: Path, where: str) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not (0 < value < math.inf):
        raise ConfigError(f"{path}: {where}.{key} must be a positive number, got {value!r}")
    return float(value)


def _int(table: Mapping[str, object], key: str, default: int, path: Path, where: str) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{path}: {where}.{key} must be a positive whole number, got {value!r}")
    return value


def _unknown_keys(table: Mapping[str, object], known: frozenset[str], path: Path, where: str) -> None:
    """A typo such as ``requires-vpn`` must not be silently ignored (it would leak past the VPN)."""
    for key in sorted(set(table) - known):
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(sorted(known))}"
        raise ConfigError(f"{path}: {where} has an unknown key {key!r}; {hint}")


_INSTANCE_KEYS = frozenset(
    {
        *("name", "url", "username", "password", "password_env", "api_key_env", "priority"),
        *("requires_vpn", "connect_timeout", "read_timeout", "verify"),
    }
)
_VPN_KEYS = frozenset({"kind", "target", "timeout"})


def parse_host_port(value: str, key: str = "target") -> tuple[str, int]:
    """Split ``host:port`` (IPv6 in brackets allowed); ConfigError names ``key`` if malformed."""
    return _host_port(value, key)
