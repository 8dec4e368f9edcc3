"""Where everything of one secondary instance lives (the spec's FILE SYSTEM LAYOUT), as paths.

Pure: nothing here touches the disk, so every command computes the same places the same way::

    ROOT/                          DIR's parent when DIR is named "profile" (the spec), else DIR
    ├── profile/ (= DIR)
    │   └── qBittorrent/
    │       ├── config/qBittorrent.conf     0600, password as PBKDF2 only
    │       ├── logs/qbittorrent.log        (FileLogger\\Path points here, as the spec draws it)
    │       └── data/torrents.db            resume data in SQLite (4.4+), the spec's torrents.db
    ├── downloads/                 --downloads; .incomplete/ and .torrents/completed/ inside
    ├── start-secondary.sh         POSIX start script (umask 077: qBittorrent rewrites its conf)
    ├── qbittorrent-secondary.service   systemd user unit (copy to ~/.config/systemd/user/)
    └── start_secondary.bat        Windows (--platform windows): APPDATA + --profile + --webui-port
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from qbfailover.ops.provision.conf import conf_path

UNIT_NAME = "qbittorrent-secondary.service"


def timestamp(now: datetime) -> str:
    """The suffix of backups and aside folders (``20251128-150000``): sortable, one per second."""
    return now.strftime("%Y%m%d-%H%M%S")


@dataclass(frozen=True)
class Layout:
    """Where everything for one secondary instance lives."""

    profile: Path
    downloads: Path

    @property
    def root(self) -> Path:
        """Where start scripts go: the spec keeps them beside ``profile/``."""
        return self.profile.parent if self.profile.name.lower() == "profile" else self.profile

    @property
    def qbt_dir(self) -> Path:
        """qBittorrent's own folder inside the profile (config, logs, data)."""
        return self.profile / "qBittorrent"

    @property
    def config_dir(self) -> Path:
        """The folder of qBittorrent.conf, kept 0700."""
        return self.conf.parent

    @property
    def conf(self) -> Path:
        """qBittorrent.conf, where ``qbittorrent --profile`` reads it."""
        return conf_path(self.profile)

    @property
    def logs(self) -> Path:
        """Where FileLogger\\Path points qBittorrent's log."""
        return self.qbt_dir / "logs"

    @property
    def incomplete(self) -> Path:
        """Downloads in progress (Session\\TempPath)."""
        return self.downloads / ".incomplete"

    @property
    def torrents_completed(self) -> Path:
        """Where qBittorrent exports the .torrent of each finished download."""
        return self.downloads / ".torrents" / "completed"

    @property
    def start_sh(self) -> Path:
        """The POSIX start script: umask 077 first, since qBittorrent rewrites its conf on exit."""
        return self.root / "start-secondary.sh"

    @property
    def systemd_unit(self) -> Path:
        """The systemd user unit, so the secondary comes back after a reboot without a person."""
        return self.root / UNIT_NAME

    @property
    def start_bat(self) -> Path:
        """The Windows start script (the spec's batch file), for hosts without systemd."""
        return self.root / "start_secondary.bat"

    def scripts(self, platform: str) -> list[Path]:
        """The start scripts setup writes for ``platform`` (linux or windows)."""
        return [self.start_bat] if platform == "windows" else [self.start_sh, self.systemd_unit]


def default_downloads(profile: Path) -> Path:
    """``DIR/../downloads`` when DIR is named ``profile`` (the spec's layout), else ``DIR/downloads``."""
    return (profile.parent if profile.name.lower() == "profile" else profile) / "downloads"


def make_layout(profile: Path, downloads: Path | None = None) -> Layout:
    """The layout for ``--profile`` (and ``--downloads``), as absolute paths."""
    profile = Path(os.path.abspath(profile))
    return Layout(profile, Path(os.path.abspath(downloads)) if downloads else default_downloads(profile))
