"""Bad input, thousands of times: every parser either accepts or raises one clear, one-line error.

The promise pinned here: no input a user, a file or a qBittorrent reply can hand us produces an
unhandled exception (a traceback in the CLI) or a multi-line message; every refusal is a
``QbFailoverError`` subclass. Hypothesis generates the inputs: random text and bytes, and near-valid
structures (magnets, bencode, TOML, JSON, WebUI replies) that reach the deeper branches.
"""

from __future__ import annotations

import hashlib
import json
import os
import string
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import bencode
from qbfailover.config import Settings, load_settings
from qbfailover.core.items import Item, parse_magnet, parse_torrent
from qbfailover.engine.inputs import parse_item
from qbfailover.errors import (
    ConfigError,
    InstanceError,
    ItemError,
    QbFailoverError,
    Rejected,
    StoreError,
)
from qbfailover.ledger.queuefile import QueueFile, read_queue_file
from qbfailover.qbt.replies import AddReply, add_reply, info_hashes

T = TypeVar("T")
MANY = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PASSWORD = "s3cr3t-Pa55!"


def outcome(call: Callable[[], T], expected: type[QbFailoverError]) -> T | QbFailoverError:
    """Run a parser: it returns, or raises ``expected`` with a one-line message; anything else fails."""
    try:
        return call()
    except QbFailoverError as exc:
        assert isinstance(exc, expected), f"{type(exc).__name__} where {expected.__name__} was due: {exc}"
        message = str(exc)
        assert message and "\n" not in message and "\r" not in message, repr(message)
        assert "Traceback" not in message
        return exc


@contextmanager
def scratch() -> Iterator[Path]:
    """An empty working directory (parse_item reads paths; nothing random may hit real files)."""
    old = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(old)


# --- items ------------------------------------------------------------------------------------

hexhash = st.binary(min_size=20, max_size=20).map(bytes.hex)
btih = st.one_of(
    hexhash,
    hexhash.map(str.upper),
    st.binary(min_size=20, max_size=20).map(lambda b: __import__("base64").b32encode(b).decode()),
    st.text(alphabet=string.hexdigits + "xyz=&", max_size=45),
)
param = st.sampled_from(["xt", "dn", "tr", "xl", "ws", "xt.1", "xt.2", "", "&", "=", "%"])
magnets = st.builds(
    lambda pre, xts, extra: pre + "&".join([*(f"xt=urn:btih:{h}" for h in xts), *extra]),
    st.sampled_from(["magnet:?", "MAGNET:?", "magnet:", "magnet:?&", " magnet:?"]),
    st.lists(btih, max_size=3),
    st.lists(st.builds(lambda k, v: f"{k}={v}", param, st.text(max_size=20)), max_size=4),
)


@MANY
@given(st.one_of(st.text(max_size=200), magnets))
def test_parse_item_accepts_or_raises_item_error(text: str) -> None:
    """Any argument text: an Item, or one ItemError line; never another exception."""
    with scratch():
        result = outcome(lambda: parse_item(text), ItemError)
    if isinstance(result, Item):
        assert result.kind in ("magnet", "torrent", "url")
        assert result.key


@MANY
@given(magnets)
def test_parse_magnet_finds_the_hash_it_was_given(uri: str) -> None:
    """Near-valid magnets: a valid lone 40-hex xt always comes back as the (lower-case) v1 hash."""
    result = outcome(lambda: parse_magnet(uri), ItemError)
    if isinstance(result, Item):
        assert result.v1 is None or len(result.v1) == 40
        assert result.v1 is None or all(c in "0123456789abcdef" for c in result.v1)


@MANY
@given(hexhash, st.text(alphabet=string.ascii_letters + string.digits + " -_.", max_size=30))
def test_valid_magnet_round_trips(digest: str, name: str) -> None:
    """A well-formed magnet parses to exactly its infohash, whatever its display name."""
    item = parse_magnet(f"magnet:?xt=urn:btih:{digest}&dn={name}")
    assert item.v1 == digest and item.kind == "magnet"


