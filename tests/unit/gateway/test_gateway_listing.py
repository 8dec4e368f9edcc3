"""torrents/info filters over the merged view, and follow-up commands folded into add options."""

from __future__ import annotations

from typing import Any

from qbfailover.gateway.commands import amended
from qbfailover.gateway.listing import client_state, select
from qbfailover.qbt.options import AddOptions


def t(h: str, **kw: Any) -> dict[str, Any]:
    return {"hash": h, "name": h, "state": "downloading", "category": "", "tags": "", "dlspeed": 0, **kw}


TORRENTS = [
    t("a", category="tv", tags="x, y", state="pausedDL", added_on=3),
    t("b", category="tv", state="uploading", dlspeed=0, upspeed=5, added_on=1),
    t("c", category="", tags="y", state="stalledDL", added_on=2),
    t("d", category="movies", state="error", added_on=4),
]


def hashes(params: dict[str, str]) -> list[str]:
    return [x["hash"] for x in select(TORRENTS, params)]


def test_filters_category_tag_and_hashes() -> None:
    assert hashes({"category": "tv"}) == ["a", "b"]
    assert hashes({"category": ""}) == ["c"]
    assert hashes({"tag": "y"}) == ["a", "c"]
    assert hashes({"tag": ""}) == ["b", "d"]
    assert hashes({"hashes": "D|a"}) == ["a", "d"]
    assert hashes({"filter": "paused"}) == hashes({"filter": "stopped"}) == ["a"]
    assert hashes({"filter": "seeding"}) == ["b"]
    assert hashes({"filter": "stalled"}) == ["c"]
    assert hashes({"filter": "errored"}) == ["d"]
    assert hashes({"filter": "active"}) == ["b"]
    assert hashes({"filter": "no-such-filter"}) == ["a", "b", "c", "d"]


def test_sort_reverse_limit_and_offset() -> None:
    assert hashes({"sort": "added_on"}) == ["b", "c", "a", "d"]
    assert hashes({"sort": "added_on", "reverse": "true"}) == ["d", "a", "c", "b"]
    assert hashes({"sort": "added_on", "limit": "2", "offset": "1"}) == ["c", "a"]
    assert hashes({"offset": "-1"}) == ["d"]
    assert hashes({"limit": "junk"}) == ["a", "b", "c", "d"]


def test_5x_state_names_are_shown_in_the_4x_dialect() -> None:
    assert client_state("stoppedDL") == "pausedDL"
    assert client_state("stoppedUP") == "pausedUP"
    assert client_state("downloading") == "downloading"
    assert client_state(None) == "unknown"


def test_commands_on_a_queued_item_become_its_add_options() -> None:
    base = AddOptions(category="tv", tags="a").as_dict()
    assert amended(base, "setCategory", {"category": "movies"}) == {"category": "movies", "tags": "a"}
    assert amended(base, "addTags", {"tags": "b, a"})["tags"] == "a,b"  # type: ignore[index]
    assert amended({"tags": "a,b"}, "removeTags", {"tags": "a"}) == {"tags": "b"}
    assert amended(base, "pause", {})["paused"] is True  # type: ignore[index]
    started = amended({"paused": True}, "start", {})
    assert started is not None and AddOptions.from_mapping(started).form()["paused"] == "false"
    limits = amended({}, "setShareLimits", {"ratioLimit": "2", "seedingTimeLimit": "60"})
    assert limits == {"ratioLimit": "2", "seedingTimeLimit": "60"}
    assert amended({}, "setLocation", {"location": "/d"}) == {"savepath": "/d", "autoTMM": "false"}
    assert amended({}, "topPrio", {}) == {"addToTopOfQueue": "true"}
    assert amended({}, "toggleSequentialDownload", {}) == {"sequentialDownload": "true"}
    assert amended({}, "recheck", {}) == {}
    assert amended({}, "filePrio", {"id": "0", "priority": "1"}) is None


def test_add_options_round_trip_every_field_and_read_old_rows() -> None:
    form = {
        "category": "tv",
        "tags": "a,b",
        "savepath": "/x",
        "stopped": "true",
        "rename": "n",
        "upLimit": "10",
        "dlLimit": "20",
        "autoTMM": "false",
        "skip_checking": "true",
        "sequentialDownload": "true",
        "contentLayout": "Subfolder",
        "ratioLimit": "1.5",
        "bogus": "1",
    }
    o = AddOptions.from_form(form)
    assert o.paused and AddOptions.from_mapping(o.as_dict()) == o
    sent = o.form()
    assert sent["paused"] == sent["stopped"] == "true"
    assert sent["upLimit"] == "10" and sent["contentLayout"] == "Subfolder" and "bogus" not in sent
    old = {"category": "books", "tags": "x", "paused": True}  # a row written before `more` existed
    assert AddOptions.from_mapping(old) == AddOptions(category="books", tags="x", paused=True)
    start = AddOptions.from_form({"paused": "false"})
    assert not start.paused and start.form() == {"paused": "false", "stopped": "false"}


def test_split_list_keeps_each_torrents_text_and_maps_5x_states() -> None:
    from qbfailover.gateway.listing import split_list

    text = (
        '[ {"hash":"AB","state":"stoppedDL","category":"tv","x":[1,{"y":2}]} ,\n'
        '{"hash":"cd","state":"uploading"},3]'
    )
    got = list(split_list(text))
    assert [t.hash for t in got] == ["ab", "cd"]
    assert got[0].state == "pausedDL" and '"pausedDL"' in got[0].raw and got[0].get("x") == [1, {"y": 2}]
    assert got[1].raw == '{"hash":"cd","state":"uploading"}'
    assert select(got, {"filter": "paused"}) == [got[0]]
    assert list(split_list("[]")) == []
    for bad in ("{}", "[1", '[{"hash":"a"} {"hash":"b"}]', ""):
        try:
            list(split_list(bad))
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad!r}")
