"""Notifications: settings, notice documents, and delivery to a JSON webhook / Apprise on loopback."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from qbfailover.config import Secret, Settings, load_settings
from qbfailover.core.health import InstanceHealth, State, Status
from qbfailover.core.outcomes import ItemResult, Outcome
from qbfailover.errors import ConfigError
from qbfailover.observe.notify import Notifier, redact, rejected_notice, transition_notice

ENV = {"QBITTORRENT_URL": "http://127.0.0.1:8080/"}
TOKEN = "s3cr3t-token"


class Receiver:
    """A webhook endpoint on loopback that records every POST body and answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.status = status
        self.received = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                outer.bodies.append(json.loads(self.rfile.read(length) or b"{}"))
                outer.paths.append(self.path)
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                outer.received.set()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def settings(**kw: Any) -> Settings:
    return Settings(instances=(), **kw)


def instances() -> tuple[InstanceHealth, ...]:
    return (
        InstanceHealth("primary", Status.TIMEOUT, detail="connect timeout", priority=1),
        InstanceHealth("secondary", Status.OK, priority=2),
    )


# --- settings ---------------------------------------------------------------------------------


def test_env_settings() -> None:
    """QBFAILOVER_NOTIFY_URLS splits on spaces/commas; both are kept as secrets."""
    s = load_settings(
        env={
            **ENV,
            "QBFAILOVER_NOTIFY_URLS": f"json://127.0.0.1/{TOKEN}, tgram://bot/{TOKEN}",
            "QBFAILOVER_WEBHOOK_URL": f"https://hooks.example/{TOKEN}",
        },
        dotenv=Path("/nonexistent"),
    )
    assert [u.reveal() for u in s.notify_apprise] == [f"json://127.0.0.1/{TOKEN}", f"tgram://bot/{TOKEN}"]
    assert s.notify_webhook == Secret(f"https://hooks.example/{TOKEN}")
    assert TOKEN not in repr(s)


def test_toml_settings(tmp_path: Path) -> None:
    """The [notify] table: apprise = [...] and webhook = "..."."""
    path = tmp_path / "q.toml"
    path.write_text(
        '[[instances]]\nname = "p"\nurl = "http://127.0.0.1:1/"\n'
        f'[notify]\napprise = ["json://127.0.0.1/{TOKEN}"]\nwebhook = "http://127.0.0.1:9/h"\n'
    )
    s = load_settings(path, env={}, dotenv=Path("/nonexistent"))
    assert len(s.notify_apprise) == 1 and s.notify_webhook == Secret("http://127.0.0.1:9/h")
    assert load_settings(env=ENV, dotenv=Path("/nonexistent")).notify_webhook is None


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"QBFAILOVER_WEBHOOK_URL": f"ftp://x/{TOKEN}"}, "QBFAILOVER_WEBHOOK_URL is not an http"),
        ({"QBFAILOVER_NOTIFY_URLS": TOKEN}, r"QBFAILOVER_NOTIFY_URLS\[0\] is not an Apprise URL"),
    ],
)
def test_bad_settings_name_the_key_not_the_token(env: dict[str, str], match: str) -> None:
    """A malformed notification URL is a one-line ConfigError that never echoes the URL."""
    with pytest.raises(ConfigError, match=match) as info:
        load_settings(env={**ENV, **env}, dotenv=Path("/nonexistent"))
    assert TOKEN not in str(info.value)


