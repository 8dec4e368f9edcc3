"""Prometheus metrics for ``watch``, and the small HTTP server for ``/metrics`` and ``/status``.

A private :class:`~prometheus_client.CollectorRegistry` (no process-wide default registry, so two
watchers in one test process never collide). Names follow Prometheus conventions: a
``qbfailover_`` prefix, base units in the name, ``_total`` for counters, state sets as gauges with
one label per possible value. Imported only by ``watch``: ``qbfailover --help`` stays fast.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.exposition import generate_latest

from qbfailover.core.health import HealthReport, State, Status, VpnStatus
from qbfailover.core.outcomes import AddResult, ItemResult, Outcome
from qbfailover.errors import ConfigError

if TYPE_CHECKING:
    from qbfailover.observe.page_data import PageData

DEFAULT_METRICS_PORT = 9911
DEFAULT_METRICS_ADDRESS = "127.0.0.1"
PROBE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
NO_INSTANCE = "none"


def delivery_outcome(item: ItemResult) -> tuple[str, str]:
    """``(instance, outcome)`` labels for one drained item; ``none`` when no instance took it."""
    if item.state == "delivered":
        outcome = "already_there" if item.outcome is Outcome.ALREADY_THERE else "delivered"
    else:
        outcome = item.state
    return item.instance or NO_INSTANCE, outcome


class Metrics:
    """Every series ``watch`` exports; the loop calls ``observe_*``, the server calls ``render``."""

    def __init__(self, instances: Iterable[str], version: str = "") -> None:
        # The ``*_created`` companion series only double the output; scrapers do not need them.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.instances = list(instances)
        self.build_info = Gauge("qbfailover_build_info", "qbfailover version", ["version"], registry=reg)
        self.build_info.labels(version or "unknown").set(1)
        self.health_checks = Counter(
            "qbfailover_health_checks", "Health-check cycles run by watch", registry=reg
        )
        self.check_duration = Histogram(
            "qbfailover_health_check_duration_seconds",
            "Wall time of one health check (all probes in parallel, bounded by the deadline)",
            buckets=PROBE_BUCKETS,
            registry=reg,
        )
        self.last_check = Gauge(
            "qbfailover_last_health_check_timestamp_seconds",
            "Unix time of the last completed health check",
            registry=reg,
        )
        self.instance_up = Gauge(
            "qbfailover_instance_up",
            "1 if the instance is OK (reachable, logged in, usable)",
            ["instance"],
            registry=reg,
        )
        self.instance_status = Gauge(
            "qbfailover_instance_status",
            "1 for the instance's current status, 0 for the others",
            ["instance", "status"],
            registry=reg,
        )
        self.vpn_up = Gauge("qbfailover_vpn_up", "1 if the VPN probe succeeded", registry=reg)
        self.vpn_configured = Gauge(
            "qbfailover_vpn_configured", "1 if a VPN probe is configured", registry=reg
        )
        self.state = Gauge(
            "qbfailover_state",
            "1 for the current state (the spec's state machine), 0 for the others",
            ["state"],
            registry=reg,
        )
        self.transitions = Counter(
            "qbfailover_state_transitions",
            "State changes seen by watch",
            ["from_state", "to_state"],
            registry=reg,
        )
        self.queue_pending = Gauge(
            "qbfailover_queue_pending_items",
            "Items recorded in the ledger and not yet delivered",
            registry=reg,
        )
        self.queue_oldest = Gauge(
            "qbfailover_queue_oldest_pending_age_seconds",
            "Age of the oldest pending item (0 when the queue is empty)",
            registry=reg,
        )
        self.ledger_items = Gauge(
            "qbfailover_ledger_items",
            "Ledger rows per state (all processes' items)",
            ["state"],
            registry=reg,
        )
        self.deliveries = Counter(
            "qbfailover_deliveries",
            "Queued items handled by watch's drains, by instance and outcome",
            ["instance", "outcome"],
            registry=reg,
        )
        self.drains = Counter(
            "qbfailover_queue_drains",
            "Drains started by watch (an instance healthy, items pending)",
            registry=reg,
        )
        self.probe_duration = Histogram(
            "qbfailover_probe_duration_seconds",
            "Latency of one probe (an instance's WebUI, or the VPN)",
            ["target"],
            buckets=PROBE_BUCKETS,
            registry=reg,
        )
        self.notifications = Counter(
            "qbfailover_notifications",
            "Notifications sent or failed, by channel",
            ["channel", "outcome"],
            registry=reg,
        )
        self.errors = Counter(
            "qbfailover_watch_errors",
            "Watch cycles that failed (ledger unreadable and the like)",
            registry=reg,
        )
        self.failback_moves = Counter(
            "qbfailover_failback_moves",
            "Failback moves made by watch --failback, by outcome",
            ["outcome"],
            registry=reg,
        )
        for name in self.instances:
            for status in Status:
                self.instance_status.labels(name, str(status)).set(0)
            self.instance_up.labels(name).set(0)
            for outcome in ("delivered", "already_there"):
                self.deliveries.labels(name, outcome)
        for outcome in ("rejected", "queued"):
            self.deliveries.labels(NO_INSTANCE, outcome)
        for state in State:
            self.state.labels(str(state)).set(0)

    def observe_failback(self, outcomes: Sequence[str]) -> None:
        """Count one automatic failback run's moves by outcome (moved, failed, kept, gone, moving)."""
        for outcome in outcomes:
            self.failback_moves.labels(outcome).inc()

    def observe_health(self, report: HealthReport) -> None:
        """Set every health series from one cycle's report (statuses are one-hot state sets)."""
        self.health_checks.inc()
        self.check_duration.observe(report.duration_ms / 1000)
        self.last_check.set(report.checked_at)
        self.vpn_configured.set(0 if report.vpn.status is VpnStatus.NOT_CONFIGURED else 1)
        self.vpn_up.set(1 if report.vpn.up else 0)
        if report.vpn.latency_ms is not None:
            self.probe_duration.labels("vpn").observe(report.vpn.latency_ms / 1000)
        for inst in report.instances:
            self.instance_up.labels(inst.name).set(1 if inst.ok else 0)
            for status in Status:
                self.instance_status.labels(inst.name, str(status)).set(1 if inst.status is status else 0)
            if inst.latency_ms is not None:
                self.probe_duration.labels(inst.name).observe(inst.latency_ms / 1000)
        for state in State:
            self.state.labels(str(state)).set(1 if report.state is state else 0)

    def observe_transition(self, old: State, new: State) -> None:
        """Count one state change, so alerts can fire on flapping as well as on the state."""
        self.transitions.labels(str(old), str(new)).inc()

    def observe_queue(self, counts: Mapping[str, int], oldest: float | None, now: float) -> None:
        """Queue depth and the oldest pending item's age: the signal that items are stuck."""
        pending = counts.get("pending", 0)
        self.queue_pending.set(pending)
        self.queue_oldest.set(max(0.0, now - oldest) if pending and oldest is not None else 0.0)
        for state, n in counts.items():
            self.ledger_items.labels(state).set(n)

    def observe_drain(self, result: AddResult) -> None:
        """Count each drained item by the instance that took it and its outcome."""
        for item in result.items:
            self.deliveries.labels(*delivery_outcome(item)).inc()

    def observe_notification(self, channel: str, ok: bool) -> None:
        """Count one notification sent or failed (the Notifier's ``on_result`` hook)."""
        self.notifications.labels(channel, "sent" if ok else "failed").inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every series, for ``GET /metrics``."""
        return generate_latest(self.registry)


class MetricsServer:
    """``GET /metrics`` (Prometheus text format), ``GET /status`` (the status --json document) and
    the status page at ``/`` (:mod:`qbfailover.observe.page`), all also under ``base_path``.

    A stdlib threading HTTP server in a daemon thread: scrapes never wait for the watch loop,
    which only swaps in a new status document after each cycle.
    """

    def __init__(
        self,
        metrics: Metrics,
        status: Callable[[], Mapping[str, object] | None],
        address: str = DEFAULT_METRICS_ADDRESS,
        port: int = DEFAULT_METRICS_PORT,
        *,
        page: Callable[[], PageData] | None = None,
        base_path: str = "",
        refresh: float = 5.0,
    ) -> None:
        from qbfailover.observe.page import normalise_base_path

        site = _Site(status, page, normalise_base_path(base_path), refresh)
        handler = _handler(metrics, site)
        try:
            self._server = ThreadingHTTPServer((address, port), handler)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve metrics on {address}:{port} ({exc.strerror or exc}); choose another "
                "--metrics-port/--metrics-address, or --metrics-port 0 to serve none"
            ) from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="metrics", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port): with port 0 the OS picked one, and the log line must name it."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        """Serve in a daemon thread, so a scrape never waits for the watch loop."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port (waits at most 5 s for the thread)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()


