"""The gateway's login rules: sessions, bans, credentials, and qBittorrent's CSRF/Host checks."""

from __future__ import annotations

from qbfailover.gateway.security import Bans, Credentials, Sessions, cross_site, host_allowed


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sessions_expire_after_idle_timeout_and_end_on_logout() -> None:
    clock = Clock()
    s = Sessions(clock, timeout=60)
    sid = s.start()
    assert s.valid(sid) and not s.valid("forged") and not s.valid(None)
    clock.now += 59
    assert s.valid(sid)  # use renews
    clock.now += 59
    assert s.valid(sid)
    clock.now += 61
    assert not s.valid(sid)
    other = s.start()
    s.end(other)
    assert not s.valid(other)


def test_five_failures_ban_even_the_right_password_until_the_ban_ends() -> None:
    clock = Clock()
    b = Bans(clock, max_failures=5, ban_seconds=3600)
    for _ in range(4):
        b.failed("127.0.0.9")
    assert not b.banned("127.0.0.9")
    b.succeeded("127.0.0.9")  # a success resets the count
    for _ in range(4):
        b.failed("127.0.0.9")
    assert not b.banned("127.0.0.9")
    b.failed("127.0.0.9")
    assert b.banned("127.0.0.9") and not b.banned("127.0.0.8")
    clock.now += 3600
    assert not b.banned("127.0.0.9")


def test_credentials_match_only_the_exact_pair_and_hide_the_password() -> None:
    c = Credentials("alice", "s3cret")
    assert c.match("alice", "s3cret")
    assert not c.match("alice", "s3cre") and not c.match("Alice", "s3cret") and not c.match("", "")
    assert "s3cret" not in repr(c)


def test_cross_site_compares_origin_else_referer_with_host() -> None:
    assert not cross_site("127.0.0.1:8080", None, None)
    assert not cross_site("127.0.0.1:8080", "http://127.0.0.1:8080", None)
    assert cross_site("127.0.0.1:8080", "http://evil.example", None)
    assert cross_site("127.0.0.1:8080", "http://127.0.0.1:9090", None)
    assert not cross_site("127.0.0.1:8080", None, "http://127.0.0.1:8080/page")
    assert cross_site("127.0.0.1:8080", None, "http://evil.example/x")
    assert cross_site("127.0.0.1:8080", "http://[bad", None)


def test_host_header_must_name_our_port_and_address_or_a_domain() -> None:
    domains = ("localhost", "*.lan")
    assert host_allowed("127.0.0.1:8080", 8080, "127.0.0.1", domains)
    assert host_allowed("127.0.0.1", 8080, "127.0.0.1", domains)
    assert host_allowed("localhost:8080", 8080, "127.0.0.1", domains)
    assert host_allowed("nas.lan:8080", 8080, "127.0.0.1", domains)
    assert not host_allowed("127.0.0.1:8081", 8080, "127.0.0.1", domains)
    assert not host_allowed("evil.example:8080", 8080, "127.0.0.1", domains)
    assert not host_allowed(None, 8080, "127.0.0.1", domains)
    assert not host_allowed("127.0.0.1:8080\r\nX: y", 8080, "127.0.0.1", domains)
