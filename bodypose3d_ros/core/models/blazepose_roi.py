"""Where BlazePose's landmark network looks: a rotated square region of interest (ROI).

The network sees a 256x256 image of one person, upright and centred. mediapipe's pose graph
(``mediapipe/modules/pose_landmark/pose_landmark_cpu.binarypb`` in the 0.10.14 wheel, its
subgraphs expanded by ``CalculatorGraph(...).text_config``) builds that region from two
*alignment points*: the hip centre and a point whose distance from it is the radius of a circle
holding the whole body, pointing towards the head. ``AlignmentPointsRectsCalculator``
(``rotation_vector_target_angle_degrees: 90``) centres the region on the hip centre, rotates it
so the hip -> body-point vector points up, and makes it 2 x radius wide;
``RectTransformationCalculator`` (``scale_x: 1.25, scale_y: 1.25, square_long: true``) grows it
by 1.25 and squares it on its long side. In tracking mode the alignment points are the
network's own two auxiliary landmarks (33: hip centre, 34: body point) from the previous frame.

We have three ways in, best first:

- :func:`roi_from_alignment_points`: a tracked person's previous auxiliary landmarks, exactly as
  mediapipe's tracking mode;
- :func:`roi_from_coco_keypoints`: a newcomer's detector keypoints (COCO 17): hip centre, the
  hip -> shoulder direction for the rotation, and the keypoints' extent for the radius;
- :func:`roi_from_box`: only a box (a detector without keypoints, or the whole image): upright,
  centred on the box, sized from its long side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from bodypose3d_ros.core.types import Box, FloatArray

# RectTransformationCalculator in both ROI subgraphs (from detection, from landmarks).
ROI_SCALE: Final = 1.25
# AlignmentPointsRectsCalculator: the hip -> body-point vector is turned to point at 90 degrees
# (straight up in an image whose y axis points down).
TARGET_ANGLE: Final = math.pi / 2

# COCO 17 indices (detection.COCO17_NAMES).
_L_SHOULDER, _R_SHOULDER, _L_HIP, _R_HIP = 5, 6, 11, 12
_HEAD = slice(0, 5)  # nose, eyes, ears
# A detector keypoint at or above this score places the ROI.
MIN_KEYPOINT_SCORE: Final = 0.3
# The body-point radius from COCO keypoints: the farthest confident keypoint from the hip
# centre, times this. The network's own body point lies beyond the farthest joint (the top of
# the head, past the eyes and ears; the finger tips past the wrists): measured on the real photos
# (person.jpg, zidane.jpg, bus.jpg; see test_blazepose_roi.py), the network's radius is
# 1.1-1.2 x the farthest COCO keypoint's distance.
KEYPOINT_RADIUS_SCALE: Final = 1.15
# The radius from a box alone: its long side times this. A detector's box is tight around the
# person (hip centre about mid-height): the network's radius is 0.5-0.55 x the box's long side
# for a whole body on the same photos (more for a half body, whose box is short).
BOX_RADIUS_SCALE: Final = 0.55


@dataclass(frozen=True)
class Roi:
    """A square region in source-image pixels: centre, side and rotation (radians).

    ``rotation`` follows mediapipe's ``NormalizedRect.rotation``: the ROI's "up" direction is
    the image's up turned by ``rotation`` clockwise on screen (x right, y down).
    """

    cx: float
    cy: float
    side: float
    rotation: float

    def crop_to_image(self, size: int) -> FloatArray:
        """(2, 3) affine map from ``size`` x ``size`` network-input pixels to image pixels.

        Input (0, 0) is the ROI's top-left corner, (size, size) its bottom-right corner, turned
        by ``rotation`` about the centre.
        """
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        k = self.side / size
        a = np.array([[c * k, -s * k], [s * k, c * k]])
        t = np.array([self.cx, self.cy]) - a @ np.array([size / 2.0, size / 2.0])
        return np.column_stack([a, t])

    def to_image(self, normalised_xy: FloatArray) -> FloatArray:
        """(n, 2) points normalised to the ROI (0..1 across it) -> image pixels."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        d = (np.asarray(normalised_xy, dtype=np.float64) - 0.5) * self.side
        x = self.cx + c * d[:, 0] - s * d[:, 1]
        y = self.cy + s * d[:, 0] + c * d[:, 1]
        return np.column_stack([x, y])

    def holds(self, x: float, y: float) -> bool:
        """Whether the image point (x, y) lies inside the ROI's square."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        dx, dy = x - self.cx, y - self.cy
        half = self.side / 2.0
        return abs(c * dx + s * dy) <= half and abs(-s * dx + c * dy) <= half

    def rotate(self, xy: FloatArray) -> FloatArray:
        """(n, 2) vectors turned by ``rotation`` (world landmarks' x, y back to the image's)."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        v = np.asarray(xy, dtype=np.float64)
        return np.column_stack([c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1]])


