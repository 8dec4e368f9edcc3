"""Reading what users hand us: the one place an item argument touches the disk (a .torrent path).

``core.items`` judges text and bytes without I/O; :func:`parse_item` adds the bounded file read.
"""

from __future__ import annotations

from pathlib import Path

from qbfailover.core import items
from qbfailover.core.items import Item, parse_text, parse_torrent, short
from qbfailover.errors import ItemError


def parse_item(text: str) -> Item:
    """Parse one command-line or API argument: a magnet, an http(s) URL, or a .torrent path."""
    parsed = parse_text(text)
    if isinstance(parsed, Item):
        return parsed
    path = Path(parsed)
    try:
        with path.open("rb") as fh:  # bounded: a typo such as /dev/zero must not eat the memory
            data = fh.read(items.MAX_TORRENT_BYTES + 1)
    except FileNotFoundError:
        raise ItemError(f"not a magnet, URL or existing .torrent file: {short(parsed)}") from None
    except OSError as exc:
        raise ItemError(f"cannot read {short(parsed)}: {exc.strerror or exc}") from None
    except ValueError:  # e.g. an embedded NUL byte
        raise ItemError(f"not a magnet, URL or file path: {short(parsed)}") from None
    return parse_torrent(data, source=str(path))
