"""The spec's JSON queue file: tolerant reading, byte-compatible atomic writing."""

from __future__ import annotations

import os
import stat
import tempfile
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qbfailover.errors import StoreError
from qbfailover.ledger.queuefile import (
    DEFAULT_INSTRUCTIONS,
    QueueFile,
    now_iso,
    read_queue_file,
    render_queue_file,
    write_queue_file,
)

SPEC_EXAMPLE = """\
{
  "saved_at": "2025-11-28T15:30:00.123456",
  "reason": "VPN/qBittorrent unavailable",
  "magnets": [
    "magnet:?xt=urn:btih:abc123def456...&dn=Audiobook+Title+1"
  ],
  "instructions": "Manually add these to qBittorrent when available, or paste into web UI"
}
"""


def _put(tmp_path: Path, text: str | bytes, name: str = "qbittorrent_queue.json") -> Path:
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


def test_spec_example_round_trips_byte_for_byte(tmp_path: Path) -> None:
    """Reading the spec's example and rendering it again gives the very same bytes."""
    q = read_queue_file(_put(tmp_path, SPEC_EXAMPLE))
    assert q == QueueFile(
        saved_at="2025-11-28T15:30:00.123456",
        reason="VPN/qBittorrent unavailable",
        magnets=["magnet:?xt=urn:btih:abc123def456...&dn=Audiobook+Title+1"],
        instructions=DEFAULT_INSTRUCTIONS,
    )
    assert render_queue_file(q) == SPEC_EXAMPLE
    out = tmp_path / "out.json"
    write_queue_file(out, q)
    assert out.read_bytes() == SPEC_EXAMPLE.encode("utf-8")


def test_missing_metadata_gets_defaults(tmp_path: Path) -> None:
    """Only "magnets" is required; saved_at, reason and instructions default."""
    q = read_queue_file(_put(tmp_path, '{"magnets": ["magnet:?xt=urn:btih:x"]}'))
    assert q == QueueFile("", "", ["magnet:?xt=urn:btih:x"], DEFAULT_INSTRUCTIONS)


def test_null_metadata_counts_as_missing(tmp_path: Path) -> None:
    """A null saved_at/reason/instructions is treated like an absent one."""
    text = '{"saved_at": null, "reason": null, "magnets": [], "instructions": null}'
    assert read_queue_file(_put(tmp_path, text)) == QueueFile("", "", [], DEFAULT_INSTRUCTIONS)


def test_invalid_magnets_are_kept_for_the_caller(tmp_path: Path) -> None:
    """Strings that are not magnets are returned as found: judging them is the caller's job."""
    q = read_queue_file(_put(tmp_path, '{"magnets": ["not a magnet", ""]}'))
    assert q.magnets == ["not a magnet", ""]


def test_utf8_bom_is_tolerated(tmp_path: Path) -> None:
    """A file saved with a BOM by a Windows editor still reads."""
    path = _put(tmp_path, b"\xef\xbb\xbf" + SPEC_EXAMPLE.encode("utf-8"))
    assert read_queue_file(path).reason == "VPN/qBittorrent unavailable"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"magnets": [\n  "a",\n  ]\n}', "line 3 column 3"),
        ("", "line 1 column 1"),
        ('["magnet:?xt=urn:btih:x"]', 'not an object with a "magnets" list'),
        ('{"saved_at": "x"}', 'no "magnets" list'),
        ('{"magnets": "magnet:?xt=urn:btih:x"}', '"magnets" is a string, not a list'),
        ('{"magnets": ["a", "b", 3]}', '"magnets"[2] is a number, not a string'),
        ('{"magnets": [null]}', '"magnets"[0] is null'),
        ('{"magnets": [], "reason": 5}', '"reason" is a number'),
        ('{"magnets": [], "saved_at": ["x"]}', '"saved_at" is a list'),
        ('{"magnets": [], "instructions": {}}', '"instructions" is an object'),
    ],
)
def test_malformed_files_raise_store_error_naming_file_and_problem(
    tmp_path: Path, text: str, expected: str
) -> None:
    """Malformed JSON or wrong types give one line naming the file, the spot and a fix."""
    path = _put(tmp_path, text)
    with pytest.raises(StoreError) as info:
        read_queue_file(path)
    message = str(info.value)
    assert str(path) in message
    assert expected in message
    assert "\n" not in message
    assert ";" in message  # The fix follows the problem.


