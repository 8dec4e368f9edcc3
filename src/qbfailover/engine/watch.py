"""``qbfailover watch``: the daemon loop. Health every interval, transitions logged, queue drained.

Each cycle: one health check that honours the breakers (a dead instance is re-probed once per
cool-down, never hammered; a wrong password is never retried past the login budget), the state
transition if any (logged as one line, counted, notified), and a drain of due items as soon as an
instance is healthy. When an instance comes back, every pending item is made due at once: the
backoff exists to spare a dead instance, and it is no longer dead.

Stopping: the first SIGTERM/SIGINT ends the loop after the current step (a drain finishes its
batch); a second one cancels that batch, whose items stay pending. Nothing recorded is lost.

The decisions are pure functions in ``core.watchrules``; :class:`Watcher` does the I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qbfailover.config import Settings
from qbfailover.config.model import WATCH_INTERVAL
from qbfailover.core.health import HealthReport, State, Status, status_document
from qbfailover.core.watchrules import (
    DrainTotals,
    by_instance,
    healthy_names,
    instance_changes,
    newly_healthy,
    should_drain,
    transition,
    transition_level,
)
from qbfailover.errors import QbFailoverError
from qbfailover.ledger import wait_for_work
from qbfailover.observe.logs import event
from qbfailover.observe.page_data import RECENT, TransitionRecord

if TYPE_CHECKING:
    from qbfailover.engine.client import AsyncResilientClient
    from qbfailover.engine.failback_auto import AutoFailback, AutoFailbackConfig
    from qbfailover.observe.metrics import Metrics
    from qbfailover.observe.notify import Notifier
    from qbfailover.observe.page_data import ActivityTracker

log = logging.getLogger("qbfailover.watch")


# --- the loop ---------------------------------------------------------------------------------


class Watcher:
    """Runs the cycles; ``status`` is the last status document (served at ``GET /status``).

    ``transitions`` keeps the last state changes (a tuple, swapped whole, so other threads read it
    safely); ``activity``, when given, is refreshed after each cycle for the status page.
    """

    def __init__(
        self,
        client: AsyncResilientClient,
        *,
        interval: float = WATCH_INTERVAL,
        metrics: Metrics | None = None,
        notifier: Notifier | None = None,
        clock: Callable[[], float] = time.time,
        activity: ActivityTracker | None = None,
    ) -> None:
        self.client = client
        self.failback: AutoFailback | None = None  # watch --failback: a batch after each cycle
        self.interval = interval
        self.metrics = metrics
        self.notifier = notifier
        self.clock = clock
        self.status: dict[str, object] | None = None
        self.transitions: tuple[TransitionRecord, ...] = ()
        self.activity = activity
        self.cycle = 0
        self.draining = False
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[Any] | None = None
        self._signals = 0
        self._state: State | None = None
        self._statuses: dict[str, Status] | None = None
        self._healthy: frozenset[str] | None = None
        # Called once on the first stop request (``serve`` stops its HTTP server at once with it).
        self.on_stop: Callable[[], None] | None = None

    # --- stopping -----------------------------------------------------------------------------

    def request_stop(self, why: str = "request") -> None:
        """First call: stop after the current step. Second: cancel the step in progress too."""
        self._signals += 1
        if self._stop is None:
            return
        if self._signals == 1:
            what = "finishing the batch in progress" if self.draining else "after the current check"
            event(log, logging.INFO, f"stopping ({why}): {what}", event="stopping", signal=why)
            self._stop.set()
            if self.on_stop is not None:
                self.on_stop()
        elif self._task is not None and not self._task.done():
            event(
                log,
                logging.WARNING,
                f"stopping now ({why} again): unfinished items stay pending",
                event="stopping",
                signal=why,
            )
            self._task.cancel()

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[signal.Signals]:
        installed = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.request_stop, sig.name)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):  # Windows: no loop signal handlers
                signal.signal(
                    sig, lambda s, _f: loop.call_soon_threadsafe(self.request_stop, signal.Signals(s).name)
                )
        return installed

    # --- running ------------------------------------------------------------------------------

    async def run(self, *, cycles: int | None = None) -> None:
        """Cycle until stopped (or ``cycles`` times, for tests); returns after a clean stop."""
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        installed = self._install_signals(loop)
        self._task = asyncio.current_task()
        try:
            await self._loop(cycles)
        except asyncio.CancelledError:
            if self._signals < 2:
                raise
            event(log, logging.INFO, "stopped (drain cancelled; its items stay pending)", event="stopped")
            return
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            if self.notifier is not None:
                await self.notifier.aclose()
        event(log, logging.INFO, "stopped", event="stopped", cycles=self.cycle)

    async def _loop(self, cycles: int | None) -> None:
        assert self._stop is not None
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                await self.run_cycle()
            except QbFailoverError as exc:  # e.g. the ledger is locked or the disk is full: retry
                event(log, logging.ERROR, f"cycle failed: {exc}", event="error", cycle=self.cycle)
                if self.metrics is not None:
                    self.metrics.errors.inc()
            if cycles is not None and self.cycle >= cycles:
                return
            remaining = self.interval - (time.monotonic() - started)
            # A ledger that announces new work (PostgreSQL's NOTIFY) ends the wait early: drain now.
            while remaining > 0 and await wait_for_work(lambda: self.client.ledger, remaining, self._stop):
                report = self.client.last_health
                with contextlib.suppress(QbFailoverError):  # a failing ledger: the next cycle logs it
                    n = self.client.ledger.counts()["pending"]
                    if report is not None and should_drain(report, n):
                        await self._drain(report, n)
                remaining = self.interval - (time.monotonic() - started)
            await asyncio.sleep(0)

    async def run_cycle(self) -> None:
        """One health check, its consequences, and a drain if one is due."""
        self.cycle += 1
        # Every instance is probed once per cycle, breakers or not: the interval is the rate limit
        # (one connect timeout per interval at worst, concurrently), and an instance that comes
        # back is seen in the very next cycle. Breakers keep guarding the add path (many calls a
        # second from automation); the login budget still applies here.
        report = await self.client.health_check()
        if self.metrics is not None:
            self.metrics.observe_health(report)
        ledger = self.client.ledger
        counts = ledger.counts()
        oldest = ledger.oldest_pending()
        self._note_instances(report)
        self._note_state(report, status_document(report, counts.get("pending", 0), oldest))
        back = newly_healthy(self._healthy, report)
        self._healthy = healthy_names(report)
        if back and counts.get("pending", 0):
            n = ledger.retry(None)
            event(
                log,
                logging.INFO,
                f"{', '.join(sorted(back))} usable: {n} pending item(s) due now",
                event="due",
                instances=",".join(sorted(back)),
                pending=n,
                cycle=self.cycle,
            )
        if should_drain(report, counts.get("pending", 0)):
            await self._drain(report, counts.get("pending", 0))
            counts = ledger.counts()
            oldest = ledger.oldest_pending()
        if self.failback is not None and not (self._stop is not None and self._stop.is_set()):
            await self.failback.after_cycle(report)
        if self.metrics is not None:
            self.metrics.observe_queue(counts, oldest, self.clock())
        self.status = status_document(report, counts.get("pending", 0), oldest)
        if self.activity is not None:
            self.activity.refresh(ledger, self.status, self.transitions)

    def _note_instances(self, report: HealthReport) -> None:
        for change in instance_changes(self._statuses, report):
            level = logging.INFO if change.new is Status.OK else logging.WARNING
            arrow = f"{change.old} -> {change.new}" if change.old is not None else str(change.new)
            detail = f": {change.detail}" if change.detail and change.new is not Status.OK else ""
            event(
                log,
                level,
                f"instance {change.name} {arrow}{detail}",
                event="instance",
                instance=change.name,
                to=str(change.new),
                cycle=self.cycle,
            )
        self._statuses = {i.name: i.status for i in report.instances}

    def _note_state(self, report: HealthReport, doc: dict[str, object]) -> None:
        from qbfailover.core.health import VERDICT_TEXT, describe_transition

        previous, self._state = self._state, report.state
        if previous is None:
            self._remember(report, None, VERDICT_TEXT[report.state])
            event(
                log,
                logging.ERROR if report.state is State.BOTH_DOWN else logging.INFO,
                f"state {report.state}: {VERDICT_TEXT[report.state]}",
                event="state",
                state=str(report.state),
                cycle=self.cycle,
            )
            return
        change = transition(previous, report.state)
        if change is None:
            return
        old, new = change
        self._remember(report, old, describe_transition(old, new, report.instances))
        event(
            log,
            transition_level(new),
            describe_transition(old, new, report.instances),
            event="transition",
            **{"from": str(old)},
            to=str(new),
            cycle=self.cycle,
        )
        if self.metrics is not None:
            self.metrics.observe_transition(old, new)
        if self.notifier is not None and self.notifier.enabled:
            from qbfailover.observe.notify import transition_notice

            self.notifier.send(transition_notice(old, new, report.instances, report.checked_at, doc))

    def _remember(self, report: HealthReport, old: State | None, detail: str) -> None:
        """Keep the last state changes for the status page (old is None for the first state)."""
        record = TransitionRecord(
            report.checked_at, str(old) if old else None, str(report.state), str(report.verdict), detail
        )
        self.transitions = (*self.transitions, record)[-RECENT:]

    async def _drain(self, report: HealthReport, pending: int) -> None:
        """Batches of due items until none is due, a batch fails, or a stop is requested."""
        assert self._stop is not None
        totals = DrainTotals()
        batch = self.client.drain_step
        rejected = []
        self.draining = True
        try:
            while not self._stop.is_set():
                result = await self.client.process_queue(limit=batch, health=report)
                if not result.items:
                    break
                if totals.batches == 0:
                    event(
                        log,
                        logging.INFO,
                        "draining the queue",
                        event="drain",
                        pending=pending,
                        cycle=self.cycle,
                    )
                    if self.metrics is not None:
                        self.metrics.drains.inc()
                totals.add(result)
                if self.metrics is not None:
                    self.metrics.observe_drain(result)
                rejected += [r for r in result.items if r.state == "rejected"]
                queued = sum(1 for r in result.items if r.state == "queued")
                event(
                    log,
                    logging.INFO,
                    f"drain batch {totals.batches}: {len(result.items) - queued} done, {queued} still queued",
                    event="drain_batch",
                    batch=totals.batches,
                    items=len(result.items),
                    instances=by_instance(result),
                    queued=queued,
                    cycle=self.cycle,
                )
                if queued or len(result.items) < batch:
                    break  # an instance failed, or all that was due is done: the next cycle looks
        finally:
            self.draining = False
        if totals.batches:
            event(
                log,
                logging.WARNING if totals.rejected or totals.queued else logging.INFO,
                "drain finished",
                event="drained",
                delivered=totals.delivered,
                already_there=totals.already_there,
                rejected=totals.rejected,
                queued=totals.queued,
                batches=totals.batches,
                cycle=self.cycle,
            )
        if rejected and self.notifier is not None and self.notifier.enabled:
            from qbfailover.observe.notify import rejected_notice

            self.notifier.send(rejected_notice(rejected, self.clock()))


async def run_watch(
    settings: Settings,
    *,
    interval: float,
    metrics_port: int,
    metrics_address: str,
    cycles: int | None = None,
    base_path: str = "",
    failback: AutoFailbackConfig | None = None,
) -> None:
    """Wire the watcher to its client, metrics server and notifier; return after a clean stop."""
    from qbfailover import __version__
    from qbfailover.engine.client import AsyncResilientClient  # deferred: httpx, not needed for --help
    from qbfailover.engine.failback_auto import auto_failback

    metrics: Metrics | None = None
    server = None
    notifier = None
    if metrics_port:
        from qbfailover.observe.metrics import Metrics, MetricsServer

        metrics = Metrics(settings.names, __version__)
    if settings.notify_apprise or settings.notify_webhook:
        from qbfailover.observe.notify import Notifier

        # A ConfigError here (apprise missing, URL unknown) stops watch before anything runs.
        notifier = Notifier(settings, on_result=metrics.observe_notification if metrics else None)
    activity = None
    if metrics is not None:
        from qbfailover.observe.page import refresh_seconds
        from qbfailover.observe.page_data import ActivityTracker

        activity = ActivityTracker()
    async with AsyncResilientClient(settings) as client:
        watcher = Watcher(client, interval=interval, metrics=metrics, notifier=notifier, activity=activity)
        watcher.failback = auto_failback(client, failback, metrics, notifier, activity)
        if metrics is not None and activity is not None:
            server = MetricsServer(
                metrics,
                lambda: watcher.status,
                metrics_address,
                metrics_port,
                page=lambda: activity.latest,
                base_path=base_path,
                refresh=refresh_seconds(interval),
            )
            server.start()
        host, port = server.address if server is not None else ("", 0)
        event(
            log,
            logging.INFO,
            "watch started",
            event="started",
            interval=f"{interval:g}",
            instances=",".join(settings.names),
            metrics=f"http://{_host(host)}:{port}/metrics" if server is not None else "off",
            notify=";".join(notifier.channels) if notifier is not None else "off",
        )
        try:
            await watcher.run(cycles=cycles)
        finally:
            if server is not None:
                server.stop()


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
