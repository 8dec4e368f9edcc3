"""Who holds a claim: a worker id that says which host, process and process start it names.

Why: a lease alone would leave the rows of a ``kill -9``'d ``add`` blocked for a whole lease; a
pid alone means nothing on another host (or in another container). The id carries the host name,
the pid and the process start time, so a backend can free at once the claims of a process on
*this* host that provably no longer runs, and leave other hosts' claims to their lease.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

import psutil

__all__ = ["WorkerId", "provably_dead", "this_process"]

_SEP = "/"  # cannot occur in a host name


@dataclass(frozen=True, slots=True)
class WorkerId:
    """A process that can hold claims: the host it runs on, its pid and its start time."""

    host: str
    pid: int
    started: str
    """Process start time, ``%.2f`` seconds since the epoch: tells a reused pid from the holder."""

    @property
    def token(self) -> str:
        """The text stored as the claim owner: ``host/pid/started``."""
        return _SEP.join((self.host, str(self.pid), self.started))

    @classmethod
    def parse(cls, token: str) -> WorkerId | None:
        """Read a stored owner back; None for ids this module did not make (custom workers).

        Ledgers of schema 1 stored ``pid:started``: those name a process on this host, since
        schema 1 was used by one host only.
        """
        host, pid, started = _split(token)
        if not pid.isdigit():
            return None
        return cls(host, int(pid), started)


def _split(token: str) -> tuple[str, str, str]:
    if _SEP in token:
        host, _, rest = token.rpartition(_SEP)
        host, _, pid = host.rpartition(_SEP)
        return host, pid, rest
    pid, _, started = token.partition(":")
    return socket.gethostname(), pid, started


def this_process() -> WorkerId:
    """The id of the running process."""
    proc = psutil.Process()
    return WorkerId(socket.gethostname(), proc.pid, f"{proc.create_time():.2f}")


def provably_dead(owner: str, here: WorkerId) -> bool:
    """Whether ``owner`` is a process on ``here``'s host that no longer runs (or is a zombie).

    Anything we cannot tell (another host, an id we did not make, access denied) counts as
    alive, so that only the lease frees it: a wrong "dead" would let two workers deliver a row.
    """
    worker = WorkerId.parse(owner)
    if worker is None or worker.host != here.host:
        return False
    try:
        proc = psutil.Process(worker.pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return True
        return f"{proc.create_time():.2f}" != worker.started
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False
