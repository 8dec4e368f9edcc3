"""The status page's rendering (Jinja2, autoescaped) and its data: escaping, base path, slots, lists."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from qbfailover.core.breaker import Guard
from qbfailover.errors import ConfigError, StoreError
from qbfailover.ledger.base import Entry
from qbfailover.ledger.sqlite import Ledger, NewEntry
from qbfailover.observe.page import normalise_base_path, page_json, refresh_seconds, render_page
from qbfailover.observe.page_data import (
    PENDING_RESCAN,
    ActivityTracker,
    DeliveryRow,
    FailbackMove,
    InstanceExtra,
    PageData,
    TransitionRecord,
    breaker_state,
    public_url,
    recent_outcomes,
    status_word,
)

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
NOW = 1_760_000_000.0


def status_doc(state: str = "BOTH_DOWN", verdict: str = "Critical", pending: int = 2) -> dict[str, Any]:
    """A status document shaped like core.health.status_document's."""
    return {
        "state": state,
        "verdict": verdict,
        "summary": f"{verdict}: summary",
        "checked_at": NOW,
        "duration_ms": 14.2,
        "vpn": {
            "status": "DOWN",
            "kind": "icmp",
            "target": "127.0.0.3",
            "latency_ms": None,
            "detail": "no reply",
        },
        "instances": [
            {
                "name": "primary",
                "url": "http://127.0.0.2:52095/",
                "status": "VPN_DOWN",
                "health": "VPN_DOWN",
                "version": "v4.5.2",
                "latency_ms": None,
                "requires_vpn": True,
                "priority": 1,
                "detail": "VPN probe failed",
            },
            {
                "name": "secondary",
                "url": "http://127.0.0.1:52095/",
                "status": "ERROR",
                "health": "ERROR: connection refused",
                "version": None,
                "latency_ms": 0.4,
                "requires_vpn": False,
                "priority": 2,
                "detail": "connection refused (qBittorrent not running?)",
            },
        ],
        "queue": {"pending": pending, "oldest": NOW - 90 if pending else None},
        "exit_code": 2,
    }


class Texts(HTMLParser):
    """Collects the text, the tags and the attributes of a document, as a browser would parse it."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: bytes | str) -> Texts:
    parser = Texts()
    parser.feed(html.decode() if isinstance(html, bytes) else html)
    return parser


def test_hostile_names_render_as_text_never_as_markup() -> None:
    """A torrent called ``<script>…`` (and an instance named with markup) shows those characters:
    no script or img element comes out of the data, and the literal text is there to read."""
    doc = status_doc()
    doc["instances"][0]["name"] = HOSTILE
    data = PageData(
        status=doc,
        reasons=((HOSTILE, 2),),
        oldest_name=HOSTILE,
        deliveries=(DeliveryRow(NOW, HOSTILE, "delivered", "secondary", "added"),),
        transitions=(TransitionRecord(NOW, "BOTH_HEALTHY", "BOTH_DOWN", "Critical", HOSTILE),),
        failback=(FailbackMove(HOSTILE, "secondary", "primary"),),
        generated_at=NOW,
    )
    page = parse(render_page(data))
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert scripts == [{"src": "/static/page.js?v=0.1.0", "defer": None}]  # only the page's own file
    assert not [t for t, _ in page.tags if t == "img"]
    assert all(not any(k.startswith("on") for k in attrs) for _, attrs in page.tags)
    assert "".join(page.text).count(HOSTILE) >= 5  # oldest, reason, delivery, transition, failback
    fragment = json.loads(page_json(data))["html"]
    assert "<script>" not in fragment and "&lt;script&gt;" in fragment


def test_page_shows_the_status_documents_words_and_numbers() -> None:
    """Verdict, state, summary, each instance's word as ``status`` prints it, the queue's counts."""
    data = PageData(
        status=status_doc(pending=7),
        counts={"pending": 7, "delivered": 3, "rejected": 1},
        reasons=(("no instance available", 5), ("primary VPN_DOWN", 2)),
        oldest_name="debian.iso",
        extras={"secondary": InstanceExtra("open (retry in 4 s)", "", None)},
        generated_at=NOW,
    )
    html = render_page(data).decode()
    assert re.search(r'class="card verdict critical">\s*<h2><span id="verdict">Critical</span>', html)
    assert '<span id="state-name">BOTH_DOWN</span>' in html
    assert '<span id="pending-count">7</span>' in html
    assert '<td data-label="Status" class="word">ERROR</td>' in html  # the word, its reason apart
    assert "connection refused (qBittorrent not running?)" in html
    assert "open (retry in 4 s)" in html and "debian.iso" in html and "1 min ago" in html
    assert '<td>no instance available</td><td class="num">5</td>' in html
    assert "ledger: 3 delivered, 1 rejected, 7 pending" in html


def test_verdict_colours_follow_the_verdict() -> None:
    """Each verdict gets its own class (green, amber, blue, red in the stylesheet)."""
    for verdict, css in (
        ("Excellent", "excellent"),
        ("Warning", "warning"),
        ("Info", "info"),
        ("Critical", "critical"),
    ):
        html = render_page(PageData(status=status_doc(verdict=verdict), generated_at=NOW)).decode()
        assert f'class="card verdict {css}"' in html
    stylesheet = (Path(__file__).parents[3] / "src/qbfailover/observe/static/page.css").read_text()
    assert all(f".verdict.{css}" in stylesheet for css in ("excellent", "warning", "info", "critical"))
    assert "prefers-color-scheme: dark" in stylesheet


def test_before_the_first_check_the_page_says_it_is_waiting() -> None:
    """No status document yet: a page that says so (and still refreshes), not an error."""
    html = render_page(PageData(status=None)).decode()
    assert "No health check has completed yet" in html and 'id="pending-count"' not in html


def test_every_link_and_the_feed_live_under_the_base_path() -> None:
    """With ``--base-path /qbf`` each href/src and the script's feed URL start with /qbf/."""
    page = parse(render_page(PageData(status=status_doc(), generated_at=NOW), base_path="/qbf"))
    urls = [v for _, attrs in page.tags for k, v in attrs.items() if k in ("href", "src", "data-feed") and v]
    urls = [u for u in urls if not u.startswith("data:")]
    assert len(urls) >= 5 and all(u.startswith("/qbf/") for u in urls), urls
    body = next(attrs for tag, attrs in page.tags if tag == "body")
    assert body["data-feed"] == "/qbf/status/page.json"


