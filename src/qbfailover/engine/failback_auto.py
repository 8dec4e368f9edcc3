"""``watch --failback``: failback in the watch loop, once the primary has settled, in batches.

Kept apart from ``watch`` so the loop only asks "anything to do after this cycle?"; when to run
is ``core.failback.failback_due`` (pure), what to move is the same plan ``qbfailover failback``
uses. Each run that moves something is logged, counted and notified. Without ``--failback`` the
same object only previews the plan (a dry run at most every :data:`PREVIEW_EVERY` seconds) for
the status page's "what failback would move now".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from qbfailover.core.failback import failback_due
from qbfailover.core.health import HealthReport
from qbfailover.engine.failback import FailbackOptions, FailbackRun, options_for_watch, run_failback
from qbfailover.errors import QbFailoverError
from qbfailover.observe.logs import event
from qbfailover.observe.page_data import FailbackMove

if TYPE_CHECKING:
    from qbfailover.engine.client import AsyncResilientClient
    from qbfailover.observe.metrics import Metrics
    from qbfailover.observe.notify import Notifier
    from qbfailover.observe.page_data import ActivityTracker

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_SETTLE",
    "PREVIEW_EVERY",
    "AutoFailback",
    "AutoFailbackConfig",
    "auto_failback",
]

log = logging.getLogger("qbfailover.failback")

DEFAULT_SETTLE = 300.0
"""Seconds the primary must stay usable before anything moves back: a flapping VPN moves nothing."""
DEFAULT_BATCH = 50
"""Moves per watch cycle: the loop keeps checking health between batches."""
PREVIEW_EVERY = 60.0
"""Seconds between dry runs for the status page (each lists the ledger and the sources)."""


@dataclass(frozen=True, slots=True)
class AutoFailbackConfig:
    """``watch --failback``'s settings: the settle time and the grace between add and removal."""

    settle: float = DEFAULT_SETTLE
    grace: float = 10.0


class AutoFailback:
    """Decides after each watch cycle whether to move a batch back, and does it."""

    def __init__(
        self,
        client: AsyncResilientClient,
        *,
        settle: float = DEFAULT_SETTLE,
        batch: int = DEFAULT_BATCH,
        options: FailbackOptions | None = None,
        metrics: Metrics | None = None,
        notifier: Notifier | None = None,
        clock: Callable[[], float] = time.time,
        moving: bool = True,
    ) -> None:
        self.client = client
        self.moving = moving
        """False: only preview the plan (watch without ``--failback``, for the status page)."""
        self.preview: tuple[FailbackMove, ...] = ()
        self._previewed: float | None = None
        self.settle = settle
        self.options = options_for_watch(options or FailbackOptions(), batch)
        self.metrics = metrics
        self.notifier = notifier
        self.clock = clock
        self._since: float | None = None
        self._last_run: float | None = None
        self._more = False

    async def after_cycle(self, report: HealthReport) -> FailbackRun | None:
        """Run one batch if the primary has been usable for the settle time; the run, or None.

        Never raises a qbfailover error: a failed run is logged and the next cycle tries again.
        """
        try:
            return await self._after_cycle(report)
        except QbFailoverError as exc:
            event(log, logging.ERROR, f"failback: {exc}", event="failback_error")
            return None

    async def _after_cycle(self, report: HealthReport) -> FailbackRun | None:
        if not self.moving:
            await self._preview(report)
            return None
        top = self.client.settings.by_priority[0].name
        health = report.instance(top)
        now = self.clock()
        self._since, due = failback_due(
            self._since,
            self._last_run,
            primary_ok=health is not None and health.ok,
            now=now,
            settle=self.settle,
            more=self._more,
        )
        if not due:
            return None
        self._last_run = now
        run = await run_failback(self.client, self.options, report=report)
        self._more = bool(self.options.limit) and len(run.plan.moves) >= (self.options.limit or 0)
        if run.outcomes:
            self._report(run)
        await self._preview(report, force=bool(run.outcomes))
        return run

    async def _preview(self, report: HealthReport, *, force: bool = False) -> None:
        now = self.clock()
        if not force and self._previewed is not None and now - self._previewed < PREVIEW_EVERY:
            return
        self._previewed = now
        try:
            preview = replace(self.options, dry_run=True, limit=None)
            plan = (await run_failback(self.client, preview, report=report)).plan
        except Exception as exc:  # the page's preview must never stop watch, whatever went wrong
            log.warning("failback preview not refreshed (%s)", exc)
            return
        moves = [FailbackMove(m.candidate.name, m.candidate.source, m.target, "") for m in plan.moves]
        stays = [FailbackMove(s.candidate.name, s.candidate.source, "", str(s.reason)) for s in plan.stays]
        self.preview = tuple(moves + stays)

    def _report(self, run: FailbackRun) -> None:
        states = [o.state for o in run.outcomes]
        event(
            log,
            logging.WARNING if run.unfinished else logging.INFO,
            f"failback: {run.moved} moved to {run.plan.target}, {run.unfinished} unfinished",
            event="failback",
            moved=run.moved,
            unfinished=run.unfinished,
            target=run.plan.target or "",
        )
        if self.metrics is not None:
            self.metrics.observe_failback(states)
        if self.notifier is not None and self.notifier.enabled:
            from qbfailover.observe.notify import failback_notice

            names = [o.move.candidate.name for o in run.outcomes if o.state == "moved"]
            left = [f"{o.move.candidate.name}: {o.reason}" for o in run.outcomes if o.state != "moved"]
            self.notifier.send(failback_notice(run.plan.target or "", names, left, self.clock()))


def auto_failback(
    client: AsyncResilientClient,
    config: AutoFailbackConfig | None,
    metrics: Metrics | None,
    notifier: Notifier | None,
    activity: ActivityTracker | None = None,
) -> AutoFailback | None:
    """The watch loop's failback (``config`` None: ``--failback`` is off).

    With a status page (``activity``) it exists either way, to preview the plan for the page.
    """
    if config is None and activity is None:
        return None
    cfg = config or AutoFailbackConfig()
    auto = AutoFailback(
        client,
        settle=cfg.settle,
        options=FailbackOptions(persist_grace=cfg.grace),
        metrics=metrics,
        notifier=notifier,
        moving=config is not None,
    )
    if activity is not None:
        activity.failback = lambda: auto.preview
    return auto
