"""``python -m qbfailover.cli.helpgen``: save Typer's ``--help`` pages for ``cli.helptext``.

Run it after changing any command's help, options or defaults (tests/unit/cli/test_help_saved.py
says so when the saved pages are stale; until then ``--help`` simply goes through Typer). Saved:
the program's page and each top-level command's or group's, rendered by Typer at 80 columns, and
the checksum of the cli modules (where their words come from; a default imported from elsewhere,
such as ``watch --interval``'s, is caught by the test, which compares every page with Typer's).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from qbfailover.cli.helptext import COLUMNS, PACKAGE, PROGRAM, checksum

TARGET = Path(PACKAGE) / "cli" / "helpdata.py"
HEADER = '''"""Typer's ``--help`` pages, saved by ``python -m qbfailover.cli.helpgen``: do not edit by hand.

``cli.helptext`` prints a page only while ``CHECKSUM`` matches ``FILES`` (the sources it came from).
"""

# fmt: off
'''


# Run in a child process as the console script would be (its name in argv[0], COLUMNS=80, no
# test runner forcing a width): each page as ``run`` prints it.
CHILD = """
import contextlib, io, json, sys
sys.argv[0] = sys.argv[1]
from qbfailover.cli.program import COMMANDS, GROUPS, run
pages = {}
for path in ["", *(name for name, _, _ in (*COMMANDS, *GROUPS))]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            run([*path.split(), "--help"])
        except SystemExit as exc:
            if exc.code not in (0, None):
                continue
    pages[path] = buf.getvalue()
json.dump(pages, sys.stdout)
"""


def render() -> tuple[dict[str, str], list[str]]:
    """Every saved page (keyed by command path, "" for the program) and the files they depend on."""
    env = {**os.environ, "COLUMNS": str(COLUMNS)}
    env.pop("_QBFAILOVER_COMPLETE", None)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, PROGRAM], capture_output=True, text=True, env=env, check=True
    )
    found: dict[str, str] = json.loads(done.stdout)
    pages = {path: page for path, page in found.items() if '"""' not in page and "\\" not in page}
    files = sorted(f"cli/{p.name}" for p in (Path(PACKAGE) / "cli").glob("*.py") if p.name != "helpdata.py")
    return pages, files


def source(pages: dict[str, str], files: list[str]) -> str:
    """The text of ``helpdata.py`` for these pages and files."""
    lines = [HEADER, f"CHECKSUM = {checksum(files)!r}", f"PLATFORM = {sys.platform!r}", "FILES = ("]
    lines += [f"    {f!r}," for f in files]
    lines += [")", "PAGES = {"]
    for path, page in pages.items():
        lines.append(f'    {path!r}: """\\\n{page}""",')
    lines += ["}", "# fmt: on", ""]
    return "\n".join(lines)


def main() -> None:
    """Write ``cli/helpdata.py`` anew."""
    TARGET.write_text(source(*render()), encoding="utf-8")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
