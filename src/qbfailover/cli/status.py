"""``qbfailover status`` (once, or redrawn live with ``--watch``) and ``qbfailover unblock``.

Exit codes of ``status``: 0 healthy, 1 warning, 2 critical (the document's ``exit_code``), 5 if it
could not run, 2 for usage errors (``--watch`` without a terminal, or with ``--json``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from qbfailover.cli.helpers import (
    EXIT_USAGE,
    ConfigOpt,
    JsonOpt,
    emit_json,
    errors_as_lines,
    fail,
    out,
    run_with_client,
    settings_from,
)

if TYPE_CHECKING:
    from qbfailover.engine.client import AsyncResilientClient


def status(
    json_out: JsonOpt = False,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Refresh in place until Ctrl-C (needs a terminal).")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", "-n", min=0.1, help="Seconds between refreshes with --watch.")
    ] = 2.0,
    config: ConfigOpt = None,
) -> None:
    """The monitor: VPN, each instance, state, queue, verdict. Exit 0 healthy, 1 warning, 2 critical."""
    from qbfailover.core.health import status_document

    if watch:
        status_live(config, interval, json_out)
        return

    async def check(client: AsyncResilientClient) -> dict[str, object]:
        report = await client.health_check()
        ledger = client.ledger
        return status_document(report, ledger.counts().get("pending", 0), ledger.oldest_pending())

    with errors_as_lines():
        doc = run_with_client(check, config)
    if json_out:
        emit_json(doc)
    else:
        for line in status_lines(doc):
            out.print(line)
    raise typer.Exit(int(str(doc["exit_code"])))


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).isoformat(timespec="seconds") if ts else "-"


def status_lines(doc: dict[str, Any]) -> list[str]:
    """The status document as rich-markup lines, so ``status`` and ``status --watch`` draw the same."""
    lines: list[str] = []
    ok = "[green]✓[/]"
    bad = "[red]✗[/]"
    vpn = doc["vpn"]
    vmark = {"UP": f"{ok} Connected", "DOWN": f"{bad} Disconnected", "NOT_CONFIGURED": "- not configured"}
    latency = f" ({vpn['latency_ms']:.0f} ms)" if vpn["latency_ms"] is not None else ""
    lines.append(f"VPN:        {vmark[vpn['status']]}{latency}  {escape(vpn['target'] or '')}")
    for inst in doc["instances"]:
        mark = ok if inst["status"] == "OK" else ("-" if inst["status"] == "NOT_CONFIGURED" else bad)
        lat = f"{inst['latency_ms']:.0f} ms" if inst["latency_ms"] is not None else "-"
        ver = inst["version"] or "-"
        detail = f"  {escape(inst['detail'])}" if inst["detail"] and inst["status"] != "OK" else ""
        word = inst["health"].split(":", 1)[0]  # the spec client's word; its reason is the detail
        lines.append(
            f"{inst['name'] + ':':<11} {mark} {word:<14} {ver:<8} {lat:>8}  {escape(inst['url'])}{detail}"
        )
    q = doc["queue"]
    queue_text = f"{q['pending']} pending, oldest {_when(q['oldest'])}" if q["pending"] else "no queued items"
    lines.append(f"Queue:      {queue_text}")
    colour = {"Excellent": "green", "Warning": "yellow", "Info": "cyan", "Critical": "red"}[doc["verdict"]]
    lines.append(f"State:      {doc['state']}  [{colour}]{escape(doc['summary'])}[/]")
    lines.append(f"Checked:    {_when(doc['checked_at'])} in {doc['duration_ms']:.0f} ms")
    return lines


def status_live(config: Path | None, interval: float, json_out: bool) -> None:
    """``status --watch``: redraw the status every ``interval`` seconds until Ctrl-C.

    A person at a terminal only: scripts get ``status --json`` and services ``watch``, so both
    refusals are usage errors (exit 2) rather than a display nobody can read.
    """
    if json_out:
        fail("--watch redraws a terminal display; use --json without --watch in scripts", EXIT_USAGE)
    if not (sys.stdout.isatty() and out.is_terminal):
        fail(
            "status --watch needs a terminal; use 'status --json' in scripts, 'watch' as a service",
            EXIT_USAGE,
        )

    from rich.console import Group
    from rich.live import Live
    from rich.text import Text

    from qbfailover.core.health import status_document
    from qbfailover.engine.client import AsyncResilientClient

    def render(doc: dict[str, Any] | None, note: str) -> Group:
        lines = status_lines(doc) if doc is not None else ["checking…"]
        footer = f"[dim]every {interval:g} s · Ctrl-C to quit{note}[/]"
        return Group(*(Text.from_markup(line) for line in [*lines, footer]))

    async def loop(live: Live) -> None:
        # Ctrl-C sets an event the loop checks, instead of asyncio.run's cancelling the main task:
        # Python 3.11's wait_for can swallow that cancellation when a probe finishes at the same
        # moment, and the display then ran on after Ctrl-C.
        stop = asyncio.Event()
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C stays KeyboardInterrupt
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
        async with AsyncResilientClient(settings_from(config)) as client:
            while not stop.is_set():
                report = await client.health_check()
                ledger = client.ledger
                doc = status_document(report, ledger.counts().get("pending", 0), ledger.oldest_pending())
                live.update(render(doc, ""), refresh=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)

    with errors_as_lines():
        try:
            with Live(render(None, ""), console=out.console, auto_refresh=False, transient=False) as live:
                asyncio.run(loop(live))
        except KeyboardInterrupt:
            return


def unblock(
    instance: Annotated[str | None, typer.Argument(help="Instance name (default: all).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Forget login failures, bans and open breakers, after you fixed the cause."""

    async def go(client: AsyncResilientClient) -> list[str]:
        return list(client.unblock(instance))

    with errors_as_lines():
        names = run_with_client(go, config)
    out.print("unblocked: " + ", ".join(names))
