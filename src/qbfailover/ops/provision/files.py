"""Writing a profile's files: atomically, with their mode from the first byte, backups kept.

Every write goes through ``qbfailover.atomicfile`` (a crash leaves the old file or the new one);
``os_error`` turns an OSError into the one-line message the CLI prints.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

from qbfailover.atomicfile import write_atomically
from qbfailover.errors import ProvisionError
from qbfailover.ops.provision.layout import timestamp


def chmod(path: Path, mode: int) -> None:
    """Set ``mode`` on POSIX (Windows has no such bits; its ACLs are left as they are)."""
    if os.name == "posix":
        os.chmod(path, mode)


def write_file(path: Path, text: str, mode: int = 0o644, newline: str = "\n") -> None:
    """Write ``text`` atomically with ``mode`` (POSIX) from the first byte.

    ``newline`` translates each ``\\n`` as ``open(newline=…)`` would ("" and "\\n" keep the text).
    """
    if newline not in ("", "\n"):
        text = text.replace("\n", newline)
    write_atomically(path, text.encode("utf-8"), mode=mode if os.name == "posix" else None)


def backup_copy(path: Path, now: datetime) -> Path:
    """Copy ``path`` to ``path.bak-YYYYmmdd-HHMMSS`` (mode kept; never overwrites a backup)."""
    base = path.with_name(f"{path.name}.bak-{timestamp(now)}")
    target, n = base, 1
    while target.exists():
        target, n = base.with_name(f"{base.name}-{n}"), n + 1
    shutil.copy2(path, target)
    return target


def os_error(exc: OSError, what: str) -> ProvisionError:
    """One line naming what could not be done, the file, and the OS's reason."""
    where = f" {exc.filename}" if exc.filename else ""
    return ProvisionError(f"cannot {what}:{where} {exc.strerror or exc}; check the path and permissions")
