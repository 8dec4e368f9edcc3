"""Settings from the spec's environment variables (or ``.env``), or from a TOML file for N instances.

A small loader of our own instead of pydantic-settings: it imports in ~1 ms instead of ~130 ms
(the CLI's start-up budget), and every error names the exact key and the fix in one line.
``tomllib`` is imported only when a TOML file is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TypedDict
from urllib.parse import urlsplit

from qbfailover.config.database import DatabaseUrl, parse_ledger_location
from qbfailover.config.dotenv import environment
from qbfailover.config.fields import (
    check_url,
    interface_name,
    is_host,
    parse_host_port,
    positive_int,
    positive_number,
    reject_unknown_keys,
    seconds,
)
from qbfailover.config.model import (
    PROBE_KINDS,
    InstanceConfig,
    Secret,
    Settings,
    VpnProbeConfig,
    default_db_path,
)
from qbfailover.errors import ConfigError

_INSTANCE_KEYS = frozenset(
    {
        *("name", "url", "username", "password", "password_env", "api_key_env", "priority"),
        *("requires_vpn", "connect_timeout", "read_timeout", "verify"),
    }
)
_VPN_KEYS = frozenset({"kind", "target", "timeout"})


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
    vpn = vpn_probe_from_text(gateway, "QBITTORRENT_VPN_GATEWAY") if gateway else None
    instances = [
        InstanceConfig(
            name="primary",
            url=check_url(primary_url, "QBITTORRENT_URL"),
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
                url=check_url(secondary_url, "QBITTORRENT_SECONDARY_URL"),
                username=values.get("QBITTORRENT_SECONDARY_USERNAME", username),
                password=Secret(values.get("QBITTORRENT_SECONDARY_PASSWORD", password.reveal())),
                priority=2,
            )
        )
    return Settings(
        instances=tuple(instances),
        vpn=vpn,
        db_path=_db_path(values),
        deadline=seconds(values.get("QBFAILOVER_DEADLINE", "2"), "QBFAILOVER_DEADLINE"),
        **_notify(values, None, None),
    )


def _db_path(values: Mapping[str, str]) -> Path | DatabaseUrl:
    """QBFAILOVER_DB: a path, ``sqlite:///path`` or ``postgresql://...`` (the default: a local file)."""
    raw = values.get("QBFAILOVER_DB", "").strip()
    if not raw:
        return default_db_path()
    return parse_ledger_location(
        raw,
        "QBFAILOVER_DB",
        values,
        password_env=values.get("QBFAILOVER_DB_PASSWORD_ENV", "").strip() or None,
        lease=values.get("QBFAILOVER_DB_LEASE"),
    )


def _db_from_toml(general: Mapping[str, object], env: Mapping[str, str], path: Path) -> Path | DatabaseUrl:
    """``[settings] db`` (with ``db_password_env``, ``db_lease``), else the environment's."""
    db = general.get("db")
    if not db:
        return _db_path(env)
    password_env = general.get("db_password_env")
    lease = general.get("db_lease")
    return parse_ledger_location(
        str(db),
        f"{path}: settings.db",
        env,
        password_env=str(password_env) if password_env else None,
        lease=None if lease is None else str(lease),
    )


def vpn_probe_from_text(text: str, key: str, timeout: float = 1.0) -> VpnProbeConfig:
    """``gateway.lan`` or an IP → icmp; ``tcp://host:port``; ``http(s)://…``; ``interface:wg0``.

    ``key`` names the setting in errors (``QBITTORRENT_VPN_GATEWAY``, or ``gateway_ip`` for the
    spec's ``VPNHealthChecker``).
    """
    low = text.lower()
    if low.startswith(("http://", "https://")):
        return VpnProbeConfig(kind="http", target=check_url(text, key), timeout=timeout)
    if low.startswith("tcp://"):
        target = text[6:]
        parse_host_port(target, key)
        return VpnProbeConfig(kind="tcp", target=target, timeout=timeout)
    if low.startswith("interface:"):
        return VpnProbeConfig(kind="interface", target=interface_name(text[10:], key), timeout=timeout)
    if not is_host(text):
        raise ConfigError(
            f"{key}={text!r} is not an address; use an IP/host (ping), tcp://host:port, "
            "http://url or interface:NAME"
        )
    return VpnProbeConfig(kind="icmp", target=text, timeout=timeout)


def _from_toml(path: Path, env: Mapping[str, str]) -> Settings:
    import tomllib  # ~7 ms, paid only by those who use a TOML file

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
    return Settings(
        instances=tuple(instances),
        vpn=vpn,
        db_path=_db_from_toml(general, env, path),
        deadline=positive_number(general, "deadline", 2.0, path, "settings"),
        cooldown=positive_number(general, "cooldown", 30.0, path, "settings"),
        auth_cooldown=positive_number(general, "auth_cooldown", 900.0, path, "settings"),
        batch_size=positive_int(general, "batch_size", 5000, path, "settings"),
        confirm_timeout=positive_number(general, "confirm_timeout", 3.0, path, "settings"),
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
    reject_unknown_keys(raw, _INSTANCE_KEYS, path, where)
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
        url=check_url(url, f"{where}.url", path),
        username=username,
        password=Secret(password or ""),
        api_key=api_key,
        priority=positive_int(raw, "priority", index + 1, path, where),
        requires_vpn=requires_vpn,
        connect_timeout=positive_number(raw, "connect_timeout", 1.0, path, where),
        read_timeout=positive_number(raw, "read_timeout", 10.0, path, where),
        verify=verify,
    )


def _vpn_table(path: Path, raw: object) -> VpnProbeConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: [vpn] must be a table with kind and target")
    reject_unknown_keys(raw, _VPN_KEYS, path, "[vpn]")
    kind = raw.get("kind", "icmp")
    target = raw.get("target")
    if kind not in PROBE_KINDS:
        raise ConfigError(f"{path}: vpn.kind = {kind!r}; use one of {', '.join(PROBE_KINDS)}")
    if not isinstance(target, str) or not target.strip():
        raise ConfigError(f"{path}: vpn.target is missing (an address, host:port, URL or interface)")
    if kind == "tcp":
        parse_host_port(target, f"{path}: vpn.target")
    if kind == "http":
        check_url(target, "vpn.target", path)
    if kind == "icmp" and not is_host(target.strip()):
        raise ConfigError(f"{path}: vpn.target = {target!r} is not an IP address or host name to ping")
    if kind == "interface":
        interface_name(target, f"{path}: vpn.target")
    return VpnProbeConfig(
        kind=kind, target=target.strip(), timeout=positive_number(raw, "timeout", 1.0, path, "vpn")
    )
