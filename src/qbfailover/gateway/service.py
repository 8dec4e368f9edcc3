"""The gateway's state: the engine client, the merged view, the login rules, and instance calls.

Everything sent to an instance goes through the engine's own session for it
(:meth:`~qbfailover.qbt.webui.WebUI.request`): only the parameters, fields and files the gateway
chose, never a client's cookies, Authorization, Origin or Referer, and never an instance's session
back to a client. Category and tag edits that an instance missed are kept per instance and replayed
as soon as it answers again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qbfailover.config import InstanceConfig
from qbfailover.errors import InstanceError
from qbfailover.gateway.security import Bans, Credentials, Sessions
from qbfailover.gateway.view import MergedView

if TYPE_CHECKING:
    from qbfailover.engine.client import AsyncResilientClient
    from qbfailover.gateway.courier import Courier

__all__ = ["GATEWAY_API_VERSION", "GATEWAY_VERSION", "Gateway", "Reply", "Upload"]

GATEWAY_VERSION = "v4.6.7"
GATEWAY_API_VERSION = "2.9.3"
"""What the gateway reports: the 4.x dialect (``pause``/``resume``, ``paused``, text replies), which
every client speaks; 5.x names are accepted too and each instance is sent its own."""

log = logging.getLogger("qbfailover.serve")

Upload = tuple[str, bytes]
"""A multipart file: (file name, content)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer to a client: status, body and its content type (never an instance's headers)."""

    status: int
    body: bytes | str = b""
    media_type: str = "text/plain; charset=UTF-8"


def text(status: int, body: str) -> Reply:
    """A plain-text answer, as qBittorrent gives for errors and for ``Ok.``/``Fails.``."""
    return Reply(status, body)


@dataclass(slots=True)
class Gateway:
    """What every route shares."""

    client: AsyncResilientClient
    credentials: Credentials
    bound: str
    port: int
    domains: tuple[str, ...]
    clock: Callable[[], float] = time.time
    sessions: Sessions = field(init=False)
    bans: Bans = field(init=False)
    view: MergedView = field(init=False)
    replay: dict[str, list[tuple[str, dict[str, str]]]] = field(default_factory=dict)
    cache: dict[str, bytes] = field(default_factory=dict)
    """Last good JSON answers per endpoint and instance, for when the instance cannot be reached."""
    background: set[asyncio.Task[Any]] = field(default_factory=set)
    courier: Courier | None = None
    """Delivers what adds recorded (set by the server; None: the watch loop's drain does it)."""
    followups: dict[str, list[tuple[str, dict[str, str]]]] = field(default_factory=dict)
    """Commands on items that were being delivered when they came: sent once the hash is listed."""

    def __post_init__(self) -> None:
        self.sessions = Sessions(self.clock)
        self.bans = Bans(self.clock)
        self.view = MergedView(self.client)
        self.view.on_reachable = self.replay_to

    # --- instances ----------------------------------------------------------------------------

    def is_v5(self, cfg: InstanceConfig) -> bool:
        """Whether the instance speaks 5.x (``stop``/``start``): from the version its probe read."""
        version = self.client.webui(cfg).version or ""
        major = version.lstrip("v").split(".")[0]
        return major.isdigit() and int(major) >= 5

    def usable(self) -> list[InstanceConfig]:
        """Instances in priority order that answered last time (unknown ones count as usable)."""
        return [c for c in self.client.settings.by_priority if self.view.reachable.get(c.name, True)]

    async def call(
        self,
        cfg: InstanceConfig,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        files: list[tuple[str, Upload]] | None = None,
    ) -> Reply:
        """One call on the instance's engine session, answered with the instance's status and body."""
        ui = self.client.webui(cfg)
        if not ui.version:
            await ui.fetch_version(timeout=self.client.settings.deadline)
        kwargs: dict[str, Any] = {}
        if params:
            kwargs["params"] = dict(params)
        if data:
            kwargs["data"] = dict(data)
        if files:
            kwargs["files"] = [(name, (fn, content)) for name, (fn, content) in files]
        resp = await ui.request(method, path, idempotent=method == "GET", **kwargs)
        media = resp.headers.get("content-type", "text/plain; charset=UTF-8").split("\r")[0]
        return Reply(resp.status_code, resp.content, media)

    async def forward(
        self, method: str, path: str, params: Mapping[str, str], files: list[tuple[str, Upload]]
    ) -> Reply:
        """An endpoint the gateway does not model: to the first instance that answers, else 503."""
        last = "no instance configured"
        for cfg in self.usable():
            try:
                if method == "GET":
                    return await self.call(cfg, "GET", path, params=params)
                return await self.call(cfg, "POST", path, data=params, files=files)
            except InstanceError as exc:
                self.view.reachable[cfg.name] = False
                last = str(exc)
                if method != "GET":
                    break  # a POST that may have been applied is not sent to a second instance
        return text(503, f"qbfailover: no qBittorrent instance can answer {path} right now ({last})")

    async def fanout(self, path: str, data: Mapping[str, str]) -> Reply:
        """A category/tag edit to every instance; one that cannot be reached gets it on return."""
        replies: list[Reply] = []
        for cfg in self.client.settings.by_priority:
            try:
                replies.append(await self.call(cfg, "POST", path, data=data))
            except InstanceError:
                self.view.reachable[cfg.name] = False
                self.replay.setdefault(cfg.name, []).append((path, dict(data)))
        if any(r.status < 300 for r in replies) or not replies:
            return Reply(200)
        return replies[0]

    async def replay_to(self, cfg: InstanceConfig) -> None:
        """Send an instance the category/tag edits it missed while down, in order."""
        todo = self.replay.pop(cfg.name, [])
        for n, (path, data) in enumerate(todo):
            try:
                await self.call(cfg, "POST", path, data=data)
            except InstanceError:
                self.replay[cfg.name] = todo[n:] + self.replay.get(cfg.name, [])
                return
        if todo:
            log.info("replayed %d category/tag edit(s) to %s", len(todo), cfg.name)

    def keep(self, task: asyncio.Task[Any]) -> None:
        """Hold a background task (an add still being delivered after its answer) until it ends."""
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def aclose(self, grace: float) -> None:
        """Let background deliveries finish (bounded); their items are recorded either way."""
        if self.background:
            await asyncio.wait(set(self.background), timeout=grace)