@pytest.mark.parametrize(
    ("given", "expected"),
    [("", ""), ("/", ""), ("qbf", "/qbf"), ("/qbf/", "/qbf"), ("/a/b-c.d_e~", "/a/b-c.d_e~")],
)
def test_base_path_is_normalised(given: str, expected: str) -> None:
    """A leading slash is added and a trailing one dropped, so links join with one slash."""
    assert normalise_base_path(given) == expected


@pytest.mark.parametrize("bad", ["/a/../b", "/a b", "/a?x", "//evil.example", "/<x>", "/a//b"])
def test_unsafe_base_paths_are_refused(bad: str) -> None:
    """A base path that could escape, inject markup or name another host is a one-line ConfigError."""
    with pytest.raises(ConfigError, match="--base-path"):
        normalise_base_path(bad)


def test_failback_slot_renders_nothing_until_a_provider_exists() -> None:
    """``failback=None`` (not built yet): no section at all; a provider's answer fills it in."""
    without = render_page(PageData(status=status_doc(), generated_at=NOW)).decode()
    assert 'id="failback"' not in without
    empty = render_page(PageData(status=status_doc(), failback=(), generated_at=NOW)).decode()
    assert 'id="failback"' in empty and "Nothing to move." in empty
    moves = (FailbackMove("ubuntu.iso", "secondary", "primary", "primary back"),)
    full = render_page(PageData(status=status_doc(), failback=moves, generated_at=NOW)).decode()
    assert "ubuntu.iso" in full and "primary back" in full


def test_urls_never_carry_credentials() -> None:
    """``user:password@``, queries and fragments are dropped before a URL reaches the page."""
    assert public_url("http://admin:s3cret@127.0.0.5:8080/qbt/?token=abc#x") == "http://127.0.0.5:8080/qbt/"
    assert public_url("https://host/") == "https://host/"
    doc = status_doc()
    doc["instances"][0]["url"] = "http://admin:s3cret@127.0.0.2:52095/?key=k3y"
    html = render_page(PageData(status=doc, generated_at=NOW)).decode()
    assert "s3cret" not in html and "admin" not in html and "k3y" not in html


