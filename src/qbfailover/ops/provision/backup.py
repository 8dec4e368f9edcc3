"""``qbfailover backup``: the profile as one timestamped archive, safe while qBittorrent runs.

Databases are copied with sqlite3's online backup API (a consistent copy of a live file); the
downloads, qBittorrent's cache and files that exist only while it runs are left out. The archive
holds the password hash, so it is 0600 from its first byte and appears only once complete.
"""

from __future__ import annotations

import os
import sqlite3
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from qbfailover.atomicfile import replacing
from qbfailover.errors import ProvisionError
from qbfailover.ops.provision.conf import conf_path, read_ini_value
from qbfailover.ops.provision.files import os_error
from qbfailover.ops.provision.host import RunningCheck, find_running
from qbfailover.ops.provision.layout import default_downloads, timestamp
from qbfailover.ops.provision.repair import SQLITE_COMPANIONS

SQLITE_MAGIC = b"SQLite format 3\x00"
# Files that exist only while qBittorrent runs and mean nothing in a copy.
RUNTIME_ONLY = frozenset({"lockfile", "ipc-socket", "storage.lock"})


@dataclass
class BackupReport:
    """What ``backup_profile`` archived, which databases it copied live, and what it left out."""

    archive: Path
    files: int
    databases: list[str]
    damaged: list[str]
    skipped: list[str]
    was_running: bool


def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def _sqlite_copy(src: Path, dst: Path) -> None:
    """A consistent copy of a live database (sqlite3's online backup API)."""
    source = sqlite3.connect(f"{src.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()


def _excluded_dirs(profile: Path, dest: Path) -> list[Path]:
    """Folders inside the profile never archived: downloads (from the conf, else the default),
    qBittorrent's cache, and the destination of the archive."""
    out = [dest, profile / "qBittorrent" / "cache", default_downloads(profile)]
    try:
        text = conf_path(profile).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    for section, key in (
        ("BitTorrent", "Session\\DefaultSavePath"),
        ("BitTorrent", "Session\\TempPath"),
        ("Preferences", "Downloads\\SavePath"),
        ("Preferences", "Downloads\\TempPath"),
    ):
        value = read_ini_value(text, section, key)
        if value:
            out.append(Path(value))
    absolute = (Path(os.path.abspath(p)) for p in out)
    return [p for p in absolute if profile in p.parents]


def _inside(path: Path, folders: Iterable[Path]) -> bool:
    return any(path == f or f in path.parents for f in folders)


def plan_backup(profile: Path, dest: Path) -> tuple[list[Path], list[str]]:
    """Regular files to archive (relative to ``profile``) and what was skipped, sorted."""
    excluded = _excluded_dirs(profile, dest)
    files: list[Path] = []
    skipped: list[str] = []
    for dirpath, dirnames, filenames in os.walk(profile):
        here = Path(dirpath)
        for d in list(dirnames):
            if _inside(here / d, excluded):
                dirnames.remove(d)
                skipped.append(str((here / d).relative_to(profile)) + "/")
        for name in filenames:
            path = here / name
            rel = path.relative_to(profile)
            if name in RUNTIME_ONLY or name.endswith(SQLITE_COMPANIONS) or not path.is_file():
                skipped.append(str(rel))
                continue
            files.append(rel)
    return sorted(files), sorted(skipped)


def backup_profile(
    profile: Path,
    dest: Path | None = None,
    fmt: str = "tar.gz",
    *,
    now: datetime | None = None,
    running: RunningCheck = find_running,
) -> BackupReport:
    """Archive the profile (the spec's quarterly backup); safe while qBittorrent runs."""
    now = now or datetime.now()
    if fmt not in ("tar.gz", "zip"):
        raise ProvisionError(f"--format {fmt!r}: use tar.gz or zip")
    profile = Path(os.path.abspath(profile))
    if not conf_path(profile).is_file():
        raise ProvisionError(
            f"{profile} holds no qBittorrent profile (no {conf_path(profile)}); check --profile"
        )
    dest = Path(os.path.abspath(dest)) if dest else profile.parent
    if dest == profile:
        raise ProvisionError("--dest is the profile itself; give a folder outside it (default: its parent)")
    was_running = running(profile, None) is not None
    files, skipped = plan_backup(profile, dest)
    archive = dest / f"{profile.name}-backup-{timestamp(now)}.{fmt}"
    n = 1
    while archive.exists():
        archive, n = dest / f"{profile.name}-backup-{timestamp(now)}-{n}.{fmt}", n + 1
    databases: list[str] = []
    damaged: list[str] = []
    try:
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="qbf-backup-") as scratch:
            staged: list[tuple[Path, str]] = []
            for rel in files:
                src = profile / rel
                name = f"{profile.name}/{rel.as_posix()}"
                if _is_sqlite(src):
                    copy = Path(scratch) / f"{len(staged)}.sqlite"
                    try:
                        _sqlite_copy(src, copy)
                        databases.append(rel.as_posix())
                        staged.append((copy, name))
                        continue
                    except sqlite3.Error:
                        damaged.append(rel.as_posix())  # archived byte for byte below
                staged.append((src, name))
            with replacing(archive, mode=0o600) as tmp:  # the archive holds the password hash
                _write_archive(tmp, fmt, staged)
    except OSError as exc:
        raise os_error(exc, "write the backup") from exc
    return BackupReport(archive, len(files), databases, damaged, skipped, was_running)


def _write_archive(path: Path, fmt: str, members: list[tuple[Path, str]]) -> None:
    if fmt == "zip":
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for src, name in members:
                zf.write(src, name)
    else:
        with tarfile.open(path, "w:gz") as tf:
            for src, name in members:
                tf.add(src, name, recursive=False)
