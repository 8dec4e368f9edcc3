"""What every command module shares: the consoles, the exit codes, error handling and output helpers.

It imports no other ``cli`` module (each command module imports it), and nothing heavy at module
level: settings, the engine, asyncio, rich's console and progress bar are imported by the helper
that needs them (``out``/``err`` build their rich Console on first use), so a cold command pays
only for what it runs.

Exit codes: ``add``/``queue drain`` 0 all delivered, 3 some queued, 4 some rejected; ``status`` 0
healthy, 1 warning, 2 critical; 5 whenever the command could not run at all (bad settings,
unreadable ledger or file); 2 for usage errors; 130 after Ctrl-C.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from qbfailover.errors import QbFailoverError

if TYPE_CHECKING:
    from rich.console import Console

    from qbfailover.config import Settings
    from qbfailover.engine.client import AsyncResilientClient

T = TypeVar("T")

EXIT_USAGE = 2
EXIT_FAILED = 5
EXIT_INTERRUPTED = 130


class LazyConsole:
    """A rich Console built on first use (rich.console costs a cold start ~15 ms to import)."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        """The Console itself, for rich APIs that take one (Live, Progress)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr, highlight=False, soft_wrap=True)
        return self._console

    def print(self, *objects: Any, **kwargs: Any) -> None:
        """``Console.print``: markup, no highlighting, no wrapping."""
        self.console.print(*objects, **kwargs)

    @property
    def is_terminal(self) -> bool:
        """Whether the stream is a terminal (as rich decides it)."""
        return self.console.is_terminal


out = LazyConsole(stderr=False)
err = LazyConsole(stderr=True)


def escape(markup: str) -> str:
    """rich's ``markup.escape``, imported when first needed."""
    from rich.markup import escape as rich_escape

    return rich_escape(markup)


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
# watch's and serve's automatic failback (see engine.failback_auto)
FailbackOpt = Annotated[
    bool,
    typer.Option("--failback", help="Move items back to the primary once it has been healthy for a while."),
]
FailbackSettleOpt = Annotated[
    float,
    typer.Option(
        "--failback-settle",
        min=0.0,
        help="Seconds the primary must stay healthy before --failback moves items.",
    ),
]
FailbackGraceOpt = Annotated[
    float,
    typer.Option(
        "--failback-grace",
        min=0.0,
        help="Seconds between adding an item to the primary and removing it from the secondary.",
    ),
]


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print one ``qbfailover: error:`` line on stderr and exit: the only way a command reports failure."""
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
        raise typer.Exit(EXIT_INTERRUPTED) from None


def settings_from(config: Path | None) -> Settings:
    """Load the settings for ``--config`` (imported here, so commands that never need them stay light)."""
    from qbfailover.config import load_settings

    return load_settings(config)


def run_with_client(factory: Callable[[AsyncResilientClient], Awaitable[T]], config: Path | None) -> T:
    """Build the async client, run one coroutine with it, close it: one event loop per command."""
    import asyncio

    from qbfailover.engine.client import AsyncResilientClient

    settings = settings_from(config)

    async def go() -> T:
        # A cold command reuses the session an earlier one kept: no login, no PBKDF2 on the instance.
        async with AsyncResilientClient(settings, session_cache=True) as client:
            return await factory(client)

    return asyncio.run(go())


@contextmanager
def progress(*, enabled: bool, label: str) -> Iterator[Callable[[int, int], None] | None]:
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
        console=err.console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield tick


def emit_json(doc: object) -> None:
    """Write a ``--json`` document to stdout as plain JSON (never through rich, which would wrap it)."""
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


def print_results(items: list[Any]) -> None:
    """One line per item of an add or a drain: its mark, its name, where it went and why."""
    marks = {"delivered": "[green]✓[/]", "queued": "[yellow]…[/]", "rejected": "[red]✗[/]"}
    for r in items:
        where = f"→ {r.instance}" if r.instance else r.state
        label = escape(r.name if r.name else r.item)
        out.print(f"{marks[r.state]} {label}  {where}  ({escape(r.reason)})")
