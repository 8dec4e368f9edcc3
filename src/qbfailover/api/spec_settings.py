"""Settings for the spec's constructor: its arguments where given, the CLI's settings elsewhere.

Why: a crawler passes ``primary_url``/``username``/``password`` (often straight from
``os.getenv``, so possibly ``None``) and nothing else; the ledger's place, the deadline, the VPN
gateway and any secondary it does not name must then come from exactly where the CLI reads them
(environment, ``.env``, ``QBFAILOVER_CONFIG`` TOML), so that a script and ``qbfailover watch``
share one ledger and one view of the instances.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from qbfailover.config import (
    InstanceConfig,
    Secret,
    Settings,
    VpnProbeConfig,
    check_url,
    environment,
    load_settings,
)

__all__ = ["gated_on", "spec_settings"]


def spec_settings(
    *,
    primary_url: str | None,
    username: str | None,
    password: str | None,
    secondary_url: str | None,
    vpn: VpnProbeConfig | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """The settings a spec-style constructor call means (a ConfigError names any bad value).

    With a TOML file configured, the given URLs replace its first and second instance by priority
    and keep their other fields; otherwise the arguments stand in for the spec's variables
    (``QBITTORRENT_URL``, ``QBITTORRENT_SECONDARY_URL``, ``QBITTORRENT_USERNAME``/``_PASSWORD``).
    The spec uses one username and password for both instances, and so do these arguments.
    """
    if primary_url:
        primary_url = check_url(primary_url, "primary_url")
    if secondary_url:
        secondary_url = check_url(secondary_url, "secondary_url")
    values = environment(env)
    if values.get("QBFAILOVER_CONFIG"):
        settings = _over_toml(load_settings(env=values), primary_url, username, password, secondary_url)
    else:
        overlay = dict(values)
        if primary_url:
            overlay["QBITTORRENT_URL"] = primary_url
        if username is not None:
            overlay["QBITTORRENT_USERNAME"] = username
        if password is not None:
            overlay["QBITTORRENT_PASSWORD"] = password
        if secondary_url:
            overlay["QBITTORRENT_SECONDARY_URL"] = secondary_url
            # The secondary the caller names gets the caller's pair, as in the spec; a secondary
            # from the environment keeps its own QBITTORRENT_SECONDARY_* credentials, if any.
            if username is not None:
                overlay["QBITTORRENT_SECONDARY_USERNAME"] = username
            if password is not None:
                overlay["QBITTORRENT_SECONDARY_PASSWORD"] = password
        settings = load_settings(env=overlay)
    return settings if vpn is None else gated_on(settings, vpn)


def gated_on(settings: Settings, vpn: VpnProbeConfig) -> Settings:
    """``settings`` with the primary (first by priority) gated on ``vpn``: an explicit checker."""
    first = settings.by_priority[0].name
    instances = tuple(replace(i, requires_vpn=True) if i.name == first else i for i in settings.instances)
    return replace(settings, vpn=vpn, instances=instances)


def _over_toml(
    settings: Settings,
    primary_url: str | None,
    username: str | None,
    password: str | None,
    secondary_url: str | None,
) -> Settings:
    ordered = settings.by_priority
    replaced: dict[str, InstanceConfig] = {}
    for cfg, url in zip(ordered[:2], (primary_url, secondary_url), strict=False):
        if url:
            replaced[cfg.name] = _with(cfg, url, username, password)
    instances = [replaced.get(i.name, i) for i in settings.instances]
    if secondary_url and len(ordered) < 2:
        template = ordered[0]
        instances.append(
            InstanceConfig(
                name="secondary",
                url=secondary_url,
                username=template.username if username is None else username,
                password=template.password if password is None else Secret(password),
                priority=template.priority + 1,
            )
        )
    return replace(settings, instances=tuple(instances))


def _with(cfg: InstanceConfig, url: str, username: str | None, password: str | None) -> InstanceConfig:
    return replace(
        cfg,
        url=url,
        username=cfg.username if username is None else username,
        password=cfg.password if password is None else Secret(password),
    )