@dataclass(frozen=True, slots=True)
class _Site:
    status: Callable[[], Mapping[str, object] | None]
    page: Callable[[], PageData] | None
    base_path: str
    refresh: float

    def page_data(self) -> PageData:
        """The watcher's snapshot, or one made of the status document alone (no lists)."""
        from qbfailover.observe.page_data import PageData

        return self.page() if self.page is not None else PageData(status=self.status())

    def local_path(self, path: str) -> str | None:
        """``path`` without the base path (requests may come with or without it); None: redirect."""
        base = self.base_path
        if base and path == base:
            return None
        return path[len(base) :] if base and path.startswith(base + "/") else path


def _handler(metrics: Metrics, site: _Site) -> type[BaseHTTPRequestHandler]:
    from qbfailover.observe.page import ALLOWED_METHODS, SECURITY_HEADERS, respond

    class Handler(BaseHTTPRequestHandler):
        server_version = "qbfailover"
        sys_version = ""
        head_only = False

        def do_GET(self) -> None:
            """Route /metrics, /status and the page's paths (anything else is a 404 with a hint)."""
            self.head_only = False
            self._route()

        def do_HEAD(self) -> None:
            """GET's headers without the body (monitors check the page is up this way)."""
            self.head_only = True
            self._route()

        def _route(self) -> None:
            raw = self.path.split("?", 1)[0]
            path = site.local_path(raw)
            if path is None:  # the base path without its slash: relative links need the slash
                self._send(308, "text/plain; charset=utf-8", b"", {"Location": site.base_path + "/"})
            elif path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, metrics.render())
            elif path == "/status":
                doc = site.status()
                if doc is None:
                    body: Any = {"error": "no health check has completed yet"}
                    self._send(503, "application/json", json.dumps(body).encode())
                else:
                    self._send(200, "application/json", json.dumps(doc, indent=2, default=str).encode())
            elif (
                page := respond(path, site.page_data, base_path=site.base_path, refresh=site.refresh)
            ) is not None:
                self._send(page.status, page.content_type, page.body, page.headers)
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found: try /, /metrics or /status\n")

        def refuse(self) -> None:
            """The page is read-only: every method but GET and HEAD is 405."""
            self._send(
                405, "text/plain; charset=utf-8", b"read-only: GET or HEAD\n", {"Allow": ALLOWED_METHODS}
            )

        def __getattr__(self, name: str) -> Any:
            # BaseHTTPRequestHandler looks up do_<METHOD>: unknown methods get 405 instead of 501.
            if name.startswith("do_"):
                return self.refuse
            raise AttributeError(name)

        def _send(
            self, code: int, content_type: str, body: bytes, headers: Mapping[str, str] | None = None
        ) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in {**SECURITY_HEADERS, **(headers or {})}.items():
                self.send_header(name, value)
            self.end_headers()
            if not self.head_only:
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Scrapes are not events: keep stderr for state changes."""

    return Handler
