"""``qbfailover serve`` in one process: the Web API gateway on uvicorn and the watch loop beside it.

One event loop runs both: the :class:`~qbfailover.engine.watch.Watcher` (health every interval,
transitions logged, queue drained on recovery, metrics) and uvicorn serving the gateway's app
(``/metrics`` on the same port). The first SIGTERM/SIGINT stops accepting connections at once,
lets requests in flight finish (an add is answered within its budget), ends the watch cycle, and
returns, so the command exits 0. The socket is bound here, so a taken port is one ConfigError line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qbfailover.config import Settings
from qbfailover.errors import ConfigError, QbFailoverError
from qbfailover.gateway.security import Credentials
from qbfailover.observe.logs import event

if TYPE_CHECKING:
    from qbfailover.engine.failback_auto import AutoFailbackConfig
    from qbfailover.gateway.service import Gateway

__all__ = ["ServeOptions", "run_serve"]

log = logging.getLogger("qbfailover.serve")


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """How ``serve`` listens and whom it lets in."""

    host: str
    port: int
    credentials: Credentials
    domains: tuple[str, ...] = ("localhost",)
    interval: float = 10.0
    grace: float = 10.0
    failback: AutoFailbackConfig | None = None
    """``--failback``: move items back to the primary once it has settled (watch's rules)."""


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only for sockets whose proto
    # says TCP; with proto 0 every answer written in two parts waited 40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
            "pick a free port with --listen HOST:PORT"
        ) from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


async def run_serve(settings: Settings, options: ServeOptions, *, cycles: int | None = None) -> None:
    """Serve until stopped; returns after a clean stop (the caller exits 0)."""
    import uvicorn

    from qbfailover import __version__
    from qbfailover.engine.client import AsyncResilientClient
    from qbfailover.engine.failback_auto import auto_failback
    from qbfailover.engine.watch import Watcher
    from qbfailover.gateway.adding import show
    from qbfailover.gateway.courier import Courier
    from qbfailover.gateway.routes import build_app
    from qbfailover.gateway.service import Gateway
    from qbfailover.observe.metrics import Metrics
    from qbfailover.observe.page import refresh_seconds
    from qbfailover.observe.page_data import ActivityTracker

    class _Server(uvicorn.Server):
        """uvicorn without its own signal handlers: the watcher's handlers stop both."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    sock = _bind(options.host, options.port)
    port = sock.getsockname()[1]
    metrics = Metrics(settings.names, __version__)
    async with AsyncResilientClient(settings) as client:
        gw = Gateway(client, options.credentials, options.host, port, (*options.domains, options.host))
        activity = ActivityTracker()
        app = build_app(
            gw,
            metrics=metrics.render,
            page=lambda: activity.latest,
            refresh=refresh_seconds(options.interval),
        )
        client.on_delivered = lambda done: show(gw, done)  # the courier's and the watch loop's drains
        gw.courier = Courier(client)
        gw.courier.start()
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,  # access lines would carry query strings; ours never do
            lifespan="off",
            timeout_graceful_shutdown=int(options.grace),
            server_header=False,
        )
        server = _Server(config)
        watcher = Watcher(client, interval=options.interval, metrics=metrics, activity=activity)
        watcher.failback = auto_failback(client, options.failback, metrics, None, activity)
        stopping = False

        def stop_server() -> None:
            nonlocal stopping
            stopping = True
            server.should_exit = True

        def server_ended(_task: asyncio.Task[None]) -> None:
            if not stopping:  # the server died by itself: stop the loop too (a second call would cancel)
                watcher.request_stop("server stopped")

        watcher.on_stop = stop_server
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        serving.add_done_callback(server_ended)
        keeping = asyncio.create_task(_keep_view_fresh(gw, options.interval))
        event(
            log,
            logging.INFO,
            "serve started",
            event="started",
            listen=f"http://{_host(options.host)}:{port}/",
            instances=",".join(settings.names),
            interval=f"{options.interval:g}",
            metrics=f"http://{_host(options.host)}:{port}/metrics",
        )
        try:
            await watcher.run(cycles=cycles)
        finally:
            keeping.cancel()
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError, SystemExit):
                await serving
            await gw.courier.stop(options.grace)
            await gw.aclose(options.grace)
            sock.close()


BACKGROUND_SHARE = 0.05
"""At most this share of an instance's time goes to the gateway's own background lists."""


async def _keep_view_fresh(gw: Gateway, interval: float) -> None:
    """Refresh the merged view every interval: last-known lists stay recent, and an instance that
    answers again gets the category/tag edits it missed without waiting for a client's call.

    The pause grows with what a list costs: qBittorrent serialises each torrent it lists (0.1-0.3
    ms on 4.5), so with 10,000 torrents a list every 5 s would take a fifth to a half of its WebUI
    thread.
    """
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        with contextlib.suppress(QbFailoverError):
            await gw.view.refresh()
        took = loop.time() - started
        await asyncio.sleep(max(interval, 5.0, took / BACKGROUND_SHARE))


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
