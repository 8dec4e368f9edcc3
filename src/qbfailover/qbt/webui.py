"""One qBittorrent instance over its WebUI API, with every outcome mapped onto ``errors``.

No retries and no failover here (that is ``client``'s job): one call, one answer or one error.
The only repeat is the re-login after a 403 on a non-login call, which is safe because a 403 means
the request was refused before it was applied.

Protocol generations handled (measured on real 4.5.2, 5.1.0 and 5.3.0; README, "qBittorrent versions"):
- login: up to 5.1 200 ``Ok.``/``Fails.``; 5.2+ 204 / 401 ``Unauthorized``, the same 401 the
  CSRF/Host checks give on every version, so a login 401 is told apart by one unauthenticated
  request (403 there = the checks passed = wrong credentials). A ban is 403 on all versions.
- session cookie: ``SID`` (up to 5.1), ``QBT_SID_<port>`` (5.2+); one cookie jar per instance.
- torrents/add: up to 5.1 ``Ok.``/``Fails.``; 5.2+ JSON counts, 409 ``Conflict`` when nothing was
  added (duplicates, bad magnets). Only 4.x reads ``paused``, only 5.x ``stopped``: we send both.
- API keys (5.2+): ``Authorization: Bearer qbt_…``, no login and no cookie; a wrong key (or a
  version without keys) is 403 on every call, which we report as AuthFailed, never a login loop.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from qbfailover.config import InstanceConfig
from qbfailover.core.items import Item
from qbfailover.errors import AuthFailed, Banned, ConfigError, Rejected, Uncertain, Unreachable

INFO_CHUNK = 200
_SESSION_COOKIE = re.compile(r"((?:QBT_)?SID(?:_\d+)?=)[^;'\"\s]+")


class _RedactSessionCookie(logging.Filter):
    """httpcore's DEBUG trace logs whole response headers, Set-Cookie (the live session id) included:
    whoever turns on DEBUG logging must not get a usable session in their log files."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "SID" in message:
            record.msg, record.args = _SESSION_COOKIE.sub(r"\1<redacted>", message), None
        return True


for _name in ("httpcore.http11", "httpcore.http2"):
    logging.getLogger(_name).addFilter(_RedactSessionCookie())


@dataclass(frozen=True, slots=True)
class AddReply:
    """What qBittorrent said to one torrents/add request (not proof of anything by itself)."""

    status: int
    accepted: bool
    text: str
    counts: Mapping[str, int] | None = None


@dataclass(frozen=True, slots=True)
class AddOptions:
    """Options applied to every item of one add request."""

    category: str | None = None
    tags: str | None = None
    savepath: str | None = None
    paused: bool = False
    rename: str | None = None

    def form(self) -> dict[str, str]:
        data: dict[str, str] = {}
        if self.category:
            data["category"] = self.category
        if self.tags:
            data["tags"] = self.tags
        if self.savepath:
            data["savepath"] = self.savepath
        if self.paused:
            # qBittorrent 5.0 renamed paused → stopped; older versions ignore the unknown key.
            data["paused"] = "true"
            data["stopped"] = "true"
        if self.rename:
            data["rename"] = self.rename
        return data

    @classmethod
    def from_mapping(cls, raw: Mapping[str, object]) -> AddOptions:
        def text(key: str) -> str | None:
            value = raw.get(key)
            return str(value) if value not in (None, "") else None

        return cls(
            category=text("category"),
            tags=text("tags"),
            savepath=text("savepath"),
            paused=bool(raw.get("paused", False)),
            rename=text("rename"),
        )

    def as_dict(self) -> dict[str, object]:
        return {
            key: value
            for key, value in (
                ("category", self.category),
                ("tags", self.tags),
                ("savepath", self.savepath),
                ("paused", self.paused),
                ("rename", self.rename),
            )
            if value not in (None, False, "")
        }


