"""What counts as a bag on the command line, and the error a bag run reports.

Free of ``rosbags``, so the CLI recognises a bag (and says what is missing) without importing it.
"""

from __future__ import annotations

from pathlib import Path


class BagError(Exception):
    """A bag that cannot be processed as asked; the message is one line for the user."""


def is_bag(path: Path) -> bool:
    """Whether ``path`` names a bag rather than an image or a video."""
    if path.is_dir():
        return True  # a folder is only ever a rosbag2 (its metadata.yaml is checked on open)
    return path.suffix.lower() in (".mcap", ".bag", ".db3")


def bag_name(path: Path) -> str:
    """The name outputs are called after: the folder's name, or the file's without suffix."""
    return path.name if path.is_dir() else path.stem
