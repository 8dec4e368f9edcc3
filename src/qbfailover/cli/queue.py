"""``qbfailover queue …``: inspect and process the durable queue (the ledger).

``list``, ``drain``, ``import``, ``export``, ``retry``, ``drop`` and ``purge`` on ``queue_app``,
which ``cli.program`` mounts as the ``queue`` group. The ledger is opened inside each command, so
``--help`` never imports sqlite3. ``drain`` exits 0 all delivered, 3 some left, 4 some rejected;
``import`` exits 4 if some lines were invalid.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from qbfailover.cli.helpers import (
    EXIT_USAGE,
    ConfigOpt,
    JsonOpt,
    emit_json,
    errors_as_lines,
    fail,
    out,
    print_results,
    progress,
    run_with_client,
    settings_from,
)
from qbfailover.errors import QbFailoverError

if TYPE_CHECKING:  # --help must not import the engine
    from qbfailover.core.watchrules import DrainTotals
    from qbfailover.engine.client import AsyncResilientClient

queue_app = typer.Typer(help="Inspect and process the durable queue (the ledger).", no_args_is_help=True)


def _ledger(config: Path | None) -> Any:
    from qbfailover.ledger import open_ledger

    return open_ledger(settings_from(config).db_path)


def _entry_doc(e: Any) -> dict[str, object]:
    return {
        "id": e.id,
        "infohash": e.key if e.kind != "url" else None,
        "name": e.name,
        "state": e.state,
        "instance": e.instance,
        "reason": e.reason,
        "attempts": e.attempts,
        "created_at": e.created_at,
        "kind": e.kind,
        "last_error": e.last_error,
        "next_attempt_at": e.next_attempt_at if e.state == "pending" else None,
        "uncertain": list(e.uncertain),
    }


@queue_app.command("list")
def queue_list(
    all_: Annotated[bool, typer.Option("--all", help="Include delivered and rejected items.")] = False,
    limit: Annotated[int | None, typer.Option(help="At most this many rows.")] = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Pending items (with --all: also delivered and rejected, with where and why)."""
    states = ("pending", "delivered", "rejected") if all_ else ("pending",)
    with errors_as_lines(), _ledger(config) as ledger:
        entries = ledger.list(states=states, limit=limit)
    if json_out:
        emit_json([_entry_doc(e) for e in entries])
        return
    if not entries:
        out.print("queue is empty" if not all_ else "ledger is empty")
        return
    for e in entries:
        where = e.instance or "-"
        out.print(
            f"#{e.id:<6} {e.state:<9} {escape(e.name[:48]):<48} {where:<10} "
            f"tries={e.attempts} {escape(e.reason or '')}"
        )


