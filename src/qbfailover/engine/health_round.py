"""One health round in flight: the VPN and every instance probed concurrently, under one deadline.

Delivery awaits instances one by one in priority order (:meth:`HealthRound.instance`), so it can
start on the primary while a frozen secondary's probe is still waiting for its timeout;
:meth:`HealthRound.report` awaits them all. Probes of instances that need the VPN are cancelled as
soon as the VPN is down. What a status *means* (breaker open, VPN gating) is decided in
``core.routing``; this module only runs the probes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from qbfailover.config import InstanceConfig, Settings
from qbfailover.core.breaker import Guard
from qbfailover.core.health import VERDICTS, HealthReport, InstanceHealth, VpnHealth, VpnStatus, overall_state
from qbfailover.core.routing import breaker_open, gated, vpn_skipped
from qbfailover.engine.probes import probe_instance, probe_vpn
from qbfailover.errors import InstanceError
from qbfailover.qbt.webui import WebUI


class ProbeHost(Protocol):
    """What a round needs from its client: settings, sessions, the guards and the clock."""

    settings: Settings
    last_health: HealthReport | None

    def webui(self, cfg: InstanceConfig) -> WebUI:
        """The instance's one session (probes log in through it, so delivery reuses the login)."""
        ...

    def guard(self, name: str) -> Guard:
        """The instance's persisted guard: an open breaker means report it without probing it."""
        ...

    def record_probe(self, name: str, error: InstanceError | None) -> None:
        """Feed a probe's (or a failed add's) result to the breaker, which persists across processes."""
        ...

    def now(self) -> float:
        """Wall-clock time (injectable, so breaker rules are testable without time)."""
        ...


class HealthRound:
    """One health check: probes started at once, awaited lazily by delivery, reported whole."""

    def __init__(
        self,
        host: ProbeHost,
        *,
        respect_breakers: bool = False,
        report: HealthReport | None = None,
    ) -> None:
        """Start every probe, or, given a ``report`` just taken, answer from it and probe nothing."""
        self._host = host
        settings = host.settings
        self._started = time.perf_counter()
        self._now = report.checked_at if report else host.now()
        self._results: dict[str, InstanceHealth] = {h.name: h for h in report.instances} if report else {}
        self._report = report
        self._vpn: VpnHealth | None = report.vpn if report else None
        self._vpn_task: asyncio.Future[VpnHealth] | None = None
        self._tasks: dict[str, asyncio.Future[tuple[InstanceHealth, InstanceError | None]]] = {}
        if report is not None:
            return
        self._vpn_task = asyncio.ensure_future(probe_vpn(settings.vpn, settings.deadline))
        for cfg in settings.instances:
            # Read even when breakers are not respected: the ledger opens here, so a broken one
            # fails the round at once instead of inside a probe task.
            guard = host.guard(cfg.name)
            closed = breaker_open(
                cfg.name,
                guard,
                self._now,
                priority=cfg.priority,
                requires_vpn=cfg.requires_vpn,
                url=cfg.base_url,
            )
            if respect_breakers and closed is not None:
                self._results[cfg.name] = closed
                continue
            self._tasks[cfg.name] = asyncio.ensure_future(probe_instance(host.webui(cfg), settings.deadline))

    async def vpn(self) -> VpnHealth:
        """The VPN probe's answer (awaited once, then remembered)."""
        if self._vpn is None:
            assert self._vpn_task is not None
            self._vpn = await self._vpn_task
        return self._vpn

    async def instance(self, cfg: InstanceConfig) -> InstanceHealth:
        """This instance's health, gated on the VPN if it needs it."""
        if cfg.name not in self._results:
            vpn = await self.vpn() if cfg.requires_vpn else None
            task = self._tasks[cfg.name]
            if vpn is not None and vpn.status is VpnStatus.DOWN and not task.done():
                task.cancel()  # no point waiting for an instance we may not use anyway
                health = vpn_skipped(cfg.name, priority=cfg.priority, url=cfg.base_url)
            else:
                health, error = await task
                self._host.record_probe(cfg.name, error)
            self._results[cfg.name] = health
        health = self._results[cfg.name]
        if cfg.requires_vpn:
            return gated(health, cfg.requires_vpn, await self.vpn())
        return health

    async def report(self) -> HealthReport:
        """Every probe awaited: the whole report (also kept as the client's ``last_health``)."""
        if self._report is None:
            settings = self._host.settings
            vpn = await self.vpn()
            instances = tuple([await self.instance(cfg) for cfg in settings.by_priority])
            state = overall_state(instances)
            self._report = HealthReport(
                vpn=vpn,
                instances=instances,
                state=state,
                verdict=VERDICTS[state],
                checked_at=self._now,
                duration_ms=round((time.perf_counter() - self._started) * 1000, 2),
            )
            self._host.last_health = self._report
        return self._report

    def settled(self) -> bool:
        """Every probe has answered already (a full report costs nothing more)."""
        tasks = [*self._tasks.values(), self._vpn_task]
        return all(t is None or t.done() for t in tasks)

    async def cancel(self) -> None:
        """Stop probes nobody needs any more (their instances were not reached), and reap them."""
        pending = [t for t in (*self._tasks.values(), self._vpn_task) if t is not None and not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
