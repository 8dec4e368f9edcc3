"""The command never imports trio, even where it is installed (httpcore would, eagerly)."""

from __future__ import annotations

import subprocess
import sys

RUN_MAIN = """
import sys
from qbfailover.cli import main
try:
    main()
except SystemExit:
    pass
print("\\n".join(sorted(k for k, v in sys.modules.items() if v is not None)), file=sys.stderr)
"""


def test_a_command_that_talks_to_an_instance_does_not_import_trio(tmp_path: object) -> None:
    """``status`` loads httpx and httpcore; trio (in the dev venv, through selenium) stays out."""
    env = {"QBITTORRENT_URL": "http://127.0.0.1:1/", "QBFAILOVER_DB": f"{tmp_path}/l.db", "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-c", RUN_MAIN, "status", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    loaded = set(done.stderr.split())
    assert {"httpx", "httpcore"} <= loaded, done.stderr[-500:]
    assert not {m for m in loaded if m == "trio" or m.startswith("trio.")}
