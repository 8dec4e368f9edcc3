"""Prometheus series of watch (names, labels, values) and the /metrics + /status server on loopback."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from qbfailover.core.health import VERDICTS, HealthReport, InstanceHealth, State, Status, VpnHealth, VpnStatus
from qbfailover.core.outcomes import AddResult, ItemResult, Outcome
from qbfailover.errors import ConfigError
from qbfailover.observe.metrics import Metrics, MetricsServer, delivery_outcome


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return samples(metrics)[(name, tuple(sorted(labels.items())))]


def report(primary: Status, vpn: VpnStatus = VpnStatus.UP) -> HealthReport:
    insts = (
        InstanceHealth("primary", primary, latency_ms=12.0 if primary is Status.OK else None, priority=1),
        InstanceHealth("secondary", Status.OK, latency_ms=3.0, priority=2),
    )
    state = State.BOTH_HEALTHY if primary is Status.OK else State.PRIMARY_DOWN
    return HealthReport(VpnHealth(vpn, latency_ms=2.0), insts, state, VERDICTS[state], 1000.0, 15.0)


def test_names_follow_prometheus_conventions() -> None:
    """Every series is qbfailover_-prefixed; counters end in _total; durations are in seconds."""
    metrics = Metrics(["primary", "secondary"], "0.1.0")
    names = {name for name, _ in samples(metrics)}
    assert all(n.startswith("qbfailover_") for n in names)
    for family in text_string_to_metric_families(metrics.render().decode()):
        if family.type == "counter":
            assert all(s.name.endswith("_total") for s in family.samples), family.name
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name
    assert not any(n.endswith("_created") for n in names)
    assert value(metrics, "qbfailover_build_info", version="0.1.0") == 1


def test_health_observed() -> None:
    """A report sets up/status/state gauges, counts the check and observes probe latencies."""
    metrics = Metrics(["primary", "secondary"])
    metrics.observe_health(report(Status.OK))
    metrics.observe_health(report(Status.TIMEOUT))
    assert value(metrics, "qbfailover_health_checks_total") == 2
    assert value(metrics, "qbfailover_instance_up", instance="primary") == 0
    assert value(metrics, "qbfailover_instance_up", instance="secondary") == 1
    assert value(metrics, "qbfailover_instance_status", instance="primary", status="TIMEOUT") == 1
    assert value(metrics, "qbfailover_instance_status", instance="primary", status="OK") == 0
    assert value(metrics, "qbfailover_state", state="PRIMARY_DOWN") == 1
    assert value(metrics, "qbfailover_state", state="BOTH_HEALTHY") == 0
    assert value(metrics, "qbfailover_vpn_up") == 1
    # The primary's probe ran once (the TIMEOUT report has no latency: it was not probed).
    assert value(metrics, "qbfailover_probe_duration_seconds_count", target="primary") == 1
    assert value(metrics, "qbfailover_probe_duration_seconds_count", target="vpn") == 2
    assert value(metrics, "qbfailover_last_health_check_timestamp_seconds") == 1000.0


def test_transitions_queue_and_deliveries() -> None:
    """Transitions are counted by from/to; queue depth and age; drained items by instance/outcome."""
    metrics = Metrics(["primary", "secondary"])
    metrics.observe_transition(State.BOTH_HEALTHY, State.PRIMARY_DOWN)
    assert (
        value(
            metrics, "qbfailover_state_transitions_total", from_state="BOTH_HEALTHY", to_state="PRIMARY_DOWN"
        )
        == 1
    )
    metrics.observe_queue({"pending": 4, "delivered": 10, "rejected": 1}, oldest=900.0, now=1000.0)
    assert value(metrics, "qbfailover_queue_pending_items") == 4
    assert value(metrics, "qbfailover_queue_oldest_pending_age_seconds") == 100.0
    assert value(metrics, "qbfailover_ledger_items", state="delivered") == 10
    metrics.observe_queue({"pending": 0}, oldest=None, now=1000.0)
    assert value(metrics, "qbfailover_queue_oldest_pending_age_seconds") == 0
    drained = AddResult(
        [
            ItemResult("m1", "a", "h1", Outcome.ADDED, "primary"),
            ItemResult("m2", "b", "h2", Outcome.ALREADY_THERE, "primary"),
            ItemResult("m3", "c", "h3", Outcome.REFUSED_BY_INSTANCES),
        ]
    )
    metrics.observe_drain(drained)
    assert value(metrics, "qbfailover_deliveries_total", instance="primary", outcome="delivered") == 1
    assert value(metrics, "qbfailover_deliveries_total", instance="primary", outcome="already_there") == 1
    assert value(metrics, "qbfailover_deliveries_total", instance="none", outcome="rejected") == 1
    assert value(metrics, "qbfailover_deliveries_total", instance="secondary", outcome="delivered") == 0


def test_delivery_outcome() -> None:
    """Outcome labels: delivered / already_there / rejected / queued; no instance is 'none'."""
    assert delivery_outcome(ItemResult("m", "n", None, Outcome.NO_INSTANCE)) == ("none", "queued")
    assert delivery_outcome(ItemResult("m", "n", None, Outcome.ACCEPTED_URL, "s")) == (
        "s",
        "delivered",
    )


def test_server_serves_metrics_and_status() -> None:
    """/metrics is the Prometheus text format; /status is the JSON document, 503 before the first check."""
    metrics = Metrics(["primary"])
    doc: dict[str, object] | None = None
    server = MetricsServer(metrics, lambda: doc, "127.0.0.1", 0)
    server.start()
    try:
        host, port = server.address
        base = f"http://{host}:{port}"
        with httpx.Client(trust_env=False) as http:
            r = http.get(base + "/metrics")
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
            assert "qbfailover_health_checks_total 0.0" in r.text
            assert http.get(base + "/status").status_code == 503
            doc = {"state": "BOTH_HEALTHY", "exit_code": 0}
            r = http.get(base + "/status")
            assert r.status_code == 200 and r.json() == doc
            assert http.get(base + "/nope").status_code == 404
    finally:
        server.stop()


def test_server_port_taken_is_one_line_config_error() -> None:
    """A busy port is a ConfigError naming the address and the way out, not a traceback."""
    first = MetricsServer(Metrics([]), lambda: None, "127.0.0.1", 0)
    try:
        host, port = first.address
        with pytest.raises(ConfigError, match=rf"127\.0\.0\.1:{port} .*--metrics-port 0"):
            MetricsServer(Metrics([]), lambda: None, host, port)
    finally:
        first.stop()
