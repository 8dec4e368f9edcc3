"""The one way qbfailover replaces a file: write a temp file beside it, fsync, rename over it.

A crash at any point leaves the old file or the new one, never a truncated mix; this matters for
the user's queue file, qBittorrent.conf (which holds the password hash) and backup archives.
Callers translate ``OSError`` into their own one-line error, since only they know what to advise.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["replacing", "write_atomically"]


@contextlib.contextmanager
def replacing(path: Path, *, mode: int | None = None, keep_mode: bool = False) -> Iterator[Path]:
    """Yield a temp path beside ``path``; when the block ends normally, it replaces ``path``.

    The temp file exists from the start with ``mode`` (default 0600, so a secret is never readable
    by others, not even for a moment); ``keep_mode`` gives it the bits of the file it replaces.
    On any exception the temp file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        if mode is not None and os.name == "posix":
            os.chmod(tmp, mode)
        if keep_mode:
            with contextlib.suppress(FileNotFoundError):
                os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_directory(path.parent)


def write_atomically(path: Path, data: bytes, *, mode: int | None = None, keep_mode: bool = False) -> None:
    """Replace ``path`` with ``data`` durably (see ``replacing`` for ``mode`` and ``keep_mode``)."""
    with replacing(path, mode=mode, keep_mode=keep_mode) as tmp:
        tmp.write_bytes(data)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; POSIX only (Windows cannot open a directory this way)."""
    if os.name == "nt":
        return
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):  # some filesystems refuse fsync on directories
            os.fsync(fd)
    finally:
        os.close(fd)
