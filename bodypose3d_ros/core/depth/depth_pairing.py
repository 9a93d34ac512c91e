"""Pair each colour frame with the depth frame nearest in stamp, without message_filters.

RGB-D drivers publish colour and (aligned) depth as two topics whose stamps match exactly or
nearly, and depth often arrives a little after colour (alignment takes time). A small buffer of
recent depth frames is kept; a colour frame takes the one nearest in stamp within
``max_offset_s``. If the buffer holds no depth at least as new as the colour frame yet, a nearer
one may still be on its way, so the pairing waits for it, at most ``wait_s`` and only while the
depth stream is alive (a frame arrived within ``alive_s``): a dead depth topic never slows the
colour stream down. :meth:`DepthPairer.interrupt` ends every wait at once (shutdown must not wait
out a pairing). Thread-safe: depth arrives on the executor thread, pairing runs on the worker.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Pairing(Generic[T]):
    """The depth frame paired with a colour frame (None when unpaired) and why."""

    item: T | None
    offset_s: float
    reason: str


class DepthPairer(Generic[T]):
    """A bounded buffer of (stamp, depth frame), newest last; see the module docstring."""

    def __init__(
        self,
        capacity: int = 8,
        alive_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._buffer: deque[tuple[float, T]] = deque(maxlen=capacity)
        self._alive_s = alive_s
        self._clock = clock
        self._last_arrival = float("-inf")
        self._interrupted = False
        self._changed = threading.Condition()

    def add(self, stamp: float, item: T) -> None:
        """Keep a depth frame (the oldest goes when the buffer is full) and wake a waiting pair."""
        with self._changed:
            self._buffer.append((stamp, item))
            self._last_arrival = self._clock()
            self._changed.notify_all()

    def clear(self) -> None:
        with self._changed:
            self._buffer.clear()

    def interrupt(self) -> None:
        """End the current wait now, and pair without waiting until :meth:`resume`."""
        with self._changed:
            self._interrupted = True
            self._changed.notify_all()

    def resume(self) -> None:
        """Wait for late depth frames again (after :meth:`interrupt`)."""
        with self._changed:
            self._interrupted = False

    def __len__(self) -> int:
        with self._changed:
            return len(self._buffer)

    def _nearest(self, stamp: float) -> tuple[float, T] | None:
        """The entry nearest in stamp; on a tie the newest (a driver that repeats stamps, or
        leaves them empty, must not pair every colour frame with the oldest depth frame)."""
        return min(reversed(self._buffer), key=lambda entry: abs(entry[0] - stamp), default=None)

    def _may_improve(self, stamp: float) -> bool:
        """Whether a depth frame nearer to ``stamp`` than the buffered ones may still arrive."""
        newest = max((s for s, _ in self._buffer), default=float("-inf"))
        alive = self._clock() - self._last_arrival <= self._alive_s
        return alive and newest < stamp

    def pair(self, stamp: float, max_offset_s: float, wait_s: float = 0.0) -> Pairing[T]:
        """The buffered depth frame nearest to ``stamp`` within ``max_offset_s``, or None."""
        deadline = self._clock() + max(wait_s, 0.0)
        with self._changed:
            while not self._interrupted and self._may_improve(stamp):
                remaining = deadline - self._clock()
                if remaining <= 0.0:
                    break
                self._changed.wait(remaining)
            nearest = self._nearest(stamp)
        if nearest is None:
            return Pairing(None, float("inf"), "no depth image received")
        offset = abs(nearest[0] - stamp)
        if offset > max_offset_s:
            return Pairing(
                None,
                offset,
                f"nearest depth image is {offset * 1e3:.1f} ms from the colour image "
                f"(> {max_offset_s * 1e3:.1f} ms)",
            )
        return Pairing(nearest[1], offset, "paired")
