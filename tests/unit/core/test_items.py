"""Items: magnets, .torrent bytes and URLs become infohashes and names, or one-line ItemErrors."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import bencode
from qbfailover.core import items
from qbfailover.core.items import Item, item_from_ledger, parse_magnet, parse_torrent, parse_url
from qbfailover.engine.inputs import parse_item
from qbfailover.errors import ItemError

HEX = "0123456789abcdef0123456789abcdef01234567"
B32 = base64.b32encode(bytes.fromhex(HEX)).decode()  # 32 characters, A-Z2-7
V2 = "a1b2c3d4" * 8  # 64 hex digits: a SHA-256 infohash
BTMH = "1220" + V2


def v1_info(name: str = "Book One", pieces: bytes = b"\x01" * 20) -> dict[str, object]:
    return {"name": name, "piece length": 16384, "pieces": pieces, "length": 5}


def v2_info(name: str = "Book Two") -> dict[str, object]:
    tree = {"a.mp3": {"": {"length": 5, "pieces root": b"\x11" * 32}}}
    return {"name": name, "piece length": 16384, "meta version": 2, "file tree": tree}


def hybrid_info(name: str = "Book Three") -> dict[str, object]:
    return {**v1_info(name), **v2_info(name)}


def torrent(info: dict[str, object]) -> bytes:
    return bencode({"announce": "", "created by": "test", "info": info})


def one_line(exc: pytest.ExceptionInfo[ItemError]) -> str:
    message = str(exc.value)
    assert message and "\n" not in message and "\r" not in message
    return message


# --- magnets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "v1", "v2", "name"),
    [
        (f"magnet:?xt=urn:btih:{HEX}", HEX, None, HEX),
        (f"magnet:?xt=urn:btih:{HEX.upper()}&dn=Upper", HEX, None, "Upper"),
        (f"MAGNET:?xt=URN:BTIH:{HEX.upper()}", HEX, None, HEX),
        (f"magnet:?xt=urn:btih:{B32}&dn=b32", HEX, None, "b32"),
        (f"magnet:?xt=urn:btih:{B32.lower()}", HEX, None, HEX),
        (f"magnet:?xt=urn:btmh:{BTMH}&dn=v2", None, V2, "v2"),
        (f"magnet:?xt=urn:btmh:{BTMH.upper()}", None, V2, V2),
        (f"magnet:?xt=urn:btih:{HEX}&xt=urn:btmh:{BTMH}&dn=hybrid", HEX, V2, "hybrid"),
        (f"magnet:?xt.1=urn:btih:{HEX}&xt.2=urn:btmh:{BTMH}", HEX, V2, HEX),
        (f"magnet:?dn=first&xt.1=urn:btih:{HEX}", HEX, None, "first"),
        (f"magnet:?xt=urn:btih:{HEX}&dn=Audiobook+Title+1", HEX, None, "Audiobook Title 1"),
        (f"magnet:?xt=urn:btih:{HEX}&dn=A%20B%26C%2BD", HEX, None, "A B&C+D"),
        (f"magnet:?xt=urn:btih:{HEX}&dn=%C3%89t%C3%A9", HEX, None, "Été"),
        (f"magnet:?xt=urn:btih:{HEX}&dn=", HEX, None, HEX),
        (f"magnet:?xt=urn:btih:{HEX}&dn=+++", HEX, None, HEX),
        (f"  \tmagnet:?xt=urn:btih:{HEX}&dn=x&xl=16384\n ", HEX, None, "x"),
        (f"magnet:?xt=urn%3Abtih%3A{HEX}", HEX, None, HEX),
    ],
)
def test_magnet_hashes_and_names(uri: str, v1: str | None, v2: str | None, name: str) -> None:
    """Magnets yield lower-case v1 (hex or base32) and v2 (btmh 1220…) hashes and a decoded dn."""
    item = parse_magnet(uri)
    assert (item.kind, item.v1, item.v2, item.name) == ("magnet", v1, v2, name)
    assert item.source == uri.strip()


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("magnet:?dn=no+hash", "no xt="),
        ("magnet:?", "no xt="),
        ("magnet:?xt=urn:sha1:ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "no urn:btih: or urn:btmh:"),
        (f"magnet:?xt=urn:btih:{HEX[:-1]}", "got 39"),
        (f"magnet:?xt=urn:btih:{HEX}0", "got 41"),
        (f"magnet:?xt=urn:btih:{B32[:-1]}", "got 31"),
        (f"magnet:?xt=urn:btih:{B32}A", "got 33"),
        ("magnet:?xt=urn:btih:" + "g" * 40, "40 hex or 32 base32"),
        ("magnet:?xt=urn:btih:", "got 0"),
        (f"magnet:?xt=urn:btmh:{V2}", "SHA-256 multihash"),
        (f"magnet:?xt=urn:btmh:1114{V2}", "SHA-256 multihash"),
        (f"magnet:?xt=urn:btmh:{BTMH[:-2]}", "SHA-256 multihash"),
        (f"magnet:?xt=urn:btih:{HEX}&xt=urn:btmh:1220", "SHA-256 multihash"),
        (f"magnet:xt=urn:btih:{HEX}", "not a magnet link"),
        (f"http://example.org/?xt=urn:btih:{HEX}", "not a magnet link"),
        ("just some text", "not a magnet link"),
        ("", "not a magnet link"),
        (f"magnet:?xt=urn:btih:{HEX}\n&dn=split", "line break"),
        (f"magnet:?xt=urn:btih:{HEX}&dn=a\rb", "line break"),
        (f"magnet:?xt=urn:btih:{HEX}&dn=a\x00b", "control character"),
    ],
)
def test_bad_magnets_are_rejected_in_one_line(uri: str, why: str) -> None:
    """Malformed magnets raise ItemError with a one-line message saying what is wrong."""
    with pytest.raises(ItemError) as exc:
        parse_magnet(uri)
    assert why in one_line(exc)


def test_long_magnet_is_shortened_in_the_message() -> None:
    """An error quotes at most 80 characters of the input, so a pasted blob stays readable."""
    with pytest.raises(ItemError) as exc:
        parse_magnet("magnet:?dn=" + "x" * 5000)
    assert len(one_line(exc)) < 200


# --- .torrent files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("info", "has_v1", "has_v2"),
    [(v1_info(), True, False), (v2_info(), False, True), (hybrid_info(), True, True)],
    ids=["v1", "v2-only", "hybrid"],
)
def test_torrent_infohashes(info: dict[str, object], has_v1: bool, has_v2: bool) -> None:
    """v1 = SHA-1 and v2 = SHA-256 of the info dict; v2-only torrents (meta version 2) have no v1."""
    raw_info = bencode(info)
    item = parse_torrent(torrent(info), source="book.torrent")
    assert item.kind == "torrent" and item.source == "book.torrent"
    assert item.name == info["name"]
    assert item.v1 == (hashlib.sha1(raw_info).hexdigest() if has_v1 else None)
    assert item.v2 == (hashlib.sha256(raw_info).hexdigest() if has_v2 else None)
    assert item.data == torrent(info)


def test_torrent_hash_uses_the_exact_info_bytes() -> None:
    """The infohash is of the info dict's bytes as written (unsorted keys), never a re-encoding."""
    raw_info = b"d4:name4:Odd!6:lengthi5e12:piece lengthi16384e6:pieces20:" + b"\x02" * 20 + b"e"
    assert raw_info != bencode(v1_info("Odd!", b"\x02" * 20))  # sorted, "length" would come first
    data = b"d8:announce0:4:info" + raw_info + b"e"
    item = parse_torrent(data)
    assert item.v1 == hashlib.sha1(raw_info).hexdigest()
    assert item.name == "Odd!"


