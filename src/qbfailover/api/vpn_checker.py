"""The spec's ``VPNHealthChecker``: is the VPN gateway reachable, and wait until it is again.

Callers written for the spec construct it with ``gateway_ip=`` and await its two methods; the
probe behind them is the engine's (ping, or ``tcp://``, ``http://``, ``interface:`` targets as
``QBITTORRENT_VPN_GATEWAY`` accepts them), bounded by ``timeout``. There is no built-in address:
the spec's built-in LAN-router default would ping whatever router a user happens to be on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import datetime

from qbfailover.config import VpnProbeConfig, environment, load_settings, vpn_probe_from_text
from qbfailover.engine.probes import probe_vpn
from qbfailover.errors import ConfigError

__all__ = ["VPNHealthChecker", "configured_gateway"]

log = logging.getLogger("qbfailover.api")

RETRY_INTERVAL = 2.0
"""Seconds between probes while waiting for a reconnect (the spec's interval)."""


def configured_gateway(env: Mapping[str, str] | None = None) -> VpnProbeConfig | None:
    """The VPN probe the settings name (``QBITTORRENT_VPN_GATEWAY``, or a TOML ``[vpn]`` table)."""
    values = environment(env)
    gateway = values.get("QBITTORRENT_VPN_GATEWAY", "").strip()
    if gateway:
        return vpn_probe_from_text(gateway, "QBITTORRENT_VPN_GATEWAY")
    if values.get("QBFAILOVER_CONFIG"):
        return load_settings(env=values).vpn
    return None


class VPNHealthChecker:
    """Probe the VPN gateway; ``is_connected`` and ``last_check`` keep the last answer, as in the spec."""

    def __init__(self, gateway_ip: str | None = None, timeout: float = 5) -> None:
        """``gateway_ip``: an address or host to ping, or ``tcp://host:port``, ``http(s)://url``,
        ``interface:NAME``; without it, the settings' gateway (a ConfigError if there is none)."""
        if gateway_ip is None:
            found = configured_gateway()
            if found is None:
                raise ConfigError(
                    "VPNHealthChecker needs a gateway: pass gateway_ip=... or set QBITTORRENT_VPN_GATEWAY"
                )
            self.probe = VpnProbeConfig(found.kind, found.target, float(timeout))
        else:
            self.probe = vpn_probe_from_text(str(gateway_ip).strip(), "gateway_ip", float(timeout))
        self.gateway_ip = self.probe.target
        self.timeout = timeout
        self.last_check: datetime | None = None
        self.is_connected = False
        self.detail = ""
        """Why the last check failed (or what answered), for logs and the health dict."""

    def __repr__(self) -> str:
        return f"VPNHealthChecker(gateway_ip={self.gateway_ip!r}, timeout={self.timeout!r})"

    async def check_vpn_connectivity(self, *, timeout: float | None = None) -> bool:
        """One probe, answered within ``timeout`` (default the checker's): True if the gateway answers."""
        limit = float(self.timeout if timeout is None else timeout)
        health = await probe_vpn(VpnProbeConfig(self.probe.kind, self.probe.target, limit), limit)
        self.is_connected = health.up
        self.detail = health.detail
        self.last_check = datetime.now()
        return self.is_connected

    async def wait_for_vpn_reconnect(self, max_wait: float = 60) -> bool:
        """Probe every 2 s until the gateway answers (True) or ``max_wait`` seconds pass (False).

        The whole wait, probes included, stays within ``max_wait``.
        """
        deadline = time.monotonic() + max(0.0, float(max_wait))
        started = time.monotonic()
        while True:
            remaining = deadline - time.monotonic()
            if await self.check_vpn_connectivity(timeout=max(0.05, min(float(self.timeout), remaining))):
                log.info("VPN reconnected after %.0f s", time.monotonic() - started)
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("VPN did not reconnect within %g s (%s)", max_wait, self.detail)
                return False
            await asyncio.sleep(min(RETRY_INTERVAL, remaining))