@queue_app.command("drain")
def queue_drain(
    limit: Annotated[int | None, typer.Option(help="Deliver at most this many items.")] = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Deliver due pending items now, with failover. Exit 0 all delivered, 3 some left, 4 some rejected."""
    with errors_as_lines(), progress(enabled=not json_out, label="draining") as tick:
        if json_out:  # one document with every item: it has to hold them all
            result = run_with_client(lambda c: c.process_queue(limit=limit, on_progress=tick), config)
            emit_json({**result.as_dict(), "exit_code": result.exit_code})
            raise typer.Exit(result.exit_code)
        totals = run_with_client(lambda c: _drain_printing(c, limit, tick), config)
    if totals.batches == 0:
        out.print(
            "nothing delivered: queue empty, nothing due yet, or no instance healthy "
            "(see 'qbfailover status')"
        )
    raise typer.Exit(4 if totals.rejected else 3 if totals.queued else 0)


async def _drain_printing(
    client: AsyncResilientClient, limit: int | None, tick: Callable[[int, int], None] | None
) -> DrainTotals:
    """One drain step at a time, each printed as it ends: memory stays flat however long the queue.

    The same claims, checks and health rule as one ``process_queue`` call (a step reuses the
    previous step's health report unless something in it failed); only the results are not kept.
    """
    from qbfailover.core.watchrules import DrainTotals

    totals = DrainTotals()
    step = client.drain_step
    total = client.ledger.counts().get("pending", 0) if tick is not None else 0
    if limit is not None:
        total = min(total, limit)
    done = 0
    health = None
    while limit is None or done < limit:
        size = step if limit is None else min(step, limit - done)
        result = await client.process_queue(limit=size, health=health)
        if not result.items:
            break
        totals.add(result)
        print_results(result.items)
        done += len(result.items)
        if tick is not None:
            tick(done, max(total, done))
        if len(result.items) < size:
            break  # the claim came back short: nothing more is due
        failed = any(r.state == "queued" for r in result.items)
        health = None if failed else client.last_health
    return totals


@queue_app.command("import")
def queue_import(
    path: Annotated[Path, typer.Argument(help="A queue file in the spec's JSON format.")],
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Record the magnets of a spec-format queue file as pending (the file is left untouched)."""
    from qbfailover.core.items import link_item
    from qbfailover.ledger.queuefile import read_queue_file
    from qbfailover.ledger.sqlite import NewEntry

    rejected: list[dict[str, str]] = []
    entries: list[Any] = []
    with errors_as_lines():
        q = read_queue_file(path)
        valid = []
        for raw in q.magnets:
            try:
                valid.append(link_item(raw))
            except QbFailoverError as exc:
                rejected.append({"item": raw, "reason": str(exc)})
        reason = f"imported from {path.name}: {q.reason}"[:200]
        with _ledger(config) as ledger, progress(enabled=not json_out, label="importing") as tick:
            for start in range(0, len(valid), 1000):
                chunk = valid[start : start + 1000]
                new = [
                    NewEntry(key=i.key, kind=i.kind, payload=i.payload(), name=i.name, options={})
                    for i in chunk
                ]
                entries += ledger.record(new, reason=reason, claim=False)
                if tick is not None:
                    tick(start + len(chunk), len(valid))
    doc = {"imported": len(entries), "rejected": rejected, "file": str(path)}
    if json_out:
        emit_json(doc)
    else:
        out.print(
            f"imported {len(entries)} item(s) from {escape(str(path))} as pending; "
            "'qbfailover queue drain' delivers them"
        )
        for r in rejected:
            out.print(f"[red]✗[/] {escape(r['item'][:60])}  ({escape(r['reason'])})")
    raise typer.Exit(4 if rejected else 0)


@queue_app.command("export")
def queue_export(
    path: Annotated[Path, typer.Argument(help="Where to write the spec-format JSON file.")],
    config: ConfigOpt = None,
) -> None:
    """Write pending magnets and URLs in the spec's JSON format (atomically), for manual processing."""
    from qbfailover.ledger.queuefile import DEFAULT_INSTRUCTIONS, QueueFile, now_iso, write_queue_file

    with errors_as_lines(), _ledger(config) as ledger:
        entries = ledger.list(states=("pending",))
        links = [e.payload.decode() for e in entries if e.kind in ("magnet", "url")]
        skipped = sum(1 for e in entries if e.kind == "torrent")
        reasons = sorted({e.reason for e in entries if e.reason})
        write_queue_file(
            path,
            QueueFile(
                saved_at=now_iso(),
                reason="; ".join(reasons)[:200] or "VPN/qBittorrent unavailable",
                magnets=links,
                instructions=DEFAULT_INSTRUCTIONS,
            ),
        )
    note = (
        f" ({skipped} .torrent file(s) cannot be expressed as links and stay in the ledger)"
        if skipped
        else ""
    )
    out.print(f"wrote {len(links)} item(s) to {escape(str(path))}{note}")


@queue_app.command("retry")
def queue_retry(
    entry_id: Annotated[int | None, typer.Argument(metavar="ID", help="Item id (see 'queue list').")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every pending item.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Clear the backoff of one pending item (or --all) so the next drain takes it."""
    if (entry_id is None) == (not all_):
        fail("give either an ID or --all", EXIT_USAGE)
    with errors_as_lines(), _ledger(config) as ledger:
        n = ledger.retry(None if all_ else entry_id)
    if n == 0 and not all_:
        fail(f"no pending item #{entry_id}; see 'qbfailover queue list'", 1)
    out.print(f"{n} item(s) due now")


@queue_app.command("drop")
def queue_drop(
    entry_id: Annotated[int, typer.Argument(metavar="ID", help="Item id (see 'queue list --all').")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Delete one item from the ledger (asks first unless --yes)."""
    with errors_as_lines(), _ledger(config) as ledger:
        entry = ledger.get(entry_id)
        if entry is None:
            fail(f"no item #{entry_id}; see 'qbfailover queue list --all'", 1)
        if not yes:
            if not sys.stdin.isatty():
                fail("refusing to drop without confirmation: add --yes", 1)
            if not typer.confirm(f"Drop #{entry_id} {entry.name} ({entry.state})?"):
                raise typer.Exit(1)
        ledger.drop(entry_id)
    out.print(f"dropped #{entry_id}")


def _duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    try:
        return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text) * 86400
    except (ValueError, IndexError):
        fail(f"--older-than {text!r}: use a number with s, m, h, d or w (e.g. 30d)", EXIT_USAGE)


@queue_app.command("purge")
def queue_purge(
    delivered: Annotated[bool, typer.Option("--delivered", help="Purge delivered items (required).")] = False,
    older_than: Annotated[str, typer.Option("--older-than", help="Age such as 30d, 12h.")] = "30d",
    config: ConfigOpt = None,
) -> None:
    """Forget delivered items older than the given age (pending items are never purged)."""
    if not delivered:
        fail("purge only removes delivered items: add --delivered", EXIT_USAGE)
    seconds = _duration(older_than)
    with errors_as_lines(), _ledger(config) as ledger:
        n = ledger.purge_delivered(seconds)
    out.print(f"purged {n} delivered item(s) older than {older_than}")