bencoded = st.recursive(
    st.one_of(st.integers(-(10**12), 10**12), st.binary(max_size=40)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.binary(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@MANY
@given(st.one_of(st.binary(max_size=300), bencoded.map(bencode)))
def test_parse_torrent_accepts_or_raises_item_error(data: bytes) -> None:
    """Random bytes and random bencode: an Item or one ItemError line (no IndexError, RecursionError…)."""
    outcome(lambda: parse_torrent(data, "fuzz.torrent"), ItemError)


@SOME
@given(bencoded, st.binary(min_size=1, max_size=20), st.integers(1, 2**20))
def test_torrent_infohash_is_sha1_of_the_info_dict(extra: Any, name: bytes, length: int) -> None:
    """A .torrent with a v1 info dict is identified by SHA-1 of exactly that dict's bytes."""
    info = {b"name": name, b"piece length": 16384, b"pieces": b"x" * 20, b"length": length}
    raw = bencode({b"info": info, b"comment": extra})
    item = parse_torrent(raw)
    assert item.v1 == hashlib.sha1(bencode(info)).hexdigest()


@SOME
@given(st.integers(1, 5000))
def test_deeply_nested_torrent_is_an_item_error(depth: int) -> None:
    """Nesting deep enough to blow the stack is refused as an ItemError, not a RecursionError."""
    outcome(lambda: parse_torrent(b"l" * depth + b"e" * depth), ItemError)


# --- settings ---------------------------------------------------------------------------------

ENV_KEYS = [
    "QBITTORRENT_URL",
    "QBITTORRENT_SECONDARY_URL",
    "QBITTORRENT_USERNAME",
    "QBITTORRENT_PASSWORD",
    "QBITTORRENT_SECONDARY_USERNAME",
    "QBITTORRENT_SECONDARY_PASSWORD",
    "QBITTORRENT_VPN_GATEWAY",
    "QBFAILOVER_DB",
    "QBFAILOVER_DEADLINE",
    "QBFAILOVER_NOTIFY_URLS",
    "QBFAILOVER_WEBHOOK_URL",
]
env_values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "http://127.0.0.1:8080/",
            "https://[::1]:99999/",
            "http://u:p@h/",
            "tcp://h:1",
            "interface:wg0",
            "-f",
            "nan",
            "inf",
            "0",
            "1e309",
            "http://",
            "127.0.0.3",
        ]
    ),
)
envs = st.dictionaries(st.sampled_from(ENV_KEYS), env_values, max_size=8)


@MANY
@given(envs, st.text(max_size=300))
def test_settings_from_env_and_dotenv(env: dict[str, str], dotenv: str) -> None:
    """Random spec variables and .env text: Settings or one ConfigError line, never the password."""
    env = {**env, "QBITTORRENT_PASSWORD": PASSWORD}
    with scratch() as tmp:
        path = tmp / ".env"
        if _encodable(dotenv):
            path.write_text(dotenv, encoding="utf-8")
        result = outcome(lambda: load_settings(env=env, dotenv=path), ConfigError)
    if isinstance(result, QbFailoverError):
        assert PASSWORD not in str(result)
    else:
        assert isinstance(result, Settings) and result.instances
        assert PASSWORD not in repr(result)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


toml_scalar = st.one_of(
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["http://127.0.0.1:8080/", "https://h:1/", "icmp", "tcp", "127.0.0.3", "h:1"]),
)
INSTANCE_KEYS = ["name", "url", "username", "password", "password_env", "priority", "requires_vpn", "verify"]
# The known password only ever stands where a password goes: a user who types it into ``url``
# gets it echoed back in "… is not an http(s) URL", which is the point of that message.
instance_tables = st.tuples(
    st.dictionaries(
        st.sampled_from([*INSTANCE_KEYS, "connect_timeout", "read_timeout", "typo-key"]),
        toml_scalar,
        max_size=7,
    ),
    st.booleans(),
).map(lambda pair: {**pair[0], "password": PASSWORD} if pair[1] else pair[0])
documents = st.fixed_dictionaries(
    {},
    optional={
        "instances": st.one_of(st.lists(instance_tables, max_size=3), toml_scalar),
        "vpn": st.one_of(
            st.dictionaries(st.sampled_from(["kind", "target", "timeout"]), toml_scalar), toml_scalar
        ),
        "settings": st.dictionaries(
            st.sampled_from(["db", "deadline", "cooldown", "batch_size", "confirm_timeout"]), toml_scalar
        ),
    },
)