def test_status_word_is_the_health_word_without_its_reason() -> None:
    """As ``status`` prints it: ``ERROR`` (reason in the detail), ``HTTP_404``, or the status."""
    assert status_word({"status": "ERROR", "health": "ERROR: connection refused"}) == "ERROR"
    assert status_word({"status": "ERROR", "health": "HTTP_404"}) == "HTTP_404"
    assert status_word({"status": "TIMEOUT"}) == "TIMEOUT"  # a document without "health"


def test_breaker_states() -> None:
    """Closed, open with its retry time, half-open after the cool-down, plus bans and failed logins."""
    assert breaker_state(Guard(), NOW) == "closed"
    assert breaker_state(Guard(failures=2, open_until=NOW + 9.6), NOW) == "open (retry in 10 s)"
    assert breaker_state(Guard(failures=2, open_until=NOW - 1), NOW) == "half-open"
    assert breaker_state(Guard(banned_until=NOW + 60), NOW) == "closed; banned for 60 s"
    assert breaker_state(Guard(auth_failures=1), NOW) == "closed; 1 failed login(s)"


def test_refresh_follows_the_interval_within_bounds() -> None:
    """Never faster than once a second, never slower than every 5 s."""
    assert [refresh_seconds(i) for i in (0.2, 2.5, 10.0)] == [1.0, 2.5, 5.0]


def entry(i: int, state: str, at: float, **kw: Any) -> Entry:
    done = at if state == "delivered" else None
    base: dict[str, Any] = {
        "id": i, "key": f"{i:040x}", "kind": "magnet", "payload": b"", "name": f"item-{i}", "options": {},
        "state": state, "instance": "primary" if done else None, "reason": "added", "attempts": 0,
        "last_error": None, "next_attempt_at": 0.0, "created_at": at - 5, "updated_at": at,
        "delivered_at": done, "uncertain": (),
    }  # fmt: skip
    return Entry(**{**base, **kw})


def test_recent_outcomes_are_the_newest_first_and_bounded() -> None:
    """Delivered and rejected rows by the time they ended, newest first, at most ``limit``."""
    rows = [entry(i, "delivered" if i % 3 else "rejected", NOW + i) for i in range(120)]
    rows.append(entry(999, "pending", NOW + 500))
    recent = recent_outcomes(rows, limit=50)
    assert len(recent) == 50 and [r.at for r in recent] == sorted((r.at for r in recent), reverse=True)
    assert recent[0].name == "item-119" and {r.state for r in recent} == {"delivered", "rejected"}


def test_tracker_reads_the_ledger_and_rescans_only_when_counts_change(tmp_path: Path) -> None:
    """Pending reasons grouped, the oldest item named, the last deliveries listed; an unchanged
    ledger is not scanned again (an idle service pays one counts() per cycle)."""
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        new = [
            NewEntry(key=f"{i:040x}", kind="magnet", payload=b"m", name=f"n{i}", options={}) for i in range(5)
        ]
        rows = ledger.record(new[:3], reason="no instance available", claim=False)
        ledger.record(new[3:], reason="primary VPN_DOWN", claim=False)
        claimed = ledger.claim_due(limit=1, ids=[rows[0].id])
        ledger.mark_delivered([claimed[0].id], instance="secondary", reason="added")
        scans = []
        real_list = ledger.list

        def counting_list(**kw: Any) -> list[Entry]:
            scans.append(kw)
            return real_list(**kw)

        ledger.list = counting_list  # type: ignore[method-assign]
        tracker = ActivityTracker(clock=lambda: NOW)
        first = tracker.refresh(ledger, status_doc(pending=4))
        assert first.reasons == (("no instance available", 2), ("primary VPN_DOWN", 2))
        assert first.oldest_name == "n1"
        assert [(d.name, d.instance) for d in first.deliveries] == [("n0", "secondary")]
        assert first.extras["secondary"].last_error.startswith("connection refused")
        n = len(scans)
        tracker.refresh(ledger, status_doc(pending=4))
        assert len(scans) == n  # nothing changed: no scan
        ledger.drop(rows[1].id)
        assert tracker.refresh(ledger, status_doc(pending=3)).reasons[0] == ("primary VPN_DOWN", 2)
        assert len(scans) > n


