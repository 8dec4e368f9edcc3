"""The ``qbfailover`` command: a thin layer over the library.

No logic of its own: it parses arguments, calls the library, prints one line per item (or the
stable ``--json`` documents), and turns every library error into one line on stderr and an exit
code. Exit codes: ``add``/``queue drain`` 0 all delivered, 3 some queued, 4 some rejected;
``status`` 0 healthy, 1 warning, 2 critical; 5 whenever the command could not run at all (bad
settings, unreadable ledger or file); 2 for usage errors.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from qbfailover.errors import QbFailoverError

T = TypeVar("T")
EXIT_FAILED = 5

app = typer.Typer(
    name="qbfailover",
    help="Deliver magnets and .torrent files to qBittorrent with VPN-aware failover and a durable queue.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
queue_app = typer.Typer(help="Inspect and process the durable queue (the ledger).", no_args_is_help=True)
app.add_typer(queue_app, name="queue")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML file describing the instances (else QBFAILOVER_CONFIG, else the spec's variables).",
        envvar="QBFAILOVER_CONFIG",
        show_envvar=True,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the stable JSON document instead of text.")]


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    err.print(f"qbfailover: error: {escape(message)}")
    raise typer.Exit(code)


@contextmanager
def errors_as_lines() -> Iterator[None]:
    """Library errors → one line and exit 5; Ctrl-C → exit 130, never a traceback."""
    try:
        yield
    except QbFailoverError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        err.print("qbfailover: interrupted; recorded items stay queued")
        raise typer.Exit(130) from None


def _settings(config: Path | None) -> Any:
    from qbfailover.config import load_settings

    return load_settings(config)


def _run(factory: Callable[[Any], Any], config: Path | None) -> Any:
    """Build the async client, run one coroutine with it, close it."""
    from qbfailover.engine.client import AsyncResilientClient

    settings = _settings(config)

    async def go() -> Any:
        async with AsyncResilientClient(settings) as client:
            return await factory(client)

    return asyncio.run(go())


@contextmanager
def _progress(*, enabled: bool, label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr for long runs, only when a person is watching."""
    if not (enabled and err.is_terminal):
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield tick


def _emit_json(doc: object) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).isoformat(timespec="seconds") if ts else "-"


# --- add ------------------------------------------------------------------------------------


def _read_items(path: str) -> list[str]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}; check the path")
    except UnicodeDecodeError:
        fail(f"{path} is not UTF-8 text; give one magnet, URL or .torrent path per line")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _print_results(items: list[Any]) -> None:
    marks = {"delivered": "[green]✓[/]", "queued": "[yellow]…[/]", "rejected": "[red]✗[/]"}
    for r in items:
        where = f"→ {r.instance}" if r.instance else r.state
        label = escape(r.name if r.name else r.item)
        out.print(f"{marks[r.state]} {label}  {where}  ({escape(r.reason)})")


@app.command()
def add(
    items: Annotated[
        list[str] | None, typer.Argument(help="Magnet links, http(s) URLs or .torrent paths.")
    ] = None,
    from_file: Annotated[
        str | None,
        typer.Option("--from-file", "-f", help="Read items, one per line, from PATH ('-' for stdin)."),
    ] = None,
    category: Annotated[str | None, typer.Option(help="qBittorrent category (created if missing).")] = None,
    tags: Annotated[str | None, typer.Option(help="Comma-separated tags.")] = None,
    savepath: Annotated[str | None, typer.Option(help="Download folder on the instance.")] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Add stopped/paused.")] = False,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Record items, deliver them to the best healthy instance, queue what cannot go now."""
    given = list(items or [])
    if from_file:
        given += _read_items(from_file)
    if not given:
        fail("nothing to add: give items as arguments or --from-file PATH", 2)
    with errors_as_lines():
        result = _run(
            lambda c: c.add_torrents(given, category=category, tags=tags, savepath=savepath, paused=paused),
            config,
        )
    if json_out:
        _emit_json({**result.as_dict(), "exit_code": result.exit_code})
    else:
        _print_results(result.items)
    raise typer.Exit(result.exit_code)


# --- status -----------------------------------------------------------------------------------


@app.command()
def status(
    json_out: JsonOpt = False,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Refresh in place until Ctrl-C (needs a terminal).")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", "-n", min=0.1, help="Seconds between refreshes with --watch.")
    ] = 2.0,
    config: ConfigOpt = None,
) -> None:
    """The monitor: VPN, each instance, state, queue, verdict. Exit 0 healthy, 1 warning, 2 critical."""
    from qbfailover.core.health import status_document

    if watch:
        from qbfailover.cli.watch import status_live

        status_live(config, interval, json_out)
        return

    async def check(client: Any) -> dict[str, object]:
        report = await client.health_check()
        ledger = client.ledger
        return status_document(report, ledger.counts().get("pending", 0), ledger.oldest_pending())

    with errors_as_lines():
        doc = _run(check, config)
    if json_out:
        _emit_json(doc)
    else:
        _print_status(doc)
    raise typer.Exit(int(str(doc["exit_code"])))