def to_toml(doc: dict[str, Any]) -> str:
    """A small TOML writer for what ``documents`` generates (tables, arrays of tables, scalars)."""

    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            return (
                "nan"
                if v != v
                else ("inf" if v == float("inf") else "-inf" if v == float("-inf") else repr(v))
            )
        if isinstance(v, int):
            return str(v)
        return json.dumps(v)

    lines: list[str] = []
    for key, value in doc.items():
        if isinstance(value, dict):
            lines.append(f"[{key}]")
            lines += [f"{json.dumps(k)} = {scalar(v)}" for k, v in value.items()]
        elif isinstance(value, list):
            for table in value:
                lines.append(f"[[{key}]]")
                lines += [f"{json.dumps(k)} = {scalar(v)}" for k, v in table.items()]
        else:
            lines.insert(0, f"{key} = {scalar(value)}")
    return "\n".join(lines) + "\n"


@MANY
@given(st.one_of(documents.map(to_toml), st.text(max_size=200)))
def test_settings_from_toml(text: str) -> None:
    """Random TOML (structured or not): Settings or one ConfigError line naming the key."""
    if not _encodable(text):
        return
    with scratch() as tmp:
        path = tmp / "qbfailover.toml"
        path.write_text(text, encoding="utf-8")
        result = outcome(lambda: load_settings(path, env={"PW": PASSWORD}, dotenv=tmp / "none"), ConfigError)
    if isinstance(result, QbFailoverError):
        assert PASSWORD not in str(result)


# --- the spec's JSON queue file ---------------------------------------------------------------

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)
queue_docs = st.fixed_dictionaries(
    {},
    optional={
        "saved_at": json_values,
        "reason": json_values,
        "magnets": st.one_of(st.lists(st.one_of(magnets, json_values), max_size=5), json_values),
        "instructions": json_values,
    },
)


@MANY
@given(
    st.one_of(
        queue_docs.map(json.dumps).map(str.encode), json_values.map(json.dumps).map(str.encode), st.binary()
    )
)
def test_read_queue_file(data: bytes) -> None:
    """Random and near-valid queue files: a QueueFile or one StoreError line naming the file."""
    with scratch() as tmp:
        path = tmp / "qbittorrent_queue.json"
        path.write_bytes(data)
        result = outcome(lambda: read_queue_file(path), StoreError)
    if isinstance(result, QueueFile):
        assert all(isinstance(m, str) for m in result.magnets)
    else:
        assert "qbittorrent_queue.json" in str(result)


@SOME
@given(queue_docs.map(json.dumps), st.integers(0, 400))
def test_truncated_queue_file(text: str, cut: int) -> None:
    """A queue file cut short anywhere (a crash while another tool wrote it): parsed or StoreError."""
    with scratch() as tmp:
        path = tmp / "q.json"
        path.write_text(text[:cut])
        outcome(lambda: read_queue_file(path), StoreError)


# --- WebUI replies ----------------------------------------------------------------------------

statuses = st.one_of(
    st.sampled_from([200, 202, 204, 400, 401, 403, 404, 409, 415, 500, 502, 503]), st.integers(100, 599)
)
bodies = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"Ok.", b"Fails.", b"", b"{}", b"[]", b"null", b'{"success_count": "x"}']),
    json_values.map(json.dumps).map(str.encode),
    st.dictionaries(
        st.sampled_from(["success_count", "failure_count", "pending_count", "added_torrent_ids"]),
        st.one_of(st.integers(), st.text(max_size=5), st.none()),
    )
    .map(json.dumps)
    .map(str.encode),
)


@MANY
@given(statuses, bodies)
def test_parse_add_reply(status: int, body: bytes) -> None:
    """Any status and body from torrents/add: an AddReply or one Rejected line with the status."""
    result = outcome(
        lambda: add_reply("primary", status, httpx.Response(status, content=body).text), InstanceError
    )
    if isinstance(result, AddReply):
        assert isinstance(result.accepted, bool)
    else:
        assert isinstance(result, Rejected) and result.status == status


torrent_entries = st.lists(
    st.one_of(
        json_values,
        st.dictionaries(
            st.sampled_from(["hash", "infohash_v1", "infohash_v2", "name"]), json_values, max_size=4
        ),
    ),
    max_size=5,
)


@MANY
@given(statuses, st.one_of(bodies, torrent_entries.map(json.dumps).map(str.encode)))
def test_parse_info_hashes(status: int, body: bytes) -> None:
    """Any torrents/info body: a set of lower-case hash strings, or one Rejected line."""
    result = outcome(
        lambda: info_hashes("primary", status, httpx.Response(status, content=body).text), InstanceError
    )
    if isinstance(result, set):
        assert all(isinstance(h, str) and h == h.lower() for h in result)
