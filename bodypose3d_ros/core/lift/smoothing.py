"""Temporal smoothing of keypoints and root depth with One-Euro filters on real time stamps.

The One-Euro filter is a low-pass filter whose cut-off rises with the signal's speed: a still
person is heavily smoothed (no jitter) while a moving one is followed with little lag. Its rate
comes from the actual time between frames, so dropped frames and variable camera rates are
handled correctly, and each tracked person has their own filters, freed when they leave.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bodypose3d_ros.core.people.person_state import PersonStates
from bodypose3d_ros.core.types import FloatArray

DEFAULT_RESET_AFTER_S = 1.0


@dataclass(frozen=True)
class OneEuroParams:
    """``min_cutoff`` Hz at rest, ``beta`` cut-off gain per unit of speed, ``d_cutoff`` Hz for the
    speed estimate itself."""

    min_cutoff: float
    beta: float
    d_cutoff: float = 1.0


UV_PARAMS = OneEuroParams(min_cutoff=0.1, beta=0.05, d_cutoff=1.0)
Z_REL_PARAMS = OneEuroParams(min_cutoff=0.5, beta=0.05, d_cutoff=1.0)
ROOT_DEPTH_PARAMS = OneEuroParams(min_cutoff=0.1, beta=0.05, d_cutoff=1.0)


def smoothing_factor(
    rate_hz: float | FloatArray, cutoff_hz: float | FloatArray
) -> float | FloatArray:
    """Exponential smoothing weight of a first-order low-pass: fc / (rate / 2pi + fc)."""
    return cutoff_hz / (rate_hz / (2.0 * math.pi) + cutoff_hz)


class OneEuroFilter:
    """A One-Euro filter applied element-wise to arrays of any (fixed) shape.

    Time rules: the first sample passes through unchanged. A sample whose stamp does not move
    forward (a driver repeating or zeroing stamps, a message out of order, a bag played in a loop,
    a restarted simulation clock) has no rate to filter with: it passes through and restarts the
    filter from itself, so every frame shows what that frame saw (holding the previous estimate
    instead froze the skeleton while the person moved). A gap longer than ``reset_after_s`` also
    restarts, so a person found again after a stall is not dragged towards where they were.
    Non-finite elements of a sample pass through as given and do not touch that element's state;
    a change of shape restarts.
    """

    def __init__(
        self,
        params: OneEuroParams,
        reset_after_s: float = DEFAULT_RESET_AFTER_S,
    ) -> None:
        if params.min_cutoff <= 0.0 or params.d_cutoff <= 0.0 or params.beta < 0.0:
            raise ValueError(f"cut-offs must be positive and beta non-negative: {params}")
        self.params = params
        self.reset_after_s = reset_after_s
        self._value: FloatArray | None = None
        self._speed: FloatArray | None = None
        self._stamp = 0.0

    def reset(self) -> None:
        """Forget the history: the next sample passes through."""
        self._value = None
        self._speed = None

    def __call__(self, x: npt.ArrayLike, stamp: float) -> FloatArray:
        """Filter sample ``x`` taken at ``stamp`` seconds; returns a new array of x's shape."""
        sample = np.array(x, dtype=np.float64)
        if not math.isfinite(stamp):
            raise ValueError(f"time stamp must be finite, got {stamp}")
        if self._value is None or self._speed is None or self._value.shape != sample.shape:
            return self._start(sample, stamp)
        dt = stamp - self._stamp
        if dt > self.reset_after_s or dt <= 0.0:
            return self._start(sample, stamp)

        rate = 1.0 / dt
        known = np.isfinite(sample)
        if known.all() and np.isfinite(self._value).all():
            # Every element observed now and before (the usual frame): no masking needed.
            speed_hat = self._speed + smoothing_factor(rate, self.params.d_cutoff) * (
                (sample - self._value) * rate - self._speed
            )
            cutoff = self.params.min_cutoff + self.params.beta * np.abs(speed_hat)
            self._value = self._value + smoothing_factor(rate, cutoff) * (sample - self._value)
            self._speed = speed_hat
            self._stamp = stamp
            smoothed: FloatArray = self._value.copy()
            return smoothed
        unseen = known & ~np.isfinite(self._value)  # elements never seen before start afresh
        self._value[unseen] = sample[unseen]
        self._speed[unseen] = 0.0

        # Missing elements are computed as if unchanged, then left out of the state below.
        observed = np.where(known, sample, self._value)
        speed = (observed - self._value) * rate
        speed_hat = self._speed + smoothing_factor(rate, self.params.d_cutoff) * (
            speed - self._speed
        )
        cutoff = self.params.min_cutoff + self.params.beta * np.abs(speed_hat)
        value_hat = self._value + smoothing_factor(rate, cutoff) * (observed - self._value)

        self._speed = np.where(known, speed_hat, self._speed)
        self._value = np.where(known, value_hat, self._value)
        self._stamp = stamp
        out: FloatArray = np.where(known, self._value, sample)
        return out

    def _steady_rate(self, sample: FloatArray, stamp: float) -> float | None:
        """The rate the usual frame filters ``sample`` at (state and sample all finite, same
        shape, time moving forward within ``reset_after_s``); None for any other case."""
        value = self._value
        if value is None or self._speed is None or value.shape != sample.shape:
            return None
        dt = stamp - self._stamp
        if dt > self.reset_after_s or dt <= 0.0:
            return None
        if not (np.isfinite(sample).all() and np.isfinite(value).all()):
            return None
        return 1.0 / dt

    def _start(self, sample: FloatArray, stamp: float) -> FloatArray:
        self._value = sample.copy()
        self._speed = np.zeros_like(sample)
        self._stamp = stamp
        return sample


