"""Who holds a claim on the SQLite ledger: a process, named by its pid and its start time.

Why this form: a lease alone would leave the rows of a ``kill -9``'d ``add`` blocked for a whole
lease, so the SQLite backend also frees at once the claims of a process that provably no longer
runs. SQLite serves one host, so the host is implied. The token keeps schema 1's ``pid:start``
text on purpose: a process of the previous version that still has the file open (a ``watch``
service during an upgrade) reads owners that way, and any other text would look dead to it and
let it take over live claims. A backend shared by several hosts names its workers its own way.
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil

__all__ = ["WorkerId", "provably_dead", "this_process"]


@dataclass(frozen=True, slots=True)
class WorkerId:
    """A process that can hold claims: its pid and its start time (which tells a reused pid apart)."""

    pid: int
    started: str
    """Process start time, ``%.2f`` seconds since the epoch, exactly as stored."""

    @property
    def token(self) -> str:
        """The text stored as the claim owner, ``pid:started``, readable by every ledger version."""
        return f"{self.pid}:{self.started}"

    @classmethod
    def parse(cls, token: str) -> WorkerId | None:
        """Read a stored owner back; None for ids this module did not make (custom ``owner=``)."""
        pid, sep, started = token.partition(":")
        if not sep or not pid.isdigit():
            return None
        return cls(int(pid), started)


def this_process() -> WorkerId:
    """The worker id that claims made by this process carry."""
    proc = psutil.Process()
    return WorkerId(proc.pid, f"{proc.create_time():.2f}")


def provably_dead(owner: str) -> bool:
    """Whether ``owner`` is a process that no longer runs (gone, a zombie, or its pid reused).

    Anything we cannot tell (an id we did not make, access denied) counts as alive, so that only
    the lease frees it: a wrong "dead" would let two workers deliver a row.
    """
    worker = WorkerId.parse(owner)
    if worker is None:
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