def test_torrent_without_name_is_named_by_its_hash() -> None:
    """A torrent whose info dict lacks a name is shown by its infohash."""
    info = {"piece length": 16384, "pieces": b"\x03" * 20, "length": 1}
    item = parse_torrent(torrent(info))
    assert item.name == item.v1 == hashlib.sha1(bencode(info)).hexdigest()


def test_torrent_name_with_bad_utf8_is_replaced_not_fatal() -> None:
    """A name that is not UTF-8 still parses (replacement characters), the hash is unaffected."""
    item = parse_torrent(torrent(v1_info(name="x")).replace(b"4:name1:x", b"4:name2:\xff\xfe"))
    assert item.v1 is not None and "\ufffd" in item.name


VALID = torrent(v1_info())


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "empty file"),
        (b"garbage", "not a valid .torrent"),
        (b"<html>404</html>", "not a valid .torrent"),
        (VALID[: len(VALID) // 2], "not a valid .torrent"),
        (VALID[:-1], "not a valid .torrent"),
        (VALID + b"x", "no top-level dictionary"),
        (b"le", "no top-level dictionary"),
        (b"i42e", "no top-level dictionary"),
        (b"de", "no info dictionary"),
        (b"d4:infoi1ee", "no info dictionary"),
        (b"d4:infol4:nameee", "no info dictionary"),
        (b"d4:infod4:name99999999:abcee", "string runs past the end"),
        (b"d4:infod4:name" + b"9" * 5000 + b":xee", "not a valid .torrent"),
        (b"d4:infod6:lengthi01eee", "bad integer"),
        (b"d4:infod6:lengthi-0eee", "bad integer"),
        (b"d4:infod6:lengthieee", "bad integer"),
        (b"d4:infod6:lengthi12", "not a valid .torrent"),
        (b"di1ei2ee", "key is not a string"),
        (b"d4:info-1:xe", "not a valid .torrent"),
        (b"d4:info3x:abce", "not a valid .torrent"),
        (b"l" * 100_000, "nesting too deep"),
        (b"d4:info" + b"l" * 100_000, "nesting too deep"),
        (b"d1:a" * 50_000, "nesting too deep"),
    ],
)
def test_broken_torrents_are_rejected_in_one_line(data: bytes, why: str) -> None:
    """Truncated, garbage, empty, over-long or deeply nested bencode is one ItemError line, never a crash."""
    with pytest.raises(ItemError) as exc:
        parse_torrent(data, source="bad.torrent")
    message = one_line(exc)
    assert message.startswith("bad.torrent: ") and why in message