class WebUI:
    """A persistent session with one qBittorrent WebUI (its own httpx client and cookie jar)."""

    def __init__(
        self,
        config: InstanceConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self._client = httpx.AsyncClient(
            base_url=config.base_url + "api/v2/",
            timeout=httpx.Timeout(config.read_timeout, connect=config.connect_timeout),
            # The WebUI drops idle keep-alive connections after ~8.5 s; reusing one it has just
            # closed would make a POST's fate ambiguous, so expire ours first.
            limits=httpx.Limits(max_connections=4, keepalive_expiry=5.0),
            verify=tls_verify(config),
            transport=transport,
            headers={"User-Agent": "qbfailover"},
            follow_redirects=False,
            trust_env=False,
        )
        self.logged_in = False
        # Set by the client: a login budget (returns why a login must not be tried) and a
        # listener for login outcomes ("ok", "failed", "banned"), so no wrong password loops.
        self.login_gate: Callable[[], str | Banned | None] | None = None
        self.on_login: Callable[[str], None] | None = None
        self.version: str | None = None
        self.api_version: str | None = None

    def __repr__(self) -> str:
        return f"WebUI(name={self.name!r}, url={self.config.base_url!r})"

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- session ------------------------------------------------------------------------------

    def _auth_headers(self) -> dict[str, str]:
        if self.config.api_key:
            return {"Authorization": f"Bearer {self.config.api_key.reveal()}"}
        return {}

    async def login(self, *, timeout: float | None = None) -> None:
        """Log in once; AuthFailed / Banned are final for this attempt."""
        if self.config.api_key:
            self.logged_in = True
            return
        refusal = self.login_gate() if self.login_gate else None
        if isinstance(refusal, Banned):
            raise refusal  # still banned: report BANNED while waiting it out, not AUTH_FAILED
        if refusal:
            raise AuthFailed(self.name, refusal)
        data = {"username": self.config.username, "password": self.config.password.reveal()}
        resp = await self._send("POST", "auth/login", data=data, timeout=timeout, idempotent=True)
        body = resp.text.strip()
        if resp.status_code == 204 or (resp.status_code == 200 and body == "Ok."):
            self.logged_in = True
            self._notify("ok")
            return
        self.logged_in = False
        self._client.cookies.clear()
        if resp.status_code == 403 and "banned" in body.lower():
            self._notify("banned")
            raise Banned(self.name, "qBittorrent has banned this host's IP after failed logins")
        if (resp.status_code == 200 and body == "Fails.") or (
            resp.status_code == 401 and await self._checks_passed(timeout)
        ):
            self._notify("failed")
            raise AuthFailed(self.name, "wrong username or password")
        raise self._rejected("login", resp)

    async def _checks_passed(self, timeout: float | None) -> bool:
        """After a login 401: did the CSRF/Host checks pass, so the credentials were refused (5.2+)?

        Without a session every API call but login answers 403 once those checks pass, and 401 when
        they fail; the cookie jar was just cleared, so this request carries no session.
        """
        resp = await self._send("GET", "app/version", idempotent=True, timeout=timeout)
        return resp.status_code == 403

    def _notify(self, outcome: str) -> None:
        if self.on_login is not None:
            self.on_login(outcome)

    async def ensure_session(self, *, timeout: float | None = None) -> None:
        if not self.logged_in:
            await self.login(timeout=timeout)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """An authenticated call; on 403 log in again once (a 403 was never applied)."""
        await self.ensure_session(timeout=timeout)
        resp = await self._send(method, path, idempotent=idempotent, timeout=timeout, **kwargs)
        if resp.status_code == 403 and self.config.api_key:
            # A key opens no session to renew: 403 means this key is not (or no longer) valid.
            raise AuthFailed(self.name, "API key refused (HTTP 403): wrong key, or qBittorrent before 5.2")
        if resp.status_code == 403:
            self.logged_in = False
            await self.login(timeout=timeout)
            resp = await self._send(method, path, idempotent=idempotent, timeout=timeout, **kwargs)
            if resp.status_code == 403:
                raise Rejected(self.name, "403 Forbidden even after a fresh login", 403)
        return resp

    async def _send(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One HTTP exchange; transport failures become Unreachable or Uncertain."""
        extra: dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = httpx.Timeout(
                min(timeout, self.config.read_timeout),
                connect=min(timeout, self.config.connect_timeout),
            )
        try:
            return await self._client.request(method, path, headers=self._auth_headers(), **kwargs, **extra)
        except httpx.ConnectTimeout:
            raise Unreachable(self.name, "connect timeout (host or VPN path down?)") from None
        except httpx.ConnectError as exc:
            raise Unreachable(self.name, _connect_detail(exc)) from None
        except (
            httpx.ReadTimeout,
            httpx.WriteTimeout,
            httpx.RemoteProtocolError,
            httpx.ReadError,
            httpx.WriteError,
        ) as exc:
            what = "read timeout" if isinstance(exc, httpx.ReadTimeout) else type(exc).__name__
            if idempotent:
                raise Unreachable(self.name, f"{what} (instance frozen or overloaded?)") from None
            raise Uncertain(self.name, f"{what} after sending: the request may have been applied") from None
        except httpx.PoolTimeout:
            raise Unreachable(self.name, "no free connection (pool timeout)") from None
        except httpx.HTTPError as exc:
            raise Unreachable(self.name, f"{type(exc).__name__}") from None

    def _rejected(self, what: str, resp: httpx.Response) -> Rejected:
        body = resp.text.strip().replace("\n", " ")[:120]
        hint = ""
        if resp.status_code == 401:
            hint = " (CSRF or Host-header check: is the URL's host:port the one qBittorrent serves?)"
        elif resp.status_code == 404:
            hint = " (is this URL a qBittorrent WebUI?)"
        return Rejected(
            self.name, f"{what} answered HTTP {resp.status_code} {body!r}{hint}", resp.status_code
        )

    # --- queries ------------------------------------------------------------------------------

    async def fetch_version(self, *, timeout: float | None = None) -> str:
        resp = await self._call("GET", "app/version", idempotent=True, timeout=timeout)
        if resp.status_code != 200:
            raise self._rejected("app/version", resp)
        self.version = resp.text.strip()
        return self.version

    async def fetch_api_version(self, *, timeout: float | None = None) -> str:
        resp = await self._call("GET", "app/webapiVersion", idempotent=True, timeout=timeout)
        if resp.status_code != 200:
            raise self._rejected("app/webapiVersion", resp)
        self.api_version = resp.text.strip()
        return self.api_version

    async def present(self, hashes: Iterable[str]) -> set[str]:
        """Which of ``hashes`` (lower-case hex) are on this instance, under any of its hashes."""
        wanted = sorted({h.lower() for h in hashes})
        found: set[str] = set()
        for start in range(0, len(wanted), INFO_CHUNK):
            chunk = wanted[start : start + INFO_CHUNK]
            resp = await self._call(
                "GET", "torrents/info", idempotent=True, params={"hashes": "|".join(chunk)}
            )
            if resp.status_code != 200:
                raise self._rejected("torrents/info", resp)
            found.update(parse_info_hashes(self.name, resp))
        return found

    # --- the one non-idempotent call ----------------------------------------------------------

    async def add(self, items: Sequence[Item], options: AddOptions) -> AddReply:
        """Send ``items`` in one torrents/add request; Uncertain if the answer never came."""
        urls = [i.source for i in items if i.kind != "torrent"]
        files = [
            ("torrents", (f"{i.v1 or i.v2 or 'item'}.torrent", i.data or b"", "application/x-bittorrent"))
            for i in items
            if i.kind == "torrent"
        ]
        data = options.form()
        if urls:
            data["urls"] = "\n".join(urls)
        resp = await self._call("POST", "torrents/add", idempotent=False, data=data, files=files or None)
        return parse_add_reply(self.name, resp)


def parse_add_reply(name: str, resp: httpx.Response) -> AddReply:
    """Map both generations' add replies; hard refusals (401, 5xx, …) raise Rejected."""
    status = resp.status_code
    body = resp.text.strip()
    if status in (200, 202):
        if body == "Ok.":
            return AddReply(status, True, body)
        if body == "Fails.":
            return AddReply(status, False, body)
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            counts = {
                k: int(v)
                for k, v in doc.items()
                if k in ("success_count", "failure_count", "pending_count") and isinstance(v, int)
            }
            accepted = counts.get("success_count", 0) + counts.get("pending_count", 0) > 0
            return AddReply(status, accepted, body[:200], counts)
        return AddReply(status, True, body[:200])
    if status == 409:  # 5.2+: nothing was added (duplicates or all invalid)
        return AddReply(status, False, body[:200])
    if status == 415:  # a .torrent in the request was not valid; other items may still be added
        return AddReply(status, False, body[:200] or "invalid torrent file")
    raise Rejected(
        name,
        f"torrents/add answered HTTP {status} {body[:120]!r}",
        status,
    )


def parse_info_hashes(name: str, resp: httpx.Response) -> set[str]:
    """All hashes a torrents/info reply names: ``hash``, ``infohash_v1`` and ``infohash_v2``."""
    try:
        doc = resp.json()
    except ValueError:
        raise Rejected(name, "torrents/info did not answer JSON", resp.status_code) from None
    if not isinstance(doc, list):
        raise Rejected(name, "torrents/info did not answer a JSON list", resp.status_code)
    out: set[str] = set()
    for entry in doc:
        if not isinstance(entry, dict):
            continue
        for key in ("hash", "infohash_v1", "infohash_v2"):
            value = entry.get(key)
            if isinstance(value, str) and value:
                out.add(value.lower())
    return out


def tls_verify(config: InstanceConfig) -> ssl.SSLContext | bool:
    """What httpx verifies an https WebUI with: the system CAs, the user's CA file, or (warned) nothing.

    A TLS context costs 15-25 ms to build (CA bundle), so plain http gets none. httpx 0.28
    deprecates ``verify=<path>``, so a CA file becomes a context here, where a missing or
    non-PEM file is a ConfigError naming it instead of a traceback on first use.
    """
    if not config.base_url.lower().startswith("https:"):
        return False
    if config.verify is False:
        logging.getLogger("qbfailover").warning(
            "%s: verify = false: the TLS certificate of %s is not checked, so anyone on the path can "
            'read the password; give its CA instead (verify = "/path/ca.pem")',
            config.name,
            config.base_url,
        )
        return False
    if config.verify is True:
        return True
    path = str(config.verify)
    try:
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        why = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or type(exc).__name__
        raise ConfigError(
            f"{config.name}: verify = {path!r} cannot be used as a CA file ({why}); give the PEM "
            "file of the CA that signed the WebUI's certificate"
        ) from None


def _connect_detail(exc: httpx.ConnectError) -> str:
    text = str(exc).lower()
    # anyio words a refusal "All connection attempts failed"; the errno is further down the chain.
    cause: BaseException | None = exc
    for _ in range(8):
        if cause is None or isinstance(cause, ConnectionRefusedError):
            break
        cause = cause.__cause__ or cause.__context__
    if "refused" in text or isinstance(cause, ConnectionRefusedError):
        return "connection refused (qBittorrent not running?)"
    if "name or service" in text or "nodename" in text or "getaddrinfo" in text:
        return "host name not found"
    if "ssl" in text or "certificate" in text:
        return 'TLS failed (certificate not trusted? set verify = "/path/ca.pem")'
    return "cannot connect (" + (str(exc)[:80] or type(exc).__name__) + ")"
