"""The gateway's own rows (waiting, just delivered) render as the full torrent documents they stand for."""

from __future__ import annotations

import json

from qbfailover.gateway.listing import WAITING_STATE
from qbfailover.gateway.waiting import waiting_listed, waiting_torrent
from qbfailover.ledger.base import Entry

H = "ab" * 20


def entry(**options: object) -> Entry:
    return Entry(
        id=7,
        key=H,
        kind="magnet",
        payload=f"magnet:?xt=urn:btih:{H}&dn=Some%20Name".encode(),
        name="Some Name",
        options=dict(options),
        state="pending",
        instance=None,
        reason="received",
        attempts=0,
        last_error=None,
        next_attempt_at=0.0,
        created_at=1700000000.5,
        updated_at=1700000000.5,
        delivered_at=None,
        uncertain=(),
    )


def test_the_fast_rendering_is_the_same_document_as_the_dict() -> None:
    e = entry(category="tv", tags="a,b", savepath="/data", rename="Renamed")
    listed = waiting_listed(e, H)
    assert json.loads(listed.raw) == waiting_torrent(e, H)
    assert (listed.hash, listed.state, listed.category, listed.tags, listed.name) == (
        H,
        WAITING_STATE,
        "tv",
        "a,b",
        "Renamed",
    )


def test_a_delivered_row_is_no_longer_queued_and_keeps_a_paused_state() -> None:
    started = json.loads(waiting_listed(entry(), H, delivered=True).raw)
    paused = json.loads(waiting_listed(entry(paused=True), H, delivered=True).raw)
    assert "qbfailover_queued" not in started and "qbfailover_queued" not in paused
    assert (started["state"], paused["state"]) == ("metaDL", "pausedDL")
    assert {**started, "state": WAITING_STATE, "qbfailover_queued": True} == waiting_torrent(entry(), H)
