"""qbfailover: hand magnets and .torrent files to qBittorrent without ever losing one.

Items are recorded in a durable ledger first, delivered to the best healthy instance (a VPN-bound
primary, then local secondaries), confirmed there by infohash, and otherwise queued until an
instance can take them.
"""

import importlib
from typing import TYPE_CHECKING, Any

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
from qbfailover.core.outcomes import AddResult, Fault, ItemResult, Outcome, QueueReason, Refusal, Unavailable
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

if TYPE_CHECKING:
    from qbfailover.api import ResilientQBittorrentClient, VPNHealthChecker
    from qbfailover.engine.client import AsyncResilientClient, SyncResilientClient
    from qbfailover.engine.inputs import parse_item

__version__ = "0.1.0"

# The engine pulls in httpx: imported on first use, so ``qbfailover --help`` starts without it.
_LAZY = {
    "AsyncResilientClient": "qbfailover.engine.client",
    "ResilientQBittorrentClient": "qbfailover.api",
    "SyncResilientClient": "qbfailover.engine.client",
    "VPNHealthChecker": "qbfailover.api",
    "parse_item": "qbfailover.engine.inputs",
}


def __getattr__(name: str) -> Any:
    """Import the engine's names on first use (PEP 562), keeping cold starts light."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'qbfailover' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
