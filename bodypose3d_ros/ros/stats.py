"""Cheap running statistics for health reporting: event rates, latency percentiles, counters.

All O(1) amortised per event, so the hot path can record every frame. Times are plain seconds
from any monotonic clock the caller chooses (passed in, never read here), which keeps these
classes deterministic to test.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

import numpy as np


class RateMeter:
    """Events per second over a sliding time window (e.g. images received in the last 5 s).

    ``rate(now)`` is ``(n - 1) / (now - t_first)`` over the ``n`` events in
    ``(now - window_s, now]``: exact for evenly spaced events when read at an event, at most
    ``1/(n-1)`` low in between, and it decays to 0 once events stop (instead of freezing at the
    last value). A clock that jumps
    backwards (a replayed bag restarting) clears the history.
    """

    def __init__(self, window_s: float = 5.0) -> None:
        if not (math.isfinite(window_s) and window_s > 0):
            raise ValueError(f"window_s must be finite and > 0, got {window_s}")
        self.window_s = float(window_s)
        self._times: deque[float] = deque()

    def _advance(self, now: float) -> None:
        times = self._times
        if times and now < times[-1]:
            times.clear()
        cutoff = now - self.window_s
        while times and times[0] <= cutoff:
            times.popleft()

    def tick(self, now: float) -> None:
        """Record one event at time ``now`` (seconds)."""
        self._advance(now)
        self._times.append(now)

    def count(self, now: float) -> int:
        """How many events fall in the window ending at ``now``."""
        self._advance(now)
        return len(self._times)

    def rate(self, now: float) -> float:
        """Events per second in the window ending at ``now``; 0.0 with fewer than two events."""
        self._advance(now)
        n = len(self._times)
        if n < 2:
            return 0.0
        span = now - self._times[0]
        return (n - 1) / span if span > 0 else 0.0


class LatencyStats:
    """Percentiles of the last ``window`` samples (e.g. processing time in milliseconds).

    ``add`` is O(1); ``percentile`` sorts the window (a few hundred values) and is meant for the
    diagnostics timer, not for every frame. Percentiles interpolate linearly (NumPy's default).
    """

    def __init__(self, window: int = 200) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self._samples: deque[float] = deque(maxlen=window)

    def add(self, value: float) -> None:
        """Record one sample; non-finite values are refused (they would poison every percentile)."""
        if not math.isfinite(value):
            raise ValueError(f"latency sample must be finite, got {value}")
        self._samples.append(float(value))

    @property
    def count(self) -> int:
        """Samples currently in the window (what the percentiles are computed over)."""
        return len(self._samples)

    def percentile(self, p: float) -> float:
        """The ``p``-th percentile (0..100) of the window; NaN when there are no samples yet."""
        if not 0.0 <= p <= 100.0:
            raise ValueError(f"percentile must be in 0..100, got {p}")
        if not self._samples:
            return math.nan
        return float(np.percentile(np.fromiter(self._samples, dtype=np.float64), p))


class Counters:
    """Named monotonic counters (frames received, dropped, rejected, ...); unknown names read 0."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._values: dict[str, int] = dict.fromkeys(names, 0)

    def increment(self, name: str, amount: int = 1) -> int:
        """Add ``amount`` (>= 0, counters never go down) and return the new value."""
        if amount < 0:
            raise ValueError(f"counters only go up; got amount={amount} for {name!r}")
        value = self._values.get(name, 0) + amount
        self._values[name] = value
        return value

    def get(self, name: str) -> int:
        return self._values.get(name, 0)

    def __getitem__(self, name: str) -> int:
        return self.get(name)

    def snapshot(self) -> dict[str, int]:
        """A copy of all counters, safe to hand to another thread."""
        return dict(self._values)