def _print_status(doc: dict[str, Any]) -> None:
    for line in _status_lines(doc):
        out.print(line)


def _status_lines(doc: dict[str, Any]) -> list[str]:
    """The status document as rich-markup lines (printed once, or redrawn by ``status --watch``)."""
    lines: list[str] = []
    ok = "[green]✓[/]"
    bad = "[red]✗[/]"
    vpn = doc["vpn"]
    vmark = {"UP": f"{ok} Connected", "DOWN": f"{bad} Disconnected", "NOT_CONFIGURED": "- not configured"}
    latency = f" ({vpn['latency_ms']:.0f} ms)" if vpn["latency_ms"] is not None else ""
    lines.append(f"VPN:        {vmark[vpn['status']]}{latency}  {escape(vpn['target'] or '')}")
    for inst in doc["instances"]:
        mark = ok if inst["status"] == "OK" else ("-" if inst["status"] == "NOT_CONFIGURED" else bad)
        lat = f"{inst['latency_ms']:.0f} ms" if inst["latency_ms"] is not None else "-"
        ver = inst["version"] or "-"
        detail = f"  {escape(inst['detail'])}" if inst["detail"] and inst["status"] != "OK" else ""
        lines.append(
            f"{inst['name'] + ':':<11} {mark} {inst['status']:<14} {ver:<8} {lat:>8}  "
            f"{escape(inst['url'])}{detail}"
        )
    q = doc["queue"]
    queue_text = f"{q['pending']} pending, oldest {_when(q['oldest'])}" if q["pending"] else "no queued items"
    lines.append(f"Queue:      {queue_text}")
    colour = {"Excellent": "green", "Warning": "yellow", "Info": "cyan", "Critical": "red"}[doc["verdict"]]
    lines.append(f"State:      {doc['state']}  [{colour}]{escape(doc['summary'])}[/]")
    lines.append(f"Checked:    {_when(doc['checked_at'])} in {doc['duration_ms']:.0f} ms")
    return lines


@app.command()
def unblock(
    instance: Annotated[str | None, typer.Argument(help="Instance name (default: all).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Forget login failures, bans and open breakers, after you fixed the cause."""

    async def go(client: Any) -> list[str]:
        return list(client.unblock(instance))

    with errors_as_lines():
        names = _run(go, config)
    out.print("unblocked: " + ", ".join(names))


# --- queue ------------------------------------------------------------------------------------


def _ledger(config: Path | None) -> Any:
    from qbfailover.ledger.sqlite import Ledger

    return Ledger(_settings(config).db_path)


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
        _emit_json([_entry_doc(e) for e in entries])
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
    with errors_as_lines(), _progress(enabled=not json_out, label="draining") as tick:
        result = _run(lambda c: c.process_queue(limit=limit, on_progress=tick), config)
    if json_out:
        _emit_json({**result.as_dict(), "exit_code": result.exit_code})
    elif not result.items:
        out.print(
            "nothing delivered: queue empty, nothing due yet, or no instance healthy "
            "(see 'qbfailover status')"
        )
    else:
        _print_results(result.items)
    raise typer.Exit(result.exit_code)


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
        with _ledger(config) as ledger, _progress(enabled=not json_out, label="importing") as tick:
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
        _emit_json(doc)
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
        fail("give either an ID or --all", 2)
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
        fail(f"--older-than {text!r}: use a number with s, m, h, d or w (e.g. 30d)", 2)


@queue_app.command("purge")
def queue_purge(
    delivered: Annotated[bool, typer.Option("--delivered", help="Purge delivered items (required).")] = False,
    older_than: Annotated[str, typer.Option("--older-than", help="Age such as 30d, 12h.")] = "30d",
    config: ConfigOpt = None,
) -> None:
    """Forget delivered items older than the given age (pending items are never purged)."""
    if not delivered:
        fail("purge only removes delivered items: add --delivered", 2)
    seconds = _duration(older_than)
    with errors_as_lines(), _ledger(config) as ledger:
        n = ledger.purge_delivered(seconds)
    out.print(f"purged {n} delivered item(s) older than {older_than}")


@app.command()
def demo(
    workdir: Annotated[
        Path | None, typer.Option(help="Keep profiles and the ledger here (default: a temp dir).")
    ] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Do not delete the temp dir afterwards.")] = False,
) -> None:
    """Live demo: two real local qbittorrent-nox instances through the spec's failover scenarios."""
    from qbfailover.ops.demo import reexec_in_netns, run_demo

    argv = sys.argv[sys.argv.index("demo") + 1 :] if "demo" in sys.argv else []
    reexec_in_netns(argv)
    with errors_as_lines():
        run_demo(out, workdir, keep)


from qbfailover.cli.watch import register as _register_watch  # noqa: E402

_register_watch(app)


from qbfailover.cli.provision import register as _register_provision  # noqa: E402

_register_provision(app)


def main() -> None:
    """Console-script entry point."""
    app()
