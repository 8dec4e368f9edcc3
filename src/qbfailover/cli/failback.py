"""``qbfailover failback``: move what landed on a lower-priority instance back to the best one.

Exit codes: 0 every planned move done (or nothing to move), 3 some moves failed or were left
open (a rerun finishes them), 5 could not run; ``--dry-run`` exits 0 after printing the plan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from qbfailover.cli.helpers import ConfigOpt, JsonOpt, emit_json, errors_as_lines, fail, out, run_with_client

EXIT_UNFINISHED = 3


def _pairs(values: list[str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        src, sep, dst = value.partition("=")
        if not sep or not src or not dst:
            fail(f"--map-path {value!r}: expected SOURCE_PREFIX=TARGET_PREFIX", 2)
        pairs.append((src, dst))
    return tuple(pairs)


def failback(
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print the plan (what moves where, what stays and why); touch nothing."
        ),
    ] = False,
    include_complete: Annotated[
        bool,
        typer.Option(
            "--include-complete", help="Also move complete (seeding) torrents, re-checked on the target."
        ),
    ] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Move at most N items this run.")
    ] = None,
    tag: Annotated[
        str | None,
        typer.Option("--tag", help="Also move torrents with this tag on lower-priority instances."),
    ] = None,
    map_path: Annotated[
        list[str] | None,
        typer.Option(
            "--map-path",
            help="SOURCE=TARGET save-path prefix mapping (repeatable); else the target's default.",
        ),
    ] = None,
    keep_files: Annotated[
        bool,
        typer.Option("--keep-files", help="Keep the source's partial data of moved incomplete torrents."),
    ] = False,
    grace: Annotated[
        float,
        typer.Option(
            "--grace",
            min=0.0,
            help="Seconds between adding items to the target and removing them from the source.",
        ),
    ] = 10.0,
    history: Annotated[bool, typer.Option("--history", help="List the journaled moves instead.")] = False,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Move items delivered to a lower-priority instance back to the best healthy one, safely."""
    from qbfailover.engine.failback import FailbackOptions, run_failback

    options = FailbackOptions(
        dry_run=dry_run,
        include_complete=include_complete,
        limit=limit,
        tag=tag,
        path_map=_pairs(map_path or []),
        delete_incomplete_data=not keep_files,
        persist_grace=grace,
    )
    with errors_as_lines():
        if history:
            _history(config, json_out)
            return
        run = run_with_client(lambda client: run_failback(client, options), config)
    if json_out:
        emit_json(run.as_dict())
    else:
        _print(run, dry_run)
    if run.unfinished:
        raise typer.Exit(EXIT_UNFINISHED)


def _print(run: Any, dry_run: bool) -> None:
    plan = run.plan
    outcomes = {o.move.candidate.entry_id: o for o in run.outcomes}
    if not plan.moves and not plan.stays:
        out.print("nothing to move: every delivered item is on the highest-priority instance")
        return
    verb = "would move" if dry_run else "moved"
    for m in plan.moves:
        c = m.candidate
        o = outcomes.get(c.entry_id)
        mark = "→" if o is None else {"moved": "[green]✓[/]"}.get(o.state, "[yellow]…[/]")
        what = (
            f"{verb} {c.source} → {m.target}"
            if o is None or o.state == "moved"
            else f"{o.state}: {escape(o.reason)}"
        )
        out.print(f"{mark} {escape(c.name)}  {what}")
    for s in plan.stays:
        out.print(f"- {escape(s.candidate.name)}  stays on {s.candidate.source} ({s.reason})")
    if not dry_run:
        out.print(f"{run.moved} moved, {run.unfinished} unfinished, {len(plan.stays)} staying")


def _history(config: Path | None, json_out: bool) -> None:
    from qbfailover.cli.helpers import settings_from
    from qbfailover.ledger import open_ledger

    ledger = open_ledger(settings_from(config).db_path)
    try:
        moves = ledger.moves(limit=200)
        names = {m.entry_id: (e.name if (e := ledger.get(m.entry_id)) else f"#{m.entry_id}") for m in moves}
    finally:
        ledger.close()
    if json_out:
        emit_json(
            [
                {
                    "id": m.id,
                    "entry": m.entry_id,
                    "name": names[m.entry_id],
                    "from": m.source,
                    "to": m.target,
                    "state": m.state,
                    "reason": m.reason,
                    "started_at": m.started_at,
                    "updated_at": m.updated_at,
                }
                for m in moves
            ]
        )
        return
    for m in moves:
        out.print(f"{m.state:<7} {escape(names[m.entry_id])}  {m.source} → {m.target}  {escape(m.reason)}")
