"""``qbfailover status`` prints the spec client's health words (one vocabulary for both)."""

from __future__ import annotations

import pytest

from qbfailover.cli.status import status_lines
from qbfailover.core.health import (
    HealthReport,
    InstanceHealth,
    State,
    Status,
    Verdict,
    VpnHealth,
    VpnStatus,
    status_document,
)


@pytest.mark.parametrize(
    ("inst", "word"),
    [
        (
            InstanceHealth("primary", Status.ERROR, detail="app/version answered HTTP 404", http_status=404),
            "HTTP_404",
        ),
        (
            InstanceHealth("primary", Status.BANNED, detail="qBittorrent has banned this host's IP"),
            "AUTH_FAILED",
        ),
        (InstanceHealth("primary", Status.ERROR, detail="connection refused"), "ERROR"),
        (InstanceHealth("primary", Status.VPN_DOWN, detail="VPN probe failed"), "VPN_DOWN"),
    ],
)
def test_status_table_uses_the_health_words(inst: InstanceHealth, word: str) -> None:
    report = HealthReport(VpnHealth(VpnStatus.UP), (inst,), State.BOTH_DOWN, Verdict.CRITICAL, 0.0, 1.0)
    doc = status_document(report, pending=0, oldest=None)
    assert doc["instances"][0]["health"] == inst.word  # type: ignore[index]
    line = next(text for text in status_lines(doc) if text.startswith("primary:"))
    assert f" {word} " in line
    assert inst.detail in line  # the reason is printed beside the word
