"""The one atomic-replace helper: all or nothing, modes from the first byte, no temp files left."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from qbfailover.atomicfile import replacing, write_atomically


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_replaces_the_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    """The new content replaces the old one, and only the target remains in the directory."""
    target = tmp_path / "queue.json"
    target.write_bytes(b"old")
    write_atomically(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["queue.json"]


def test_new_file_is_private_unless_a_mode_is_given(tmp_path: Path) -> None:
    """A new file is 0600 (it may hold a password hash); an explicit mode is applied."""
    write_atomically(tmp_path / "a", b"x")
    write_atomically(tmp_path / "b", b"x", mode=0o644)
    assert (mode_of(tmp_path / "a"), mode_of(tmp_path / "b")) == (0o600, 0o644)


def test_keep_mode_keeps_the_bits_of_the_file_replaced(tmp_path: Path) -> None:
    """keep_mode: a file the user made 0640 stays 0640 after the rewrite."""
    target = tmp_path / "queue.json"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    write_atomically(target, b"new", keep_mode=True)
    assert mode_of(target) == 0o640


def test_failure_inside_the_block_leaves_the_old_file(tmp_path: Path) -> None:
    """An exception while writing leaves the original byte for byte and removes the temp file."""
    target = tmp_path / "qBittorrent.conf"
    target.write_bytes(b"original")
    with pytest.raises(RuntimeError), replacing(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk trouble")
    assert target.read_bytes() == b"original"
    assert [p.name for p in tmp_path.iterdir()] == ["qBittorrent.conf"]


def test_missing_directories_are_created(tmp_path: Path) -> None:
    """The target's directory is created, as a first write into a new profile needs."""
    target = tmp_path / "profile" / "config" / "qBittorrent.conf"
    write_atomically(target, b"[LegalNotice]\n")
    assert target.read_bytes() == b"[LegalNotice]\n"
