"""One qBittorrent instance over its WebUI API, with every outcome mapped onto ``errors``.

No retries and no failover here (that is ``engine``'s job): one call, one answer or one error.
Reading the replies of each protocol generation is ``qbt.replies`` (pure); this module does the I/O.
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

import asyncio
import logging
import re
import ssl
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import httpx

from qbfailover.config import InstanceConfig
from qbfailover.core.health import FailureKind
from qbfailover.core.items import Item
from qbfailover.errors import AuthFailed, Banned, ConfigError, Rejected, Uncertain, Unreachable
from qbfailover.qbt.forms import form
from qbfailover.qbt.options import AddOptions
from qbfailover.qbt.replies import (
    AddReply,
    LoginOutcome,
    LoginReply,
    add_reply,
    info_hashes,
    login_reply,
    preferences,
    rejection,
)
from qbfailover.qbt.session_cache import StoredCookie, StoredSession

__all__ = ["AddOptions", "AddReply", "WebUI", "tls_verify"]

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


class WebUI:
    """A persistent session with one qBittorrent WebUI (its own httpx client and cookie jar)."""

    def __init__(
        self,
        config: InstanceConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        stored: StoredSession | None = None,
    ) -> None:
        """``stored``: where this instance's session is kept across processes (the CLI's cache)."""
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
        # True when the last login was refused here by ``login_gate`` (no request sent), so a
        # diagnosis can say "not re-tried" without reading the refusal's wording.
        self.login_blocked = False
        # Set by the client: a login budget and a listener for login outcomes (no password loops).
        self.login_gate: Callable[[], str | Banned | None] | None = None
        self.on_login: Callable[[str], None] | None = None
        self.version: str | None = None
        self.api_version: str | None = None
        self._stored = stored if not config.api_key else None
        self.session_reused = False  # the session in use came from ``stored``, not a login here
        # One login at a time: two batches meeting an expired session log in once (a wrong
        self._login_lock = asyncio.Lock()  # password must not count twice towards a ban)
        self._sessions = 0  # sessions taken so far: tells a 403 whether one was renewed meanwhile

    def __repr__(self) -> str:
        return f"WebUI(name={self.name!r}, url={self.config.base_url!r})"

    async def aclose(self) -> None:
        """Close the connection pool; the session ends with it."""
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
        self.login_blocked = False
        if isinstance(refusal, Banned):
            raise refusal  # still banned: report BANNED while waiting it out, not AUTH_FAILED
        if refusal:
            self.login_blocked = True
            raise AuthFailed(self.name, refusal)
        data = {"username": self.config.username, "password": self.config.password.reveal()}
        resp = await self._send("POST", "auth/login", data=data, timeout=timeout, idempotent=True)
        reply = login_reply(resp.status_code, resp.text)
        if reply is LoginReply.OK:
            self.logged_in = True
            self._sessions += 1
            self.session_reused = False
            self._notify(LoginOutcome.OK)
            self._keep_session()
            return
        self.logged_in = False
        self._client.cookies.clear()
        self._forget_session()
        if reply is LoginReply.BANNED:
            self._notify(LoginOutcome.BANNED)
            raise Banned(self.name, "qBittorrent has banned this host's IP after failed logins")
        if reply is LoginReply.WRONG_CREDENTIALS or (
            reply is LoginReply.UNAUTHORIZED and await self._checks_passed(timeout)
        ):
            self._notify(LoginOutcome.FAILED)
            raise AuthFailed(self.name, "wrong username or password")
        raise rejection(self.name, "login", resp.status_code, resp.text)

    async def _checks_passed(self, timeout: float | None) -> bool:
        """After a login 401: did the CSRF/Host checks pass, so the credentials were refused (5.2+)?

        Without a session every API call but login answers 403 once those checks pass, and 401 when
        they fail; the cookie jar was just cleared, so this request carries no session.
        """
        resp = await self._send("GET", "app/version", idempotent=True, timeout=timeout)
        return resp.status_code == 403

    def _notify(self, outcome: LoginOutcome) -> None:
        if self.on_login is not None:
            self.on_login(outcome)

    def _keep_session(self) -> None:
        if self._stored is not None:
            jar = self._client.cookies.jar
            self._stored.store([StoredCookie(c.name, c.value or "", c.domain, c.path) for c in jar])

    def _forget_session(self) -> None:
        if self._stored is not None:
            self._stored.drop()

    def _reuse_session(self) -> bool:
        """Take the session another process of ours kept (no login); False when there is none."""
        cookies = self._stored.load() if self._stored is not None else []
        if not cookies:
            return False
        for c in cookies:
            self._client.cookies.set(c.name, c.value, domain=c.domain, path=c.path)
        self.logged_in = self.session_reused = True
        self._sessions += 1
        return True

    def session_ids(self) -> list[str]:
        """The live session cookie values (never logged): what leak checks must not find anywhere."""
        return [value for value in self._client.cookies.values() if value]

    async def ensure_session(self, *, timeout: float | None = None) -> None:
        """Log in unless a session (or an API key) is already in place: one login per session.

        A session kept by an earlier process is taken without a login; if it turns out stale,
        the first call's 403 drops it and logs in once (see ``_call``).
        """
        if self.logged_in:
            return
        async with self._login_lock:
            if not self.logged_in and not self._reuse_session():
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
        session = self._sessions
        resp = await self._send(method, path, idempotent=idempotent, timeout=timeout, **kwargs)
        if resp.status_code == 403 and self.config.api_key:
            # A key opens no session to renew: 403 means this key is not (or no longer) valid.
            raise AuthFailed(self.name, "API key refused (HTTP 403): wrong key, or qBittorrent before 5.2")
        if resp.status_code == 403:
            async with self._login_lock:
                if self._sessions == session:  # nobody renewed it while this request was out
                    self.logged_in = False
                    if self.session_reused:  # expired or forged: never offered again
                        self.session_reused = False
                        self._client.cookies.clear()
                        self._forget_session()
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
            headers = {**self._auth_headers(), **kwargs.pop("headers", {})}
            return await self._client.request(method, path, headers=headers, **kwargs, **extra)
        except httpx.ConnectTimeout:
            raise Unreachable(
                self.name, "connect timeout (host or VPN path down?)", kind=FailureKind.CONNECT_TIMEOUT
            ) from None
        except httpx.ConnectError as exc:
            detail, kind = _connect_detail(exc)
            raise Unreachable(self.name, detail, kind=kind) from None
        except (
            httpx.ReadTimeout,
            httpx.WriteTimeout,
            httpx.RemoteProtocolError,
            httpx.ReadError,
            httpx.WriteError,
        ) as exc:
            what = "read timeout" if isinstance(exc, httpx.ReadTimeout) else type(exc).__name__
            kind = _TIMEOUT_KINDS.get(type(exc), FailureKind.BROKEN)
            if idempotent:
                raise Unreachable(self.name, f"{what} (instance frozen or overloaded?)", kind=kind) from None
            raise Uncertain(
                self.name, f"{what} after sending: the request may have been applied", kind=kind
            ) from None
        except httpx.PoolTimeout:
            raise Unreachable(
                self.name, "no free connection (pool timeout)", kind=FailureKind.POOL_TIMEOUT
            ) from None
        except httpx.HTTPError as exc:
            raise Unreachable(self.name, f"{type(exc).__name__}") from None

    # --- queries ------------------------------------------------------------------------------

    async def fetch_version(self, *, timeout: float | None = None) -> str:
        """qBittorrent's version (``v4.5.2``), kept in ``version``; a cheap authenticated liveness check."""
        resp = await self._call("GET", "app/version", idempotent=True, timeout=timeout)
        if resp.status_code != 200:
            raise rejection(self.name, "app/version", resp.status_code, resp.text)
        self.version = resp.text.strip()
        return self.version

    async def fetch_api_version(self, *, timeout: float | None = None) -> str:
        """The WebAPI version (``2.8.19``), kept in ``api_version``: what tells the dialects apart."""
        resp = await self._call("GET", "app/webapiVersion", idempotent=True, timeout=timeout)
        if resp.status_code != 200:
            raise rejection(self.name, "app/webapiVersion", resp.status_code, resp.text)
        self.api_version = resp.text.strip()
        return self.api_version

    async def fetch_preferences(self, *, timeout: float | None = None) -> dict[str, Any]:
        """The instance's app/preferences (save path, auth settings) for diagnostics such as doctor.

        Rejected when the reply is not a JSON object; like every call here, it logs in if needed.
        """
        resp = await self._call("GET", "app/preferences", idempotent=True, timeout=timeout)
        return preferences(self.name, resp.status_code, resp.text)

    async def present(self, hashes: Iterable[str]) -> set[str]:
        """Which of ``hashes`` (lower-case hex) are on this instance, under any of its hashes.

        One POST whatever the count: 4.5 and 5.x filter a POSTed ``hashes`` field as they filter
        the query, and a body has no URL length limit (a batch is one request, not one per chunk).
        """
        wanted = sorted({h.lower() for h in hashes})
        if not wanted:
            return set()
        query = form({"hashes": "|".join(wanted)})
        resp = await self._call("POST", "torrents/info", idempotent=True, **query)
        if resp.status_code != 200:
            raise rejection(self.name, "torrents/info", resp.status_code, resp.text)
        return info_hashes(self.name, resp.status_code, resp.text)

    async def request(
        self, method: str, path: str, *, idempotent: bool, timeout: float | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Any API call (``path`` under ``api/v2/``) on this session, as the gateway forwards one.

        Only what the caller passes is sent (its params, form fields, files), never a client's
        headers; a transport failure is Unreachable or, for a non-idempotent call, Uncertain.
        """
        return await self._call(method, path, idempotent=idempotent, timeout=timeout, **kwargs)

    # --- the one non-idempotent call ----------------------------------------------------------

    async def add(self, items: Sequence[Item], options: AddOptions) -> AddReply:
        """Send ``items`` in one torrents/add request; Uncertain if the answer never came."""
        urls = [i.source for i in items if i.kind != "torrent"]
        files = [
            ("torrents", (f"{i.v1 or i.v2 or 'item'}.torrent", i.data or b"", "application/x-bittorrent"))
            for i in items
            if i.kind == "torrent"
        ]
        data = options.form() | ({"urls": "\n".join(urls)} if urls else {})
        body = {"data": data, "files": files} if files else form(data)  # a form unless files ride along
        resp = await self._call("POST", "torrents/add", idempotent=False, **body)
        return add_reply(self.name, resp.status_code, resp.text)


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


_TIMEOUT_KINDS: dict[type[Exception], FailureKind] = {
    httpx.ReadTimeout: FailureKind.READ_TIMEOUT,
    httpx.WriteTimeout: FailureKind.WRITE_TIMEOUT,
}


def _connect_detail(exc: httpx.ConnectError) -> tuple[str, FailureKind]:
    text = str(exc).lower()
    # anyio words a refusal "All connection attempts failed"; the errno is further down the chain.
    cause: BaseException | None = exc
    for _ in range(8):
        if cause is None or isinstance(cause, ConnectionRefusedError):
            break
        cause = cause.__cause__ or cause.__context__
    if "refused" in text or isinstance(cause, ConnectionRefusedError):
        return "connection refused (qBittorrent not running?)", FailureKind.REFUSED
    if "name or service" in text or "nodename" in text or "getaddrinfo" in text:
        return "host name not found", FailureKind.DNS
    if "ssl" in text or "certificate" in text:
        return 'TLS failed (certificate not trusted? set verify = "/path/ca.pem")', FailureKind.TLS
    return "cannot connect (" + (str(exc)[:80] or type(exc).__name__) + ")", FailureKind.CONNECT_FAILED