def _normalised_angle(angle: float) -> float:
    """``angle`` in [-pi, pi)."""
    return angle - 2.0 * math.pi * math.floor((angle + math.pi) / (2.0 * math.pi))


def roi_from_alignment_points(centre: FloatArray, body_point: FloatArray) -> Roi | None:
    """mediapipe's ROI from the hip centre and the body point (image pixels); None if they meet."""
    dx, dy = float(body_point[0] - centre[0]), float(body_point[1] - centre[1])
    radius = math.hypot(dx, dy)
    if not (math.isfinite(radius) and radius > 1e-3):
        return None
    rotation = _normalised_angle(TARGET_ANGLE - math.atan2(-dy, dx))
    return Roi(float(centre[0]), float(centre[1]), 2.0 * radius * ROI_SCALE, rotation)


def roi_from_coco_keypoints(
    keypoints: FloatArray, min_score: float = MIN_KEYPOINT_SCORE
) -> Roi | None:
    """The ROI from a detector's COCO 17 keypoints (x, y, score), or None without both hips or
    without anything above them (the caller falls back to the box).

    The hip centre is the ROI's centre; its up is the direction from the hips to the shoulder
    centre (to the head's keypoints where the shoulders are not both seen: a person lying
    sideways often shows one shoulder only); the farthest confident keypoint from the hip centre
    (x ``KEYPOINT_RADIUS_SCALE``) is the radius, as the network's own alignment points would
    put them.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.shape != (17, 3) or not np.all(np.isfinite(kp)):
        return None
    sure = kp[:, 2] >= min_score
    if not (sure[_L_HIP] and sure[_R_HIP]):
        return None
    hips = (kp[_L_HIP, :2] + kp[_R_HIP, :2]) / 2.0
    if sure[_L_SHOULDER] and sure[_R_SHOULDER]:
        above = (kp[_L_SHOULDER, :2] + kp[_R_SHOULDER, :2]) / 2.0
    elif np.any(sure[_HEAD]):
        above = kp[_HEAD][sure[_HEAD], :2].mean(axis=0)
    else:
        return None
    up = above - hips
    length = float(np.linalg.norm(up))
    if length < 1e-3:
        return None
    radius = KEYPOINT_RADIUS_SCALE * float(np.max(np.linalg.norm(kp[sure, :2] - hips, axis=1)))
    return roi_from_alignment_points(hips, hips + up / length * radius)


def roi_from_box(box: Box, radius_scale: float = BOX_RADIUS_SCALE) -> Roi | None:
    """An upright ROI centred on ``box``, its radius ``radius_scale`` x the box's long side;
    None for an empty box."""
    long_side = max(box.width, box.height)
    if not (math.isfinite(long_side) and long_side >= 1.0):
        return None
    cx, cy = box.center
    return Roi(cx, cy, 2.0 * radius_scale * long_side * ROI_SCALE, 0.0)
