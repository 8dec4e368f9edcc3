"""``qbfailover watch`` (the service) and ``qbfailover doctor`` (the diagnosis).

The heavy modules (prometheus_client, psutil, apprise, the doctor's checks) are imported inside the
commands, so ``qbfailover --help`` stays fast; ``observe.logs`` is imported at module level because
``watch --help`` shows its log formats, and the engine only when ``watch`` runs.

Exit codes: ``watch`` 0 after a clean stop (SIGTERM/SIGINT), 5 if it cannot start (bad settings,
metrics port taken, apprise missing), 2 for a bad ``--log-format``/``--log-level``/``--base-path``;
``doctor`` 0 all PASS, 1 some WARN, 2 some FAIL.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from qbfailover.cli.helpers import (
    EXIT_USAGE,
    ConfigOpt,
    FailbackGraceOpt,
    FailbackOpt,
    FailbackSettleOpt,
    JsonOpt,
    emit_json,
    errors_as_lines,
    fail,
    out,
    settings_from,
)
from qbfailover.config.model import WATCH_INTERVAL
from qbfailover.observe.logs import LOG_FORMATS, setup_logging

_LOG_FORMAT_HELP = f"Log line format: {' or '.join(LOG_FORMATS)}."
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def watch(
    interval: Annotated[
        float,
        typer.Option("--interval", "-i", min=0.01, help="Seconds between health checks."),
    ] = WATCH_INTERVAL,
    metrics_port: Annotated[
        int,
        typer.Option(
            "--metrics-port",
            min=0,
            max=65535,
            help="Serve the status page, /metrics and /status on this port (0: no server).",
            envvar="QBFAILOVER_METRICS_PORT",
        ),
    ] = 9911,
    metrics_address: Annotated[
        str,
        typer.Option(
            "--metrics-address", help="Address to bind the metrics server and status page to (loopback)."
        ),
    ] = "127.0.0.1",
    base_path: Annotated[
        str,
        typer.Option(
            "--base-path",
            help="URL path the status page is served under behind a reverse proxy (e.g. /qbfailover).",
            envvar="QBFAILOVER_BASE_PATH",
        ),
    ] = "",
    failback: FailbackOpt = False,
    failback_settle: FailbackSettleOpt = 300.0,
    failback_grace: FailbackGraceOpt = 10.0,
    log_format: Annotated[str, typer.Option("--log-format", help=_LOG_FORMAT_HELP)] = "text",
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
    config: ConfigOpt = None,
) -> None:
    """Run as a service: health every interval, transitions logged and notified, queue drained."""
    if log_format not in LOG_FORMATS:
        fail(f"--log-format must be one of {', '.join(LOG_FORMATS)}", EXIT_USAGE)
    if log_level.upper() not in _LOG_LEVELS:
        fail("--log-level must be debug, info, warning or error", EXIT_USAGE)
    setup_logging(log_level, log_format)
    from qbfailover.engine.failback_auto import AutoFailbackConfig
    from qbfailover.engine.watch import run_watch

    if base_path and metrics_port:
        from qbfailover.errors import ConfigError
        from qbfailover.observe.page import normalise_base_path

        try:
            base_path = normalise_base_path(base_path)
        except ConfigError as exc:
            fail(str(exc), EXIT_USAGE)
    with errors_as_lines():
        settings = settings_from(config)
        asyncio.run(
            run_watch(
                settings,
                interval=interval,
                metrics_port=metrics_port,
                metrics_address=metrics_address,
                base_path=base_path,
                failback=AutoFailbackConfig(failback_settle, failback_grace) if failback else None,
            )
        )


def doctor(json_out: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Diagnose settings, VPN, each WebUI, local processes, disk space and the queue.

    Each check is PASS, WARN or FAIL with a one-line fix. Exit 0 all PASS, 1 WARN, 2 FAIL.
    """
    from qbfailover.ops.doctor import exit_code, render_text, run_doctor

    with errors_as_lines():
        checks = asyncio.run(run_doctor(lambda: settings_from(config)))
    if json_out:
        emit_json([c.as_dict() for c in checks])
    else:
        for line in render_text(checks):
            out.print(line)
    raise typer.Exit(exit_code(checks))
