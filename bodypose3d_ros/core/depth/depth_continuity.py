"""A person's distance that does not jump when the depth image comes and goes.

The limb-length lift and the depth image disagree by the person's size ratio (a 0.6x person is
1/0.6 too far on limb lengths). A depth stream that misses or delays a frame now and then (one in
three late is common on USB cameras under load) would make the published distance jump between
the two every few frames, e.g. 3.6 m <-> 2.1 m: a planner sees a person teleport.

The choice made here, per tracked person (``PersonStates``):

* **Carry the ratio.** Each depth measurement gives a scale ``k`` = depth distance / limb-length
  distance (``DepthAnchor.scale``). It is a property of the person (their size against the limb
  table), not of the frame, so on a frame without a measurement the last ``k`` is applied to the
  limb-length lift, which still follows the person's motion. It is carried for at most
  ``hold_s`` after the last measurement (``root_depth_source`` stays ``depth``: the distance is
  the depth image's, carried; ``extras["depth_age_s"]`` says how old); after that the person is
  back on limb lengths and says so.
* **Cross-fade at a switch.** Whenever the distance changes source (limb lengths -> depth, depth
  -> limb lengths when the hold runs out, or a fresh measurement replacing a carried one) the
  scale starts at the one used on the previous frame and reaches the new source's with time
  constant ``blend_s`` counted from that frame (in log scale, so 2x and 0.5x fade alike). A
  person seen for the first time takes their source at once: nothing to be continuous with.

Measured frames after the fade use the measurement exactly, so depth's precision is kept.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from bodypose3d_ros.core.depth.depth_fusion import DepthAnchor
from bodypose3d_ros.core.people.person_state import PersonStates
from bodypose3d_ros.core.types import ROOT_DEPTH_DEPTH_IMAGE, ROOT_DEPTH_LIMB_LENGTHS, Person3D

DEFAULT_HOLD_S: Final = 1.0
DEFAULT_BLEND_S: Final = 0.3
# Person3D.extras key: seconds since the depth measurement whose ratio a person carries.
DEPTH_AGE_KEY: Final = "depth_age_s"

_MEASURED: Final = "measured"
_HELD: Final = "held"
_LIMB: Final = "limb"
_NEGLIGIBLE: Final = 1e-6  # a log-scale offset of 1 ppm: the fade is over


@dataclass
class _DistanceState:
    """One person's last measured log scale and what was applied on their last frame."""

    measured_log_scale: float = 0.0
    measured_at: float = -math.inf
    applied_log_scale: float = 0.0
    offset: float = 0.0
    """The cross-fade: applied = source's log scale + offset; decays with ``blend_s``."""
    kind: str = _LIMB
    stamp: float = -math.inf


class DepthContinuity(PersonStates[_DistanceState]):
    """Per-person distance source with a carried depth ratio and cross-fades (module docstring)."""

    def __init__(self, hold_s: float = DEFAULT_HOLD_S, blend_s: float = DEFAULT_BLEND_S) -> None:
        super().__init__()
        if not (hold_s >= 0.0 and blend_s >= 0.0):
            raise ValueError(f"hold_s and blend_s must be >= 0, got {hold_s}, {blend_s}")
        self.hold_s = hold_s
        self.blend_s = blend_s

    def _create(self) -> _DistanceState:
        return _DistanceState()

    def apply(self, person: Person3D, anchor: DepthAnchor | None, stamp: float) -> Person3D:
        """``person`` (the limb-length lift) at the distance to publish this frame.

        ``anchor`` is this frame's depth measurement for them (None: no depth image this frame).
        Call it for every person on every frame once depth is in use, so a person first seen
        without depth fades in when depth comes.
        """
        measured = anchor is not None and anchor.ok
        new = person.id not in self
        state = self._state_of(person.id)
        if measured:
            assert anchor is not None
            state.measured_log_scale = math.log(anchor.scale)
            state.measured_at = stamp
            kind, target = _MEASURED, state.measured_log_scale
        elif stamp - state.measured_at <= self.hold_s:
            kind, target = _HELD, state.measured_log_scale
        else:
            kind, target = _LIMB, 0.0
        if new:
            state.offset = 0.0
        else:
            dt = max(stamp - state.stamp, 0.0)
            if kind != state.kind:  # start from where the last frame was ...
                state.offset = state.applied_log_scale - target
            # ... and fade for the time since it (a switch after a long gap is nearly done).
            state.offset *= math.exp(-dt / self.blend_s) if self.blend_s > 0.0 else 0.0
            if abs(state.offset) < _NEGLIGIBLE:
                state.offset = 0.0
        applied = target + state.offset
        state.applied_log_scale, state.kind, state.stamp = applied, kind, stamp
        if kind == _LIMB and applied == 0.0:
            return person
        extras = dict(person.extras)
        if kind != _LIMB:
            extras[DEPTH_AGE_KEY] = stamp - state.measured_at
        return dataclasses.replace(
            person,
            xyz=np.asarray(person.xyz, dtype=np.float64) * math.exp(applied),
            root_depth_source=ROOT_DEPTH_LIMB_LENGTHS if kind == _LIMB else ROOT_DEPTH_DEPTH_IMAGE,
            extras=extras,
        )
