"""Changing an existing profile: a new WebUI password, or damaged databases moved aside.

Both refuse while qBittorrent runs (it rewrites its conf on exit and holds its databases open) and
both keep what they replace: the old conf as a timestamped copy, the databases in a ``damaged-*``
folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from qbfailover.config import Secret
from qbfailover.errors import ProvisionError
from qbfailover.ops.provision.conf import conf_path, password_values, read_webui_value, set_webui_values
from qbfailover.ops.provision.files import backup_copy, os_error, write_file
from qbfailover.ops.provision.host import RunningCheck, find_running, refuse_if_running
from qbfailover.ops.provision.inputs import DEFAULT_BIND, check_password, check_username
from qbfailover.ops.provision.layout import make_layout, timestamp

DATABASE_NAMES = ("torrents.db", "BEP.sqlite")
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


@dataclass
class ResetReport:
    """What ``reset_password`` changed: the conf, the copy of the old one, the new user if any."""

    conf: Path
    backup: Path
    username: str | None


def _webui_of(text: str) -> tuple[str, int] | None:
    port = read_webui_value(text, "WebUI\\Port")  # [WebUI] Port once 5.3 has run the conf
    address = read_webui_value(text, "WebUI\\Address") or DEFAULT_BIND
    if not port or not port.isdigit():
        return None
    return ("127.0.0.1" if address in ("*", "") else address), int(port)


def reset_password(
    profile: Path,
    password: Secret,
    username: str | None = None,
    *,
    now: datetime | None = None,
    running: RunningCheck = find_running,
) -> ResetReport:
    """Rewrite only ``WebUI\\Password_PBKDF2`` (and ``WebUI\\Username``) of an existing conf."""
    now = now or datetime.now()
    check_password(password)
    if username is not None:
        check_username(username)
    layout = make_layout(profile)
    try:
        text = layout.conf.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProvisionError(
            f"no qBittorrent.conf at {layout.conf}; create the profile with 'qbfailover setup-secondary'"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProvisionError(f"cannot read {layout.conf}: {exc}") from None
    refuse_if_running(
        layout.profile,
        _webui_of(text),
        "resetting the password (it rewrites qBittorrent.conf on exit)",
        running,
    )
    new_text = set_webui_values(text, password_values(password.reveal(), username))  # 5.3: [WebUI]
    try:
        backup = backup_copy(layout.conf, now)
        write_file(layout.conf, new_text, 0o600, newline="")
    except OSError as exc:
        raise os_error(exc, "rewrite qBittorrent.conf") from exc
    return ResetReport(layout.conf, backup, username)


@dataclass
class RepairReport:
    """Where the databases went (None: there were none) and, per file, how sqlite3 found it."""

    folder: Path | None
    moved: list[tuple[str, str]]  # (path relative to the profile, "damaged" / "readable")


def find_databases(profile: Path) -> list[Path]:
    """torrents.db / BEP.sqlite wherever qBittorrent keeps them under ``profile/qBittorrent``
    (4.4+: ``data/torrents.db``), with their -wal/-shm/-journal companions."""
    base = profile / "qBittorrent"
    if not base.is_dir():
        return []
    names = {n for db in DATABASE_NAMES for n in (db, *(db + s for s in SQLITE_COMPANIONS))}
    return sorted(
        p
        for p in base.rglob("*")
        if p.name in names
        and p.is_file()
        and not any(part.startswith("damaged-") for part in p.relative_to(base).parts)
    )


def database_health(path: Path) -> str:
    """``"readable"`` when sqlite3's quick_check passes, else ``"damaged"``."""
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=2)
        try:
            row = con.execute("PRAGMA quick_check").fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return "damaged"
    return "readable" if row and row[0] == "ok" else "damaged"


def repair_profile(
    profile: Path,
    *,
    now: datetime | None = None,
    running: RunningCheck = find_running,
) -> RepairReport:
    """The spec's scenario 4: move the databases aside (kept, not deleted) so qBittorrent rebuilds them."""
    now = now or datetime.now()
    profile = Path(os.path.abspath(profile))
    conf = conf_path(profile)
    if not (profile / "qBittorrent").is_dir():
        raise ProvisionError(
            f"{profile} holds no qBittorrent profile (no qBittorrent/ folder); check --profile"
        )
    webui = None
    with contextlib.suppress(OSError, UnicodeDecodeError):
        webui = _webui_of(conf.read_text(encoding="utf-8"))
    refuse_if_running(profile, webui, "repairing it (its databases are open)", running)
    found = find_databases(profile)
    if not found:
        return RepairReport(None, [])
    folder = profile / "qBittorrent" / f"damaged-{timestamp(now)}"
    n = 1
    while folder.exists():
        folder, n = profile / "qBittorrent" / f"damaged-{timestamp(now)}-{n}", n + 1
    targets: list[tuple[Path, Path]] = []
    try:
        for db in found:
            target = folder / db.relative_to(profile / "qBittorrent")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(db), str(target))
            targets.append((db, target))
    except OSError as exc:
        raise os_error(exc, "move the databases aside") from exc
    # Checked only once moved: opening a WAL database creates a -shm file beside it.
    moved = [
        (
            db.relative_to(profile).as_posix(),
            "companion" if db.name.endswith(SQLITE_COMPANIONS) else database_health(target),
        )
        for db, target in targets
    ]
    return RepairReport(folder, moved)
