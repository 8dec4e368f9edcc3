"""qbfailover: hand magnets and .torrent files to qBittorrent without ever losing one.

Items are recorded in a durable ledger first, delivered to the best healthy instance (a VPN-bound
primary, then local secondaries), confirmed there by infohash, and otherwise queued until an
instance can take them.
"""

from qbfailover.config import InstanceConfig, Secret, Settings, VpnProbeConfig, load_settings
from qbfailover.core.health import HealthReport, InstanceHealth, State, Status, Verdict, VpnHealth, VpnStatus
from qbfailover.core.items import Item, parse_item
from qbfailover.engine.client import AddResult, AsyncResilientClient, ItemResult, ResilientQBittorrentClient
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

__all__ = [
    "AddResult",
    "AsyncResilientClient",
    "AuthFailed",
    "Banned",
    "ConfigError",
    "HealthReport",
    "InstanceConfig",
    "InstanceError",
    "InstanceHealth",
    "Item",
    "ItemError",
    "ItemResult",
    "ProvisionError",
    "QbFailoverError",
    "Rejected",
    "ResilientQBittorrentClient",
    "Secret",
    "Settings",
    "State",
    "Status",
    "StoreError",
    "Uncertain",
    "Unreachable",
    "Verdict",
    "VpnHealth",
    "VpnProbeConfig",
    "VpnStatus",
    "__version__",
    "load_settings",
    "parse_item",
]
