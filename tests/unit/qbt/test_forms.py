"""The one-pass form encoder gives exactly the bytes httpx's ``data=`` (urlencode) would."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from hypothesis import given
from hypothesis import strategies as st

from qbfailover.qbt.forms import form, form_body, quote_form

_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=60)


@given(st.dictionaries(_TEXT, _TEXT, max_size=5))
def test_form_body_is_urlencode(fields: dict[str, str]) -> None:
    assert form_body(fields) == urlencode(fields).encode()


@given(st.text(st.characters(max_codepoint=127), max_size=200))
def test_ascii_text_quotes_as_quote_plus(text: str) -> None:
    assert quote_form(text) == urlencode({"": text})[1:]


def test_hash_lists_and_magnet_blocks_round_trip() -> None:
    hashes = "|".join(f"{i:040x}" for i in range(300))
    magnets = "\n".join(f"magnet:?xt=urn:btih:{i:040x}&dn=n%C3%A9+{i}%25 é" for i in range(50))
    fields = {"hashes": hashes, "urls": magnets, "category": "a b&c=d"}
    body = form_body(fields)
    assert body == urlencode(fields).encode()
    assert dict(parse_qsl(body.decode(), keep_blank_values=True)) == fields


def test_form_sends_a_form_content_type() -> None:
    kwargs = form({"a": "1"})
    assert kwargs == {"content": b"a=1", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
