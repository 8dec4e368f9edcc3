"""The ``watch`` and ``doctor`` commands, and ``status --watch``'s live display.

Registered on the main app by ``cli.py`` (``register(app)``). No module-level import of ``cli``
(it imports this module at its end), and the heavy modules (prometheus_client, psutil, apprise)
are imported inside the commands, so ``qbfailover --help`` stays fast.

Exit codes: ``watch`` 0 after a clean stop (SIGTERM/SIGINT), 5 if it cannot start (bad settings,
metrics port taken, apprise missing); ``doctor`` 0 all PASS, 1 some WARN, 2 some FAIL.
"""

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import typer


def register(app: typer.Typer) -> None:
    """Add ``watch`` and ``doctor`` to ``app``."""
    from qbfailover.cli import ConfigOpt, JsonOpt
    from qbfailover.engine.watch import DEFAULT_INTERVAL
    from qbfailover.observe.logs import LOG_FORMATS

    @app.command()
    def watch(
        interval: Annotated[
            float,
            typer.Option("--interval", "-i", min=0.01, help="Seconds between health checks."),
        ] = DEFAULT_INTERVAL,
        metrics_port: Annotated[
            int,
            typer.Option(
                "--metrics-port",
                min=0,
                max=65535,
                help="Serve /metrics and /status on this port (0: no server).",
                envvar="QBFAILOVER_METRICS_PORT",
            ),
        ] = 9911,
        metrics_address: Annotated[
            str,
            typer.Option("--metrics-address", help="Address to bind the metrics server to."),
        ] = "127.0.0.1",
        log_format: Annotated[
            str, typer.Option("--log-format", help=f"Log line format: {' or '.join(LOG_FORMATS)}.")
        ] = "text",
        log_level: Annotated[
            str, typer.Option("--log-level", help="debug, info, warning or error.")
        ] = "info",
        config: ConfigOpt = None,
    ) -> None:
        """Run as a service: health every interval, transitions logged and notified, queue drained."""
        watch_command(config, interval, metrics_port, metrics_address, log_format, log_level)

    @app.command()
    def doctor(json_out: JsonOpt = False, config: ConfigOpt = None) -> None:
        """Diagnose settings, VPN, each WebUI, local processes, disk space and the queue.

        Each check is PASS, WARN or FAIL with a one-line fix. Exit 0 all PASS, 1 WARN, 2 FAIL.
        """
        doctor_command(config, json_out)


def watch_command(
    config: Path | None,
    interval: float,
    metrics_port: int,
    metrics_address: str,
    log_format: str,
    log_level: str,
) -> None:
    from qbfailover.cli import _settings, errors_as_lines, fail
    from qbfailover.engine.watch import run_watch
    from qbfailover.observe.logs import LOG_FORMATS, setup_logging

    if log_format not in LOG_FORMATS:
        fail(f"--log-format must be one of {', '.join(LOG_FORMATS)}", 2)
    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        fail("--log-level must be debug, info, warning or error", 2)
    setup_logging(log_level, log_format)
    with errors_as_lines():
        settings = _settings(config)
        asyncio.run(
            run_watch(settings, interval=interval, metrics_port=metrics_port, metrics_address=metrics_address)
        )


def doctor_command(config: Path | None, json_out: bool) -> None:
    from qbfailover.cli import _emit_json, _settings, errors_as_lines, out
    from qbfailover.ops.doctor import exit_code, render_text, run_doctor

    with errors_as_lines():
        checks = asyncio.run(run_doctor(lambda: _settings(config)))
    if json_out:
        _emit_json([c.as_dict() for c in checks])
    else:
        for line in render_text(checks):
            out.print(line)
    raise typer.Exit(exit_code(checks))


def status_live(config: Path | None, interval: float, json_out: bool) -> None:
    """``status --watch``: redraw the status every ``interval`` seconds until Ctrl-C."""
    from qbfailover.cli import _settings, _status_lines, errors_as_lines, fail, out

    if json_out:
        fail("--watch redraws a terminal display; use --json without --watch in scripts", 2)
    if not (sys.stdout.isatty() and out.is_terminal):
        fail("status --watch needs a terminal; use 'status --json' in scripts, 'watch' as a service", 2)

    from rich.console import Group
    from rich.live import Live
    from rich.text import Text

    from qbfailover.core.health import status_document
    from qbfailover.engine.client import AsyncResilientClient

    def render(doc: dict[str, Any] | None, note: str) -> Group:
        lines = _status_lines(doc) if doc is not None else ["checking…"]
        footer = f"[dim]every {interval:g} s · Ctrl-C to quit{note}[/]"
        return Group(*(Text.from_markup(line) for line in [*lines, footer]))

    async def loop(live: Live) -> None:
        async with AsyncResilientClient(_settings(config)) as client:
            while True:
                report = await client.health_check()
                ledger = client.ledger
                doc = status_document(report, ledger.counts().get("pending", 0), ledger.oldest_pending())
                live.update(render(doc, ""), refresh=True)
                await asyncio.sleep(interval)

    with errors_as_lines():
        try:
            with Live(render(None, ""), console=out, auto_refresh=False, transient=False) as live:
                asyncio.run(loop(live))
        except KeyboardInterrupt:
            return
