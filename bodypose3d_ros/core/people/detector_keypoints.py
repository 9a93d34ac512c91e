"""A detected person as a pose, for when the pose model gives none: the detector's own keypoints.

For a robot planner a person who is there but not reported is the worst error. The pose model
misses people the detector sees (cut off by the border, back-turned, side-on, crouching), and
people beyond ``max_pose_people`` are not shown to it at all. Such a person is still published,
from the detector's 17 COCO keypoints mapped onto the 34-keypoint skeleton:

- every COCO keypoint goes to its same-named joint (as ``COCO17_TO_SKELETON`` says), with the
  detector's confidence;
- pelvis = mid-hips, neck = mid-shoulders and torso = midway between them, each with the lowest
  confidence of the keypoints it is made from, as every backend builds them;
- the rest (toes, heels, hand points) have confidence 0: the detector does not see them. They
  sit on the nearest measured joint (ankle, wrist) so drawings stay sane, and nothing trusts them.

Depth: a detector gives no depth at all, so ``z_rel`` is 0 for every joint. The lift then puts
the whole skeleton in one plane facing the camera at the pelvis's distance, found from the 2D
limb lengths (the same limb-length rule as for model poses). That distance is right for a person
facing the camera; limbs pointing at or away from the camera look short and push the person
further away. With a depth image the distance is measured instead, as for everyone. The pose is
marked ``source="detector"`` so smoothing and bone-length estimates of the pose model are not
fed with it, and consumers can tell (``Pose3D.keypoint_source``).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from bodypose3d_ros.core import skeleton
from bodypose3d_ros.core.people.detection import COCO17_NAMES, Detection
from bodypose3d_ros.core.types import KEYPOINT_SOURCE_DETECTOR, FloatArray, Pose25D

_COCO: Final[dict[str, int]] = {name: i for i, name in enumerate(COCO17_NAMES)}
# Skeleton joints made from several COCO keypoints: their mean, at the lowest confidence.
_DERIVED: Final[dict[str, tuple[str, ...]]] = {
    "pelvis": ("left_hip", "right_hip"),
    "neck": ("left_shoulder", "right_shoulder"),
    "torso": ("left_hip", "right_hip", "left_shoulder", "right_shoulder"),
}
# Joints the detector does not see, placed on the measured joint they hang from (confidence 0).
_PLACED_ON: Final[dict[str, str]] = {
    **{f"{side}_{part}": f"{side}_ankle" for side in ("left", "right")
       for part in ("big_toe", "small_toe", "heel")},
    **{f"{side}_{part}": f"{side}_wrist" for side in ("left", "right")
       for part in ("pinky_knuckle", "middle_tip", "index_knuckle", "thumb_tip")},
}  # fmt: skip


def _mapping() -> tuple[FloatArray, npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """(34, 17) position weights, (34, 4) confidence sources and (34,) "measured" mask."""
    weights = np.zeros((skeleton.NUM_KEYPOINTS, len(COCO17_NAMES)))
    sources = np.zeros((skeleton.NUM_KEYPOINTS, 4), dtype=np.intp)
    measured = np.zeros(skeleton.NUM_KEYPOINTS, dtype=bool)
    for joint, name in enumerate(skeleton.KEYPOINT_NAMES):
        parts = _DERIVED.get(name) or ((name,) if name in _COCO else (_PLACED_ON[name],))
        columns = [_COCO[part] for part in parts]
        weights[joint, columns] = 1.0 / len(columns)
        sources[joint] = np.resize(columns, 4)
        measured[joint] = name in _COCO or name in _DERIVED
    return weights, sources, measured


_WEIGHTS, _CONFIDENCE_SOURCES, MEASURED = _mapping()


def detection_pose(detection: Detection) -> Pose25D | None:
    """The detection's keypoints as a 34-keypoint pose (``source="detector"``), or None when
    the detector gave no keypoints or they are not finite."""
    if detection.keypoints is None:
        return None
    points = np.asarray(detection.keypoints, dtype=np.float64)
    if points.shape != (len(COCO17_NAMES), 3) or not np.all(np.isfinite(points)):
        return None
    uv = _WEIGHTS @ points[:, :2]
    confidence = np.clip(points[:, 2], 0.0, 1.0)[_CONFIDENCE_SOURCES].min(axis=1) * MEASURED
    return Pose25D(
        uv=uv,
        z_rel=np.zeros(skeleton.NUM_KEYPOINTS),
        confidence=confidence,
        box=detection.box,
        score=float(np.clip(detection.score, 0.0, 1.0)),
        source=KEYPOINT_SOURCE_DETECTOR,
    )