def test_not_utf8_is_a_store_error(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are reported with their offset, not as a crash."""
    path = _put(tmp_path, b'{"magnets": ["\xff"]}')
    with pytest.raises(StoreError, match="not UTF-8"):
        read_queue_file(path)


def test_missing_file_is_a_store_error(tmp_path: Path) -> None:
    """A file that cannot be read is a StoreError naming it."""
    path = tmp_path / "nope.json"
    with pytest.raises(StoreError, match=r"cannot read queue file .*nope\.json"):
        read_queue_file(path)


def test_failed_replace_leaves_original_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the final rename fails, the old file is untouched and no temp file is left."""
    path = _put(tmp_path, SPEC_EXAMPLE)

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StoreError, match="previous file is unchanged"):
        write_queue_file(path, QueueFile("now", "r", ["magnet:?xt=urn:btih:y"]))
    assert path.read_text(encoding="utf-8") == SPEC_EXAMPLE
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_interrupted_write_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A KeyboardInterrupt mid-write propagates as is and cleans up the temp file."""
    path = _put(tmp_path, SPEC_EXAMPLE)

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_queue_file(path, QueueFile("now", "r", []))
    assert path.read_text(encoding="utf-8") == SPEC_EXAMPLE
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_write_creates_parent_directories(tmp_path: Path) -> None:
    """Writing into a directory that does not exist yet creates it."""
    path = tmp_path / "a" / "b" / "queue.json"
    write_queue_file(path, QueueFile("t", "r", ["m"]))
    assert read_queue_file(path) == QueueFile("t", "r", ["m"])


def test_write_to_unwritable_place_is_a_store_error(tmp_path: Path) -> None:
    """A parent that is a regular file makes a clear StoreError, not an OSError."""
    blocker = _put(tmp_path, "x", name="blocker")
    with pytest.raises(StoreError, match="cannot write queue file"):
        write_queue_file(blocker / "queue.json", QueueFile("t", "r", []))


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_permissions_kept_on_rewrite_and_private_when_new(tmp_path: Path) -> None:
    """An existing file keeps its mode across a rewrite; a new file is 0600."""
    old = _put(tmp_path, SPEC_EXAMPLE)
    old.chmod(0o640)
    write_queue_file(old, QueueFile("t", "r", []))
    assert stat.S_IMODE(old.stat().st_mode) == 0o640
    new = tmp_path / "new.json"
    write_queue_file(new, QueueFile("t", "r", []))
    assert stat.S_IMODE(new.stat().st_mode) == 0o600


def test_non_ascii_is_written_as_is(tmp_path: Path) -> None:
    """Names in other scripts stay readable in the file (ensure_ascii=False) and round-trip."""
    q = QueueFile("t", "VPN недоступен", ["magnet:?xt=urn:btih:x&dn=Hörbuch+日本"])
    path = tmp_path / "q.json"
    write_queue_file(path, q)
    assert "Hörbuch+日本" in path.read_text(encoding="utf-8")
    assert read_queue_file(path) == q


def test_now_iso_matches_the_spec_format() -> None:
    """saved_at is naive local ISO time with exactly six fractional digits."""
    value = now_iso()
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is None
    assert len(value.rpartition(".")[2]) == 6


@given(
    saved_at=st.text(),
    reason=st.text(),
    magnets=st.lists(st.text()),
    instructions=st.text(),
)
def test_render_then_read_is_identity(
    saved_at: str, reason: str, magnets: list[str], instructions: str
) -> None:
    """Any QueueFile survives render → parse unchanged (property)."""
    q = QueueFile(saved_at, reason, magnets, instructions)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "q.json"
        write_queue_file(path, q)
        assert read_queue_file(path) == q
