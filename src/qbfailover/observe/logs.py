"""Logging for long-running commands: one line per event on stderr, readable by journald and shippers.

Text lines are ``LEVEL message key=value …`` (journald adds the time stamp; values with spaces are
quoted); ``--log-format json`` writes one JSON object per line with ``ts``, ``level``, ``message``
and the same keys. Colour only when stderr is a terminal. Events carry their keys in
``extra={"fields": {...}}``; :func:`event` is the short way to log one.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Literal

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
LOGGER_NAME = "qbfailover"

_COLOURS = {"DEBUG": "2", "INFO": "32", "WARNING": "33", "ERROR": "31", "CRITICAL": "1;31"}


def fields_of(record: logging.LogRecord) -> Mapping[str, object]:
    """An event's ``key=value`` fields (empty for records logged by other code)."""
    value = getattr(record, "fields", None)
    return value if isinstance(value, Mapping) else {}


def quote(value: object) -> str:
    """A logfmt value: bare when it is one plain word, else double-quoted with escapes."""
    text = "" if value is None else str(value)
    if text and not any(c in text for c in ' ="\\\n\r\t'):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


class TextFormatter(logging.Formatter):
    """``LEVEL message key=value …`` on one line; the level coloured only on a terminal."""

    def __init__(self, colour: bool = False) -> None:
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        """One line per record, so journald and shippers never split an event."""
        level = record.levelname
        if self.colour:
            level = f"\x1b[{_COLOURS.get(level, '0')}m{level}\x1b[0m"
        message = record.getMessage().replace("\n", " ")
        parts = [level, message]
        parts.extend(f"{key}={quote(value)}" for key, value in fields_of(record).items())
        if record.exc_info:
            parts.append(f"error={quote(self.formatException(record.exc_info).splitlines()[-1])}")
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (UTC, ISO 8601), ``level``, ``message``, then the fields."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON object per record; the fields never overwrite ts, level or message."""
        doc: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "message": record.getMessage(),
        }
        for key, value in fields_of(record).items():
            doc.setdefault(key, value)
        if record.exc_info:
            doc.setdefault("error", self.formatException(record.exc_info).splitlines()[-1])
        return json.dumps(doc, default=str, ensure_ascii=False)


def setup_logging(
    level: str = "INFO", fmt: LogFormat = "text", stream: IO[str] | None = None
) -> logging.Logger:
    """Send qbfailover's events to ``stream`` (stderr); other libraries only from WARNING up.

    Replaces handlers installed by an earlier call, so it is safe to call once per command.
    """
    out = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(out)
    is_tty = bool(getattr(out, "isatty", lambda: False)())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter(colour=is_tty))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_qbfailover", False):
            root.removeHandler(old)
    handler._qbfailover = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level.upper())
    # httpx logs every request at INFO: at a short watch interval that would drown the events.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return logger


def event(logger: logging.Logger, level: int, message: str, **fields: object) -> None:
    """Log ``message`` with ``key=value`` fields (None values are left out)."""
    if logger.isEnabledFor(level):
        clean = {k: v for k, v in fields.items() if v is not None}
        logger.log(level, message, extra={"fields": clean})
