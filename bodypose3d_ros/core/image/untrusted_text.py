"""Strings that come from the outside (message fields) cut to a bounded length before echoing.

An encoding, frame id or error text from a message can be megabytes long; logged or put into
/diagnostics as is, one bad message becomes a megabyte log line on every frame.
"""

from __future__ import annotations

from typing import Final

DEFAULT_LIMIT: Final = 64


def clip(text: str, limit: int = DEFAULT_LIMIT) -> str:
    """``text`` if it has at most ``limit`` characters, else its start and how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...(+{len(text) - limit} chars)"
