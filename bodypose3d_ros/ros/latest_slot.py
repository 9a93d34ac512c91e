"""A one-item mailbox between a subscription and a worker: the newest frame wins.

A camera can outrun the model. Queuing frames would make every output older than the last, so the
subscription only ever replaces the waiting frame, and each replaced frame is counted as dropped.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """Holds at most one item; ``put`` replaces, ``take`` waits for one."""

    def __init__(self) -> None:
        self._item: T | None = None
        self._has_item = False
        self._closed = False
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Store ``item``; returns True when it replaced an unprocessed one (a dropped frame)."""
        with self._cond:
            replaced = self._has_item
            if replaced:
                self.dropped += 1
            self._item, self._has_item = item, True
            self._cond.notify()
            return replaced

    def take(self, timeout_s: float | None = None) -> T | None:
        """The waiting item (removing it), or None after ``timeout_s`` or once closed."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._has_item or self._closed, timeout_s):
                return None
            if not self._has_item:
                return None
            item, self._item, self._has_item = self._item, None, False
            return item

    def clear(self) -> None:
        with self._cond:
            self._item, self._has_item = None, False

    def close(self) -> None:
        """Wake every waiting ``take`` with None (used to stop the worker)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False
