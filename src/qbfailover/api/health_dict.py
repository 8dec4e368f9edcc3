"""The spec's health dict, built from one health report (pure: the time is passed in).

The spec's callers print and compare these five keys, so their names, order and words are kept:
``primary``/``secondary`` hold :func:`~qbfailover.core.health.health_word` words, which ``qbfailover
status`` prints too. With more than two instances (a TOML file), the first by priority is the
primary and the best of the others speaks for ``secondary``.
"""

from __future__ import annotations

from datetime import datetime

from qbfailover.core.health import HealthReport, VpnStatus, health_word

__all__ = ["HealthDict", "initial_health", "spec_health"]

HealthDict = dict[str, object]


def initial_health() -> HealthDict:
    """Before the first check, as the spec's client starts: unknown, nothing active."""
    return {
        "primary": "unknown",
        "secondary": "unknown",
        "vpn_connected": None,
        "last_check": None,
        "active_instance": None,
    }


def spec_health(report: HealthReport, checked: datetime) -> HealthDict:
    """``report`` in the spec's words; ``active_instance`` is what an add would use now.

    ``vpn_connected`` is True when no VPN probe is configured: nothing is then held back for it.
    """
    ordered = sorted(report.instances, key=lambda i: i.priority)
    primary = ordered[0] if ordered else None
    rest = ordered[1:]
    secondary = next((i for i in rest if i.ok), rest[0] if rest else None)
    if primary is not None and primary.ok:
        active: str | None = "primary"
    elif secondary is not None and secondary.ok:
        active = "secondary"
    else:
        active = None
    return {
        "primary": health_word(primary),
        "secondary": health_word(secondary),
        "vpn_connected": report.vpn.status is not VpnStatus.DOWN,
        "last_check": checked.isoformat(),
        "active_instance": active,
    }