def test_tracker_shows_the_newest_outcomes_from_a_bounded_newest_first_read(tmp_path: Path) -> None:
    """The delivered/rejected history is read newest first and bounded (never the whole history
    each cycle), and the page lists the most recent outcomes, not the lowest ids."""
    now = [NOW]
    with Ledger(tmp_path / "l.sqlite3", clock=lambda: now[0]) as ledger:
        new = [
            NewEntry(key=f"{i:040x}", kind="magnet", payload=b"m", name=f"n{i}", options={})
            for i in range(150)
        ]
        rows = ledger.record(new, reason="received")
        order = [rows[(i * 37) % 150] for i in range(150)]  # finished in an order unlike their ids
        for n, row in enumerate(order):
            now[0] += 1
            if n % 4:
                ledger.mark_delivered([row.id], instance="secondary", reason="added")
            else:
                ledger.mark_rejected(row.id, reason="invalid torrent")
        reads: list[tuple[dict[str, Any], int]] = []
        real_list = ledger.list

        def recording_list(**kw: Any) -> list[Entry]:
            got = real_list(**kw)
            reads.append((kw, len(got)))
            return got

        ledger.list = recording_list  # type: ignore[method-assign]
        data = ActivityTracker(clock=lambda: now[0]).refresh(ledger, status_doc(pending=0))
    outcome_reads = [(kw, n) for kw, n in reads if set(kw["states"]) == {"delivered", "rejected"}]
    assert outcome_reads == [({"states": ("delivered", "rejected"), "limit": 100, "newest": True}, 100)]
    assert [d.name for d in data.deliveries] == [row.name for row in reversed(order[-50:])]
    assert [d.at for d in data.deliveries] == [now[0] - k for k in range(50)]


def test_a_new_reason_without_a_new_count_shows_within_the_rescan_period(tmp_path: Path) -> None:
    """A failed try rewrites a pending row's reason and leaves the counts alone: the next scan of
    the queue (at most PENDING_RESCAN seconds later) shows the new reason."""
    now = [NOW]
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        rows = ledger.record(
            [NewEntry(key="a" * 40, kind="magnet", payload=b"m", name="x", options={})], reason="received"
        )  # claimed, as add claims it
        tracker = ActivityTracker(clock=lambda: now[0])
        assert tracker.refresh(ledger, status_doc(pending=1)).reasons == (("received", 1),)
        ledger.mark_failed([rows[0].id], reason="both instances down", error="refused")
        now[0] += PENDING_RESCAN / 2
        assert tracker.refresh(ledger, status_doc(pending=1)).reasons == (("received", 1),)
        now[0] += PENDING_RESCAN / 2
        assert tracker.refresh(ledger, status_doc(pending=1)).reasons == (("both instances down", 1),)


def test_tracker_keeps_the_last_error_after_recovery_and_the_newest_transitions_first(tmp_path: Path) -> None:
    """An instance back to OK still shows what failed last (and when); transitions newest first."""
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        tracker = ActivityTracker(clock=lambda: NOW)
        tracker.refresh(ledger, status_doc())
        healthy = status_doc(state="BOTH_HEALTHY", verdict="Excellent", pending=0)
        for inst in healthy["instances"]:
            inst.update(status="OK", health="OK", detail="")
        transitions = [TransitionRecord(NOW + i, "A", f"S{i}", "Info", "") for i in range(60)]
        data = tracker.refresh(ledger, healthy, transitions)
        assert data.extras["primary"].last_error == "VPN probe failed"
        assert data.extras["primary"].last_error_at == NOW
        assert len(data.transitions) == 50 and data.transitions[0].new == "S59"
        assert data.status is healthy  # the very document /status serves


def test_a_failing_ledger_never_fails_the_cycle(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The page serves watch and must not stop it: a ledger that cannot be read leaves the last
    lists in place with this cycle's status document, and says so in the log."""
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        tracker = ActivityTracker(clock=lambda: NOW)
        tracker.refresh(ledger, status_doc(pending=0))

        def broken(**_: Any) -> dict[str, int]:
            raise StoreError("the ledger is locked; retry")

        ledger.counts = broken  # type: ignore[method-assign]
        doc = status_doc(state="BOTH_HEALTHY", verdict="Excellent", pending=0)
        assert tracker.refresh(ledger, doc).status is doc
        assert "lists not refreshed (the ledger is locked; retry)" in caplog.text
