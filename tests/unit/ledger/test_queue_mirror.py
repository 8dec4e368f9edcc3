"""The spec's queue file as a merged mirror: merge, remove, corrupt files, concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from qbfailover.ledger.queue_mirror import SPEC_REASON, QueueMirror

LINKS = [f"magnet:?xt=urn:btih:{i:040x}&dn=item{i}" for i in range(1, 7)]


def doc(path: Path) -> dict[str, object]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_merge_keeps_earlier_batches_in_order(tmp_path: Path) -> None:
    """A second outage appends: the spec's client overwrote the first batch, we never do."""
    path = tmp_path / "qbittorrent_queue.json"
    mirror = QueueMirror(path)
    mirror.merge(LINKS[:3])
    mirror.merge([LINKS[1], *LINKS[3:5]])
    d = doc(path)
    assert list(d) == ["saved_at", "reason", "magnets", "instructions"]
    assert d["magnets"] == LINKS[:5]
    assert d["reason"] == SPEC_REASON


def test_merge_keeps_a_hand_written_reason_and_instructions(tmp_path: Path) -> None:
    path = tmp_path / "q.json"
    path.write_text(json.dumps({"reason": "mine", "magnets": [LINKS[0]], "instructions": "call Bob"}))
    QueueMirror(path).merge([LINKS[1]])
    d = doc(path)
    assert (d["reason"], d["magnets"], d["instructions"]) == ("mine", LINKS[:2], "call Bob")


def test_remove_takes_exactly_the_delivered_and_deletes_when_empty(tmp_path: Path) -> None:
    path = tmp_path / "q.json"
    mirror = QueueMirror(path)
    mirror.merge(LINKS[:3])
    assert mirror.remove({LINKS[1], LINKS[5]}) is False
    assert doc(path)["magnets"] == [LINKS[0], LINKS[2]]
    assert mirror.remove({LINKS[0], LINKS[2]}) is True
    assert not path.exists()
    assert mirror.remove({LINKS[0]}) is True  # nothing there: nothing to do


def test_corrupt_file_is_set_aside_with_its_links_salvaged(tmp_path: Path) -> None:
    path = tmp_path / "q.json"
    path.write_text('{"magnets": ["' + LINKS[0] + '", "' + LINKS[1] + '", "magn')
    original = path.read_bytes()
    in_file, salvaged = QueueMirror(path).read()
    assert in_file == [] and salvaged == LINKS[:2]
    assert not path.exists()
    (aside,) = tmp_path.glob("q.json.corrupt-*")
    assert aside.read_bytes() == original  # kept byte for byte


def test_salvage_keeps_json_escaped_trackers_whole(tmp_path: Path) -> None:
    """A URL parameter with a secret path (as a private tracker's passkey), JSON-escaped (``\\/``),
    comes back whole from a corrupt file (a unit test: nothing is sent anywhere)."""
    link = "magnet:?xt=urn:btih:" + "ab" * 20 + "&dn=A,B&xs=https://t.example/PASSKEY123/x.torrent"
    path = tmp_path / "q.json"
    path.write_text('{"magnets": [' + json.dumps(link).replace("/", "\\/") + ', "magnet:?xt=urn:bt')
    _, salvaged = QueueMirror(path).read()
    assert salvaged[0] == link


def test_merge_into_a_corrupt_file_starts_a_new_one_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "q.json"
    path.write_text("[1, 2")
    salvaged = QueueMirror(path).merge([LINKS[2]])
    assert salvaged == []
    assert doc(path)["magnets"] == [LINKS[2]]
    assert len(list(tmp_path.glob("q.json.corrupt-*"))) == 1


def test_unwritable_directory_is_a_one_line_error(tmp_path: Path) -> None:
    from qbfailover.errors import StoreError

    with pytest.raises(StoreError, match="cannot lock queue file") as info:
        QueueMirror(tmp_path / "missing" / "q.json").merge([LINKS[0]])
    assert "\n" not in str(info.value)


def _writer(path: str, start: int) -> None:
    mirror = QueueMirror(Path(path))
    for i in range(start, start + 40):
        mirror.merge([f"magnet:?xt=urn:btih:{i:040x}"])


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    """Four processes merging at once: every line survives (the lock serialises read-merge-write)."""
    path = tmp_path / "q.json"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), n * 1000)) for n in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    magnets = doc(path)["magnets"]
    assert isinstance(magnets, list)
    assert len(magnets) == 160 == len(set(magnets))