def filter_many(
    filters: Sequence[OneEuroFilter], samples: npt.ArrayLike, stamp: float
) -> FloatArray:
    """Each filter applied to its row of ``samples`` at ``stamp``, all sharing one params.

    The rows in the usual frame (see :meth:`OneEuroFilter._steady_rate`) are filtered together
    in one set of array operations, each row at its own rate (the same arithmetic as
    ``OneEuroFilter.__call__``, so the same values); the others go through the filter itself.
    """
    rows = np.array(samples, dtype=np.float64)
    if len(filters) != len(rows):
        raise ValueError(f"{len(filters)} filters for {len(rows)} samples")
    if filters and any(one.params != filters[0].params for one in filters):
        raise ValueError("filter_many needs filters with the same parameters")
    out = np.empty_like(rows)
    steady: list[int] = []
    rates: list[float] = []
    for i, one in enumerate(filters):
        rate = one._steady_rate(rows[i], stamp)
        if rate is None:
            out[i] = one(rows[i], stamp)
        else:
            steady.append(i)
            rates.append(rate)
    if not steady:
        return out
    params = filters[0].params
    chosen = [filters[i] for i in steady]
    sample = rows[steady]
    value = np.array([one._value for one in chosen])
    speed = np.array([one._speed for one in chosen])
    row_rates: FloatArray = np.array(rates).reshape(-1, *([1] * (rows.ndim - 1)))
    factor = smoothing_factor(row_rates, params.d_cutoff)
    speed_hat = speed + factor * ((sample - value) * row_rates - speed)
    cutoff = params.min_cutoff + params.beta * np.abs(speed_hat)
    value = value + smoothing_factor(row_rates, cutoff) * (sample - value)
    for one, value_row, speed_row in zip(chosen, value, speed_hat, strict=True):
        one._value, one._speed, one._stamp = value_row, speed_row, stamp
    out[steady] = value
    return out


class PersonSmoother:
    """One person's filters: pixels (34, 2), relative depths (34,) and root depth."""

    def __init__(
        self,
        uv: OneEuroParams = UV_PARAMS,
        z_rel: OneEuroParams = Z_REL_PARAMS,
        root: OneEuroParams = ROOT_DEPTH_PARAMS,
        reset_after_s: float = DEFAULT_RESET_AFTER_S,
    ) -> None:
        self._uv = OneEuroFilter(uv, reset_after_s)
        self._z_rel = OneEuroFilter(z_rel, reset_after_s)
        self._root = OneEuroFilter(root, reset_after_s)

    def smooth_keypoints(
        self, uv: npt.ArrayLike, z_rel: npt.ArrayLike, stamp: float
    ) -> tuple[FloatArray, FloatArray]:
        """Smoothed (pixels, relative depths) for the frame taken at ``stamp`` seconds."""
        return self._uv(uv, stamp), self._z_rel(z_rel, stamp)

    @staticmethod
    def smooth_many(
        smoothers: Sequence[PersonSmoother], uv: npt.ArrayLike, z_rel: npt.ArrayLike, stamp: float
    ) -> tuple[FloatArray, FloatArray]:
        """:meth:`smooth_keypoints` for N people at once: (N, 34, 2) and (N, 34) in and out."""
        return (
            filter_many([s._uv for s in smoothers], uv, stamp),
            filter_many([s._z_rel for s in smoothers], z_rel, stamp),
        )

    def root_depth_filter(self, stamp: float) -> Callable[[float], float]:
        """A filter for ``lift_pose``'s ``root_depth_filter`` hook, bound to this frame's stamp."""

        def smooth_root_depth(depth: float) -> float:
            return float(self._root(depth, stamp))

        return smooth_root_depth

    def reset(self) -> None:
        for smoother in (self._uv, self._z_rel, self._root):
            smoother.reset()


class SmootherBank(PersonStates[PersonSmoother]):
    """Per-person smoothers keyed by person id; a disabled bank smooths nothing."""

    def __init__(
        self,
        uv: OneEuroParams = UV_PARAMS,
        z_rel: OneEuroParams = Z_REL_PARAMS,
        root: OneEuroParams = ROOT_DEPTH_PARAMS,
        enabled: bool = True,
        reset_after_s: float = DEFAULT_RESET_AFTER_S,
    ) -> None:
        super().__init__()
        self._params = (uv, z_rel, root)
        self._reset_after_s = reset_after_s
        self.enabled = enabled

    def _create(self) -> PersonSmoother:
        return PersonSmoother(*self._params, reset_after_s=self._reset_after_s)

    def get(self, person_id: str) -> PersonSmoother | None:
        """The person's smoother, created on first sight; None when smoothing is disabled."""
        if not self.enabled:
            return None
        return self._state_of(person_id)