def test_apprise_missing_is_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apprise URLs without apprise installed: one line saying how to install the extra."""
    monkeypatch.setitem(sys.modules, "apprise", None)  # makes 'import apprise' fail
    with pytest.raises(ConfigError, match=r"pip install 'qbfailover\[notify\]'"):
        Notifier(settings(notify_apprise=(Secret("json://127.0.0.1/x"),)))


def test_apprise_unknown_url_is_config_error() -> None:
    """An Apprise URL apprise cannot parse is refused up front, naming its scheme only."""
    with pytest.raises(ConfigError, match=r"Apprise URL #1 \(nosuchscheme://…\)") as info:
        Notifier(settings(notify_apprise=(Secret(f"nosuchscheme://{TOKEN}"),)))
    assert TOKEN not in str(info.value)


# --- documents --------------------------------------------------------------------------------


def test_transition_notice() -> None:
    """The webhook document names from/to, the reason, and carries the status document."""
    n = transition_notice(
        State.BOTH_HEALTHY, State.PRIMARY_DOWN, instances(), 12.5, {"state": "PRIMARY_DOWN"}
    )
    assert n.payload["event"] == "transition"
    assert (n.payload["from"], n.payload["to"]) == ("BOTH_HEALTHY", "PRIMARY_DOWN")
    assert n.payload["reason"] == "primary TIMEOUT"
    assert n.payload["message"] == "BOTH_HEALTHY -> PRIMARY_DOWN (primary TIMEOUT: connect timeout)"
    assert n.payload["status"] == {"state": "PRIMARY_DOWN"} and n.payload["at"] == 12.5
    assert n.title == "qbfailover: PRIMARY_DOWN"


def test_rejected_notice() -> None:
    """The rejected document lists every item with its reason; the title counts them."""
    items = [
        ItemResult(f"m{i}", f"name{i}", f"{i:040x}", Outcome.INVALID_ITEM, id=i, error="bad torrent")
        for i in range(7)
    ]
    n = rejected_notice(items, 5.0)
    assert n.payload["count"] == 7 and len(n.payload["items"]) == 7  # type: ignore[arg-type]
    assert n.payload["items"][0] == {"id": 0, "name": "name0", "infohash": "0" * 40, "reason": "bad torrent"}  # type: ignore[index]
    assert "and 2 more" in str(n.payload["message"])
    assert n.title == "qbfailover: 7 item(s) rejected"


def test_redact() -> None:
    """Only scheme and host of a webhook URL are ever logged."""
    assert redact(f"https://hooks.example:8443/x/{TOKEN}?k={TOKEN}") == "https://hooks.example"
    assert redact("not a url") == "<invalid url>"


# --- delivery ---------------------------------------------------------------------------------


async def send_and_close(notifier: Notifier, *notices: Any) -> None:
    for n in notices:
        notifier.send(n)
    await notifier.aclose(grace=10)


def test_webhook_posts_json(receiver: Receiver) -> None:
    """Each notice is one JSON POST to the webhook; success is reported per channel."""
    results: list[tuple[str, bool]] = []
    notifier = Notifier(
        settings(notify_webhook=Secret(receiver.url())), on_result=lambda c, ok: results.append((c, ok))
    )
    notice = transition_notice(State.BOTH_HEALTHY, State.PRIMARY_DOWN, instances(), 1.0)
    asyncio.run(send_and_close(notifier, notice))
    assert receiver.bodies == [json.loads(json.dumps(notice.payload))]
    assert results == [("webhook", True)]


def test_webhook_failure_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    """An error answer or a refused connection is a logged, counted failure; the token is not logged."""
    failing = Receiver(status=500)
    try:
        results: list[tuple[str, bool]] = []
        for url in (failing.url(f"/{TOKEN}"), f"http://127.0.0.1:1/{TOKEN}"):
            notifier = Notifier(
                settings(notify_webhook=Secret(url)), on_result=lambda c, ok: results.append((c, ok))
            )
            with caplog.at_level("WARNING", logger="qbfailover"):
                asyncio.run(send_and_close(notifier, rejected_notice([], 1.0)))
        assert results == [("webhook", False), ("webhook", False)]
        logged = [(r.getMessage(), getattr(r, "fields", {})) for r in caplog.records]
        assert [(m, f["error"]) for m, f in logged] == [
            ("notification failed", "HTTP 500"),
            ("notification failed", "ConnectError"),
        ]
        assert logged[0][1]["target"] == "http://127.0.0.1"
        assert TOKEN not in repr(logged)
    finally:
        failing.close()


def test_apprise_json_to_loopback(receiver: Receiver) -> None:
    """Apprise URLs are notified through apprise itself (its json:// target, here on loopback)."""
    results: list[tuple[str, bool]] = []
    url = f"json://127.0.0.1:{receiver.port}/apprise"
    notifier = Notifier(
        settings(notify_apprise=(Secret(url),)), on_result=lambda c, ok: results.append((c, ok))
    )
    notice = transition_notice(State.PRIMARY_DOWN, State.BOTH_DOWN, instances(), 1.0)
    asyncio.run(send_and_close(notifier, notice))
    assert results == [("apprise", True)]
    assert receiver.paths == ["/apprise"]
    assert receiver.bodies[0]["title"] == "qbfailover: BOTH_DOWN"
    assert "PRIMARY_DOWN -> BOTH_DOWN" in receiver.bodies[0]["message"]
    assert receiver.bodies[0]["type"] == "failure"
