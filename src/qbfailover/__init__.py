"""qbfailover: hand magnets and .torrent files to qBittorrent without ever losing one.

Items are recorded in a durable ledger first, delivered to the best healthy instance (a VPN-bound
primary, then local secondaries), confirmed there by infohash, and otherwise queued until an
instance can take them.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing itself costs a cold start ~5 ms; mypy reads this name as usual
if TYPE_CHECKING:
    from typing import Any

    from qbfailover.api import ResilientQBittorrentClient, VPNHealthChecker
    from qbfailover.config import InstanceConfig, Secret, Settings, VpnProbeConfig, load_settings
    from qbfailover.core.health import (
        FailureKind,
        HealthReport,
        InstanceHealth,
        State,
        Status,
        Verdict,
        VpnHealth,
        VpnStatus,
    )
    from qbfailover.core.items import Item
    from qbfailover.core.outcomes import (
        AddResult,
        Fault,
        ItemResult,
        Outcome,
        QueueReason,
        Refusal,
        Unavailable,
    )
    from qbfailover.engine.client import AsyncResilientClient, SyncResilientClient
    from qbfailover.engine.inputs import parse_item
    from qbfailover.errors import (
        AuthFailed,
        Banned,
        ConfigError,
        InstanceError,
        ItemError,
        ProvisionError,
        QbFailoverError,
        Rejected,
        StoreError,
        Uncertain,
        Unreachable,
    )

__version__ = "0.1.0"

# Every name is imported on first use (PEP 562): ``import qbfailover`` (and so every cold
# ``qbfailover`` command, ``--help`` first) loads none of the settings, the engine or httpx.
_LAZY = {
    **dict.fromkeys(("InstanceConfig", "Secret", "Settings", "VpnProbeConfig", "load_settings"), "config"),
    **dict.fromkeys(
        ("FailureKind", "HealthReport", "InstanceHealth", "State", "Status", "Verdict", "VpnHealth"),
        "core.health",
    ),
    "VpnStatus": "core.health",
    "Item": "core.items",
    **dict.fromkeys(
        ("AddResult", "Fault", "ItemResult", "Outcome", "QueueReason", "Refusal", "Unavailable"),
        "core.outcomes",
    ),
    **dict.fromkeys(
        ("AuthFailed", "Banned", "ConfigError", "InstanceError", "ItemError", "ProvisionError"), "errors"
    ),
    **dict.fromkeys(("QbFailoverError", "Rejected", "StoreError", "Uncertain", "Unreachable"), "errors"),
    **dict.fromkeys(("AsyncResilientClient", "SyncResilientClient"), "engine.client"),
    **dict.fromkeys(("ResilientQBittorrentClient", "VPNHealthChecker"), "api"),
    "parse_item": "engine.inputs",
}


_SUBPACKAGES = frozenset(
    (
        "api",
        "atomicfile",
        "cli",
        "config",
        "core",
        "engine",
        "errors",
        "gateway",
        "ledger",
        "observe",
        "ops",
        "qbt",
    )
)


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use, keeping cold starts light."""
    module = _LAZY.get(name)
    if module is None:
        if name in _SUBPACKAGES:  # ``import qbfailover; qbfailover.errors`` worked when all was eager
            return importlib.import_module(f"qbfailover.{name}")
        raise AttributeError(f"module 'qbfailover' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"qbfailover.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names, imported or not (``dir(qbfailover)``, completion in a REPL)."""
    return sorted({*globals(), *__all__})


__all__ = [
    "AddResult",
    "AsyncResilientClient",
    "AuthFailed",
    "Banned",
    "ConfigError",
    "FailureKind",
    "Fault",
    "HealthReport",
    "InstanceConfig",
    "InstanceError",
    "InstanceHealth",
    "Item",
    "ItemError",
    "ItemResult",
    "Outcome",
    "ProvisionError",
    "QbFailoverError",
    "QueueReason",
    "Refusal",
    "Rejected",
    "ResilientQBittorrentClient",
    "Secret",
    "Settings",
    "State",
    "Status",
    "StoreError",
    "SyncResilientClient",
    "Unavailable",
    "Uncertain",
    "Unreachable",
    "VPNHealthChecker",
    "Verdict",
    "VpnHealth",
    "VpnProbeConfig",
    "VpnStatus",
    "__version__",
    "load_settings",
    "parse_item",
]
