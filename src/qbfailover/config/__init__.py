"""Settings: the spec's environment variables (or a ``.env`` file), or a TOML file for N instances.

``model`` holds the values (Secret, InstanceConfig, VpnProbeConfig, Settings), ``database`` the
ledger's location (a path, or a PostgreSQL URL whose password it masks), ``dotenv`` reads the
environment and ``.env``, ``fields`` checks one setting at a time, ``load`` builds Settings from
them. Every name the rest of the program uses is re-exported here (``from qbfailover.config import
Settings``). The layer sits above ``core`` and below ``qbt``: it imports only ``errors``.
"""

from qbfailover.config.database import DatabaseUrl, parse_ledger_location
from qbfailover.config.dotenv import environment, read_dotenv
from qbfailover.config.fields import check_url, parse_host_port
from qbfailover.config.load import load_settings, vpn_probe_from_text
from qbfailover.config.model import (
    PROBE_KINDS,
    InstanceConfig,
    ProbeKind,
    Secret,
    Settings,
    VpnProbeConfig,
    default_db_path,
)

__all__ = [
    "PROBE_KINDS",
    "DatabaseUrl",
    "InstanceConfig",
    "ProbeKind",
    "Secret",
    "Settings",
    "VpnProbeConfig",
    "check_url",
    "default_db_path",
    "environment",
    "load_settings",
    "parse_host_port",
    "parse_ledger_location",
    "read_dotenv",
    "vpn_probe_from_text",
]