def test_every_truncation_of_a_torrent_is_an_item_error() -> None:
    """Each proper prefix of a valid torrent (a download cut short) is rejected as ItemError."""
    data = torrent(hybrid_info())
    for end in range(len(data)):
        with pytest.raises(ItemError):
            parse_torrent(data[:end])


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_escape_as_other_exceptions(data: bytes) -> None:
    """Whatever the bytes, parse_torrent returns an Item or raises ItemError, nothing else."""
    try:
        item = parse_torrent(data)
    except ItemError as exc:
        assert "\n" not in str(exc)
    else:
        assert item.confirmable


def test_oversized_torrent_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bytes beyond MAX_TORRENT_BYTES are refused before any parsing."""
    monkeypatch.setattr(items, "MAX_TORRENT_BYTES", 64)
    with pytest.raises(ItemError) as exc:
        parse_torrent(b"d" + b"1:a" * 40 + b"e")
    assert "too large" in one_line(exc)


# --- URLs and parse_item --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("http://tracker.example/dl/book.torrent", "book.torrent"),
        ("https://tracker.example:8443/dl.php?id=5", "dl.php"),
        ("https://tracker.example", "tracker.example"),
        ("  https://[::1]:8080/x.torrent  ", "x.torrent"),
    ],
)
def test_urls_are_accepted(url: str, name: str) -> None:
    """http(s) URLs with a host are items qBittorrent fetches itself (no infohash known)."""
    item = parse_item(url)
    assert (item.kind, item.source, item.name) == ("url", url.strip(), name)
    assert item == parse_url(url)
    assert not item.confirmable


@pytest.mark.parametrize(
    "url",
    [
        "ftp://tracker.example/book.torrent",
        "file:///etc/passwd",
        "http://tracker.example/a book.torrent",
        "http://tracker.example/a\tb",
        "http:///path/only",
        "http://:80/x",
        "http://",
        "https://host:99999/x",
        "https://host:port/x",
        "http://[::1/x",
        "tracker.example/book.torrent",
    ],
)
def test_bad_urls_are_rejected(url: str) -> None:
    """Non-http(s) schemes, whitespace, missing hosts and bad ports raise a one-line ItemError."""
    with pytest.raises(ItemError) as exc:
        parse_url(url)
    one_line(exc)


@pytest.mark.parametrize(
    "text",
    [
        "ftp://tracker.example/book.torrent",
        "http://tracker.example/a book.torrent",
        "http:///no-host",
        "http://[::1",
        "",
        "   ",
        "a\x00b",
        "line one\nline two",
        HEX[:-1],
    ],
)
def test_parse_item_rejects_what_is_neither_magnet_url_nor_file(text: str) -> None:
    """parse_item turns anything undeliverable into one ItemError line (even NUL bytes, newlines)."""
    with pytest.raises(ItemError) as exc:
        parse_item(text)
    one_line(exc)


def test_parse_item_bare_hash_becomes_magnet() -> None:
    """A bare 40-hex infohash (any case) is a magnet for that v1 hash."""
    item = parse_item(f"  {HEX.upper()} ")
    assert (item.kind, item.v1, item.v2, item.source) == ("magnet", HEX, None, f"magnet:?xt=urn:btih:{HEX}")


def test_parse_item_reads_torrent_file(tmp_path: Path) -> None:
    """A path to a .torrent file is read and hashed; the source is the path."""
    path = tmp_path / "book.torrent"
    path.write_bytes(torrent(hybrid_info("From File")))
    item = parse_item(f" {path} ")
    assert (item.kind, item.source, item.name) == ("torrent", str(path), "From File")
    assert item.v1 is not None and item.v2 is not None


def test_parse_item_missing_and_unreadable_paths(tmp_path: Path) -> None:
    """A missing path or a directory is an ItemError naming the input, not an OSError."""
    with pytest.raises(ItemError, match=r"not a magnet, URL or existing \.torrent file"):
        parse_item(str(tmp_path / "missing.torrent"))
    with pytest.raises(ItemError, match="cannot read"):
        parse_item(str(tmp_path))


def test_parse_item_reads_at_most_the_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """An endless file (/dev/zero typed by mistake) is refused as too large, not read forever."""
    monkeypatch.setattr(items, "MAX_TORRENT_BYTES", 1024)
    with pytest.raises(ItemError, match="too large"):
        parse_item("/dev/zero")


def test_parse_item_dispatches_magnets() -> None:
    """parse_item hands magnets to parse_magnet (whatever the case of the scheme)."""
    assert parse_item(f"Magnet:?xt=urn:btih:{HEX}") == parse_magnet(f"Magnet:?xt=urn:btih:{HEX}")


# --- Item ---------------------------------------------------------------------------------------


V1_ITEM = parse_magnet(f"magnet:?xt=urn:btih:{HEX}")
V2_ITEM = parse_magnet(f"magnet:?xt=urn:btmh:{BTMH}")
HYBRID_ITEM = parse_magnet(f"magnet:?xt=urn:btih:{HEX}&xt=urn:btmh:{BTMH}")
URL_ITEM = parse_url("https://tracker.example/x.torrent")


@pytest.mark.parametrize(
    ("item", "hashes", "key", "confirmable"),
    [
        (V1_ITEM, {HEX}, HEX, True),
        (V2_ITEM, {V2, V2[:40]}, V2, True),
        (HYBRID_ITEM, {HEX, V2, V2[:40]}, HEX, True),
        (URL_ITEM, set(), "https://tracker.example/x.torrent", False),
    ],
    ids=["v1", "v2", "hybrid", "url"],
)
def test_item_identity(item: Item, hashes: set[str], key: str, confirmable: bool) -> None:
    """hashes covers what qBittorrent may report (v2 cut to 40), the ledger key prefers v1."""
    assert item.hashes == frozenset(hashes)
    assert (item.key, item.confirmable) == (key, confirmable)


def test_item_repr_leaves_out_torrent_bytes() -> None:
    """repr(Item) never dumps the .torrent bytes (they can be megabytes)."""
    item = parse_torrent(torrent(v1_info(pieces=b"SECRETMARKERxxxxxxxx")), source="b.torrent")
    assert item.data is not None and b"SECRETMARKER" in item.data
    assert "SECRETMARKER" not in repr(item) and "data=" not in repr(item)


@pytest.mark.parametrize(
    "item",
    [
        V1_ITEM,
        V2_ITEM,
        HYBRID_ITEM,
        URL_ITEM,
        parse_magnet(f"magnet:?xt=urn:btih:{B32}&dn=A+B"),
        parse_torrent(torrent(v1_info()), source="/x/one.torrent"),
        parse_torrent(torrent(v2_info()), source="/x/two.torrent"),
        parse_torrent(torrent(hybrid_info()), source="/x/three.torrent"),
    ],
)
def test_ledger_round_trip(item: Item) -> None:
    """What the ledger stores (kind + payload) rebuilds an equal item."""
    assert item_from_ledger(item.kind, item.payload(), source=item.source) == item


@pytest.mark.parametrize(
    ("kind", "payload", "why"),
    [
        ("magnet", b"\xff\xfe", "not UTF-8"),
        ("magnet", b"magnet:?dn=x", "no xt="),
        ("torrent", b"", "empty file"),
        ("url", b"ftp://x/y", "not an http(s) URL"),
        ("carrier-pigeon", f"magnet:?xt=urn:btih:{HEX}".encode(), "unknown item kind"),
    ],
)
def test_ledger_bad_rows_are_item_errors(kind: str, payload: bytes, why: str) -> None:
    """A damaged or unknown ledger row raises ItemError naming the problem."""
    with pytest.raises(ItemError) as exc:
        item_from_ledger(kind, payload, source="ledger#7")
    assert why in one_line(exc)


@given(st.text(st.sampled_from("ab=&+%2CxtX.é 1dn;?#"), max_size=40))
def test_query_params_is_parse_qs(query: str) -> None:
    assert items.query_params(query) == parse_qs(query, keep_blank_values=True)


@given(
    st.integers(0, 2**160 - 1),
    st.sampled_from(["", "&dn=Some+Name", "&dn=Next%20xt", "&xt=urn:btmh:1220" + "ab" * 32, "&tr=", " "]),
    st.booleans(),
)
def test_magnets_rebuilt_from_the_ledger_match_a_full_parse(number: int, tail: str, upper: bool) -> None:
    """The shortcut for plain magnets gives exactly what parsing gives; other shapes are parsed."""
    hexhash = f"{number:040x}"
    text = f"magnet:?xt=urn:btih:{hexhash.upper() if upper else hexhash}{tail}"
    try:
        parsed = parse_magnet(text)
    except ItemError:
        with pytest.raises(ItemError):
            item_from_ledger("magnet", text.encode(), key=hexhash, name="x")
        return
    rebuilt = item_from_ledger("magnet", text.encode(), key=parsed.key, name=parsed.name)
    assert rebuilt == parsed


def test_a_ledger_magnet_whose_key_disagrees_is_parsed_in_full() -> None:
    text = f"magnet:?xt=urn:btih:{'ab' * 20}"
    item = item_from_ledger("magnet", text.encode(), key="cd" * 20, name="wrong")
    assert (item.v1, item.name) == ("ab" * 20, "ab" * 20)
