"""Who gets the pose model when there are more people than ``max_pose_people``: the nearest.

In a crowd the pose model's cost grows with every person (one crop each), the detector's does
not. So at most ``max_pose_people`` crops per frame go to the model; everyone else is published
from the detector's own keypoints (``detector_keypoints``), so the robot still knows where
everybody is at a bounded frame time. The full skeletons go to the people who matter most to
a robot: already-published people before newcomers (an id that keeps its full skeleton), then
the nearest first:

- with a depth image, a person's distance is the median depth measured in the middle of their
  box (the middle third each way: torso, not background past the silhouette);
- without one, or where that window holds no measurement, it is estimated from the box height
  as ``fy x 1.7 m / box height`` (an upright adult's height): the largest box is the nearest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Final

import numpy as np

from bodypose3d_ros.core.depth.depth_image import DepthImage
from bodypose3d_ros.core.people.tracking import Target
from bodypose3d_ros.core.types import Box

# An upright adult's height, metres: turns a box height into a distance guess.
PERSON_HEIGHT_M: Final = 1.7
# Depth pixels read per side of the middle window at most (a strided subsample above that).
_SAMPLES_PER_SIDE: Final = 12


def box_distance(
    box: Box, fy: float, depth: DepthImage | None = None, image_size: tuple[int, int] = (0, 0)
) -> float:
    """How far the person in ``box`` is, metres (see the module docstring); inf for an empty box.

    ``image_size`` (width, height) of the colour image the box is in: the depth image may have
    another resolution (same field of view), the box is scaled to it.
    """
    if depth is not None and image_size[0] > 0 and image_size[1] > 0:
        measured = _median_depth(box, depth, image_size)
        if np.isfinite(measured):
            return measured
    if box.height <= 0.0 or not np.isfinite(box.height):
        return float("inf")
    return float(fy * PERSON_HEIGHT_M / box.height)


def _median_depth(box: Box, depth: DepthImage, image_size: tuple[int, int]) -> float:
    sx, sy = depth.width / image_size[0], depth.height / image_size[1]
    x0 = int(np.clip((box.x + box.width / 3.0) * sx, 0, depth.width))
    x1 = int(np.clip((box.x + 2.0 * box.width / 3.0) * sx, 0, depth.width))
    y0 = int(np.clip((box.y + box.height / 3.0) * sy, 0, depth.height))
    y1 = int(np.clip((box.y + 2.0 * box.height / 3.0) * sy, 0, depth.height))
    if x1 <= x0 or y1 <= y0:
        return float("nan")
    step_x = max(1, (x1 - x0) // _SAMPLES_PER_SIDE)
    step_y = max(1, (y1 - y0) // _SAMPLES_PER_SIDE)
    samples = depth.metres(depth.values[y0:y1:step_y, x0:x1:step_x])
    valid = samples[np.isfinite(samples)]
    return float(np.median(valid)) if valid.size else float("nan")


def budget_pose_model(
    targets: Sequence[Target],
    max_pose_people: int,
    published: Callable[[int], bool],
    distance: Callable[[Box], float],
) -> list[Target]:
    """``targets`` in their order, with ``pose_model`` False for all but the first
    ``max_pose_people`` of those that asked for the model, ranked published first, then
    nearest first (``distance`` of their box). ``published(track key)`` says whether a track is
    published. Targets without a detection (whole-image searches, crops following a person)
    have no detector keypoints to fall back on; they compete for the model all the same."""
    asking = [i for i, target in enumerate(targets) if target.pose_model]
    if len(asking) <= max_pose_people:
        return list(targets)

    def rank(i: int) -> tuple[bool, float]:
        target = targets[i]
        confirmed = target.track is not None and published(target.track)
        return (not confirmed, distance(target.box))

    chosen = set(sorted(asking, key=rank)[: max(max_pose_people, 0)])
    return [
        target
        if i in chosen or not target.pose_model
        else dataclasses.replace(target, pose_model=False)
        for i, target in enumerate(targets)
    ]
