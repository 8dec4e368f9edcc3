"""I/O probes: is the VPN path up, and does each WebUI answer and accept us?

All probes of one health check run concurrently under one deadline (``health_round`` starts them); a
refused port is known at once and a blackholed path costs one connect timeout, never more.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import time

import httpx

from qbfailover.config import VpnProbeConfig, parse_host_port
from qbfailover.core.health import FailureKind, InstanceHealth, Status, VpnHealth, VpnStatus, status_of
from qbfailover.errors import InstanceError, Rejected, Unreachable
from qbfailover.qbt.webui import WebUI


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)


async def probe_vpn(cfg: VpnProbeConfig | None, deadline: float) -> VpnHealth:
    """UP/DOWN for the configured probe kind; NOT_CONFIGURED when there is none."""
    if cfg is None:
        return VpnHealth(VpnStatus.NOT_CONFIGURED, detail="no VPN probe configured")
    timeout = max(0.05, min(cfg.timeout, deadline))
    start = time.perf_counter()
    try:
        ok, detail = await asyncio.wait_for(_VPN_PROBES[cfg.kind](cfg.target, timeout), timeout + 0.2)
    except TimeoutError:
        ok, detail = False, f"no answer within {timeout:g} s"
    status = VpnStatus.UP if ok else VpnStatus.DOWN
    return VpnHealth(status, _ms(start), detail, cfg.target, cfg.kind)


async def _icmp(target: str, timeout: float) -> tuple[bool, str]:
    ping = shutil.which("ping")
    if ping is None:
        return False, "ping is not installed (install iputils-ping, or use a tcp probe)"
    if sys.platform == "win32":
        args = [ping, "-n", "1", "-w", str(max(1, int(timeout * 1000))), target]
    else:
        args = [ping, "-c", "1", "-n", "-W", str(max(1, round(timeout + 0.49))), target]
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        code = await asyncio.wait_for(proc.wait(), timeout)
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        raise
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return False, f"no ping reply from {target} within {timeout:g} s"
    return (code == 0, "ping reply" if code == 0 else f"no ping reply from {target}")


async def _tcp(target: str, timeout: float) -> tuple[bool, str]:
    host, port = parse_host_port(target, "vpn.target")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except TimeoutError:
        return False, f"connect to {target} timed out"
    except OSError as exc:
        return False, f"connect to {target} failed ({exc.strerror or type(exc).__name__})"
    writer.close()
    return True, f"{target} accepts connections"


async def _interface(target: str, timeout: float) -> tuple[bool, str]:
    import psutil  # deferred: only this probe kind needs it

    stats = psutil.net_if_stats().get(target)
    if stats is None:
        return False, f"interface {target} does not exist"
    if not stats.isup:
        return False, f"interface {target} is down"
    return True, f"interface {target} is up"


async def _http(target: str, timeout: float) -> tuple[bool, str]:
    async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
        try:
            resp = await client.get(target)
        except httpx.HTTPError as exc:
            return False, f"{target}: {type(exc).__name__}"
    if resp.status_code >= 500:
        return False, f"{target} answered HTTP {resp.status_code}"
    return True, f"{target} answered HTTP {resp.status_code}"


_VPN_PROBES = {"icmp": _icmp, "tcp": _tcp, "interface": _interface, "http": _http}


async def probe_instance(webui: WebUI, deadline: float) -> tuple[InstanceHealth, InstanceError | None]:
    """Log in if needed and read the version: OK proves the WebUI answers *and* accepts us."""
    cfg = webui.config
    start = time.perf_counter()
    error: InstanceError | None = None
    try:
        version = await asyncio.wait_for(webui.fetch_version(timeout=deadline), deadline + 0.1)
        return _health(webui, Status.OK, start, version=version), None
    except TimeoutError:
        error = Unreachable(
            cfg.name, f"no answer within the {deadline:g} s deadline", kind=FailureKind.DEADLINE
        )
    except InstanceError as exc:
        error = exc
    code = error.status if isinstance(error, Rejected) else None
    return _health(webui, status_of(error), start, detail=error.detail, http_status=code), error


def _health(
    webui: WebUI,
    status: Status,
    start: float,
    *,
    version: str | None = None,
    detail: str = "",
    http_status: int | None = None,
) -> InstanceHealth:
    cfg = webui.config
    return InstanceHealth(
        name=cfg.name,
        status=status,
        latency_ms=_ms(start),
        version=version or webui.version,
        detail=detail,
        priority=cfg.priority,
        requires_vpn=cfg.requires_vpn,
        url=cfg.base_url,
        http_status=http_status,
    )
