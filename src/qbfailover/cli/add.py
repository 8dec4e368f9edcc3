"""``qbfailover add``: record items, deliver them with failover, queue what cannot go now.

Exit 0 all delivered, 3 some queued, 4 some rejected, 5 if the command could not run, 2 for usage.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from qbfailover.cli.helpers import (
    EXIT_USAGE,
    ConfigOpt,
    JsonOpt,
    emit_json,
    errors_as_lines,
    fail,
    print_results,
    run_with_client,
)


def _read_items(path: str) -> list[str]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}; check the path")
    except UnicodeDecodeError:
        fail(f"{path} is not UTF-8 text; give one magnet, URL or .torrent path per line")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


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
        fail("nothing to add: give items as arguments or --from-file PATH", EXIT_USAGE)
    with errors_as_lines():
        result = run_with_client(
            lambda c: c.add_torrents(given, category=category, tags=tags, savepath=savepath, paused=paused),
            config,
        )
    if json_out:
        emit_json({**result.as_dict(), "exit_code": result.exit_code})
    else:
        print_results(result.items)
    raise typer.Exit(result.exit_code)
