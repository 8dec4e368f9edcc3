"""The spec's own async client, drop-in: ``ResilientQBittorrentClient`` and ``VPNHealthChecker``.

Scripts written for the spec's crawler change only their import line
(``from qbfailover import ResilientQBittorrentClient, VPNHealthChecker``). The classes keep the
spec's constructor, method names and return shapes, and run the engine underneath; the spec's
queue file is kept as a merged mirror of the ledger (``ledger.queue_mirror``).
"""

from qbfailover.api.spec_client import ResilientQBittorrentClient
from qbfailover.api.vpn_checker import VPNHealthChecker

__all__ = ["ResilientQBittorrentClient", "VPNHealthChecker"]
