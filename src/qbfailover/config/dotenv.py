"""Where settings come from before they are validated: the process environment over a ``.env`` file.

A parser of our own (no python-dotenv): it never executes anything, and its errors name the file,
the line and the fix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from qbfailover.errors import ConfigError

_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse KEY=VALUE lines (optional ``export``, quotes, ``#`` comments) without executing."""
    out: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return out
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}; fix its permissions or encoding") from None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _ENV_KEY.fullmatch(key):
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE; fix or remove that line")
        value = value.strip()
        if value[:1] in ("'", '"'):
            # KEY="value" # comment: the quotes go, and so does the comment after them.
            close = value.find(value[0], 1)
            rest = value[close + 1 :].strip() if close > 0 else ""
            if close < 0 or (rest and not rest.startswith("#")):
                raise ConfigError(f"{path}:{number}: unterminated or misplaced quote in {key}; fix that line")
            value = value[1:close]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        out[key] = value
    return out


def environment(env: Mapping[str, str] | None = None, dotenv: Path | None = None) -> dict[str, str]:
    """The process environment over the ``.env`` file (the environment wins, as in dotenv)."""
    merged = read_dotenv(dotenv if dotenv is not None else Path.cwd() / ".env")
    merged.update(os.environ if env is None else env)
    return merged
