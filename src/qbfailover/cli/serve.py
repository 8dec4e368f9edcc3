"""``qbfailover serve``: the qBittorrent Web API gateway with failover (docs/gateway.md).

Starlette and uvicorn are imported only when the command runs, so ``qbfailover --help`` stays
light. Clients log in with ``QBFAILOVER_GATEWAY_USERNAME``/``QBFAILOVER_GATEWAY_PASSWORD`` when
set, else with the instances' ``QBITTORRENT_USERNAME``/``QBITTORRENT_PASSWORD`` (the first instance's
pair with ``--config``). Exit codes: 0 after a clean stop (SIGTERM/SIGINT), 5 if it cannot start
(bad settings, port taken, no credentials), 2 for a bad ``--listen`` or log option.
"""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer

from qbfailover.cli.helpers import (
    EXIT_USAGE,
    ConfigOpt,
    FailbackGraceOpt,
    FailbackOpt,
    FailbackSettleOpt,
    errors_as_lines,
    fail,
    settings_from,
)
from qbfailover.config.model import WATCH_INTERVAL
from qbfailover.errors import ConfigError
from qbfailover.observe.logs import LOG_FORMATS, setup_logging


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        fail(f"--listen must be HOST:PORT (e.g. 127.0.0.1:8080), not {value!r}", EXIT_USAGE)
    return host, int(port)


def serve(
    listen: Annotated[
        str,
        typer.Option(
            "--listen", "-l", help="Address and port to serve the Web API on.", envvar="QBFAILOVER_LISTEN"
        ),
    ] = "127.0.0.1:8080",
    domains: Annotated[
        str,
        typer.Option(
            "--server-domains",
            help="';'-separated host names clients may use in the Host header (wildcards allowed).",
            envvar="QBFAILOVER_SERVER_DOMAINS",
        ),
    ] = "localhost",
    interval: Annotated[
        float, typer.Option("--interval", "-i", min=0.01, help="Seconds between health checks.")
    ] = WATCH_INTERVAL,
    failback: FailbackOpt = False,
    failback_settle: FailbackSettleOpt = 300.0,
    failback_grace: FailbackGraceOpt = 10.0,
    log_format: Annotated[str, typer.Option("--log-format", help="Log line format: text or json.")] = "text",
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
    config: ConfigOpt = None,
) -> None:
    """Serve qBittorrent's Web API with failover behind it: point Sonarr & co. here."""
    if log_format not in LOG_FORMATS:
        fail(f"--log-format must be one of {', '.join(LOG_FORMATS)}", EXIT_USAGE)
    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        fail("--log-level must be debug, info, warning or error", EXIT_USAGE)
    host, port = _listen(listen)
    setup_logging(log_level, log_format)
    from qbfailover.engine.failback_auto import AutoFailbackConfig
    from qbfailover.gateway.security import Credentials
    from qbfailover.gateway.server import ServeOptions, run_serve

    with errors_as_lines():
        settings = settings_from(config)
        first = settings.by_priority[0]
        username = os.environ.get("QBFAILOVER_GATEWAY_USERNAME", first.username)
        password = os.environ.get("QBFAILOVER_GATEWAY_PASSWORD", first.password.reveal())
        if not username or not password:
            raise ConfigError(
                "the gateway needs a username and password for its clients; set "
                "QBFAILOVER_GATEWAY_USERNAME and QBFAILOVER_GATEWAY_PASSWORD "
                "(or QBITTORRENT_USERNAME/PASSWORD)"
            )
        options = ServeOptions(
            host=host,
            port=port,
            credentials=Credentials(username, password),
            domains=tuple(d.strip() for d in domains.split(";") if d.strip()),
            interval=interval,
            failback=AutoFailbackConfig(failback_settle, failback_grace) if failback else None,
        )
        asyncio.run(run_serve(settings, options))
