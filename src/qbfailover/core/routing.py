"""Routing: which instances a batch may go to, and in which order.

Instances are tried in configured priority; one is skipped while it is not OK, while its breaker is
open (it is not even probed: its last failure is shown instead), or while it requires the VPN and
the VPN probe fails (no leak: such an instance never gets work without a healthy VPN).

The engine applies these pieces one instance at a time as probes answer, so it starts on the
primary while a frozen secondary is still timing out: :func:`by_priority` gives the order,
:func:`breaker_open` replaces the probe of an instance whose breaker is open, :func:`gated` applies
the VPN, and :func:`usable` says whether the result may take work.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Protocol, TypeVar

from qbfailover.core import breaker
from qbfailover.core.breaker import Guard
from qbfailover.core.health import InstanceHealth, Status, VpnHealth, gate_on_vpn


class _Ranked(Protocol):
    @property
    def priority(self) -> int: ...


R = TypeVar("R", bound=_Ranked)


def by_priority(instances: Iterable[R]) -> list[R]:
    """The order delivery offers a batch: lowest priority number first, ties in configured order."""
    return sorted(instances, key=lambda i: i.priority)  # sorted() is stable


def breaker_open(
    name: str, guard: Guard, now: float, *, priority: int, requires_vpn: bool, url: str
) -> InstanceHealth | None:
    """The health to report instead of probing, while the instance's breaker is open; else None.

    The status repeats the failure that opened it (TIMEOUT for a timeout, ERROR otherwise), so a
    dead instance costs one timeout per cool-down, not one per call.
    """
    if breaker.may_connect(guard, now):
        return None
    return InstanceHealth(
        name,
        Status.TIMEOUT if guard.timed_out else Status.ERROR,
        detail=f"not tried for {guard.open_until - now:.0f} s (breaker open): {guard.last_error}",
        priority=priority,
        requires_vpn=requires_vpn,
        url=url,
    )


def vpn_skipped(name: str, *, priority: int, url: str) -> InstanceHealth:
    """The health of a VPN-bound instance whose probe was not awaited because the VPN is down."""
    return InstanceHealth(
        name, Status.VPN_DOWN, detail="VPN down: not probed", priority=priority, requires_vpn=True, url=url
    )


def gated(health: InstanceHealth, requires_vpn: bool, vpn: VpnHealth) -> InstanceHealth:
    """``health`` as routing must see it: VPN_DOWN while a required VPN is down, whatever the WebUI says."""
    status = gate_on_vpn(health.status, requires_vpn, vpn)
    if status is health.status:
        return health
    return replace(health, status=status, detail=f"VPN probe failed ({vpn.detail})")


def usable(health: InstanceHealth) -> bool:
    """Whether delivery may hand this instance work now (gated health: only OK is usable)."""
    return health.ok
