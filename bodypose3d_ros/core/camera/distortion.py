"""Lens distortion of the raw image: undistorted rays for the lift, distorted reprojection.

A raw (unrectified) image is the default input, and a wide-angle lens bends the rays of joints near
the border by centimetres. The models of ``sensor_msgs/CameraInfo.distortion_model`` are handled
with OpenCV, which implements exactly the models ROS calibrates:

* ``plumb_bob`` (k1, k2, p1, p2, k3) and ``rational_polynomial`` (k1, k2, p1, p2, k3, k4, k5, k6):
  ``cv2.undistortPoints`` / ``cv2.projectPoints``;
* ``equidistant`` (fisheye, k1..k4): ``cv2.fisheye.undistortPoints`` /
  ``cv2.fisheye.projectPoints``.

The coefficients act on normalised coordinates (x/z, y/z), so resizing, binning or an ROI change
only K, never the coefficients. No distortion (an empty or all-zero vector) is represented by
``None`` so callers keep the closed-form pinhole path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from bodypose3d_ros.core.types import FloatArray

PINHOLE_MODELS: Final = ("plumb_bob", "rational_polynomial")
FISHEYE_MODEL: Final = "equidistant"
DISTORTION_MODELS: Final[tuple[str, ...]] = (*PINHOLE_MODELS, FISHEYE_MODEL)
# Coefficient counts OpenCV accepts for its pinhole model (ROS: 5 for plumb_bob, 8 for
# rational_polynomial; some drivers send the other lengths, which OpenCV reads the same way).
_PINHOLE_LENGTHS: Final = (4, 5, 8, 12, 14)
_FISHEYE_LENGTH: Final = 4
# No calibrated lens has a coefficient anywhere near this (plumb_bob's are mostly below 1, a
# rational_polynomial's numerator and denominator terms rarely pass 100): a larger one is a
# corrupt file, and OpenCV would turn every keypoint into NaN or garbage without a word.
MAX_ABS_COEFFICIENT: Final = 1e4
# OpenCV's default (5 fixed-point iterations) leaves up to 0.6 mm at 3 m near the border of a
# wide-angle lens; iterate until the reprojection is within 1e-6 px instead (about 8 us for 34
# keypoints, measured by ``make bench``).
_UNDISTORT_CRITERIA: Final = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-6)
_FISHEYE_CRITERIA: Final = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 20, 1e-10)
_ZERO3: Final = np.zeros(3)


@dataclass(frozen=True)
class Distortion:
    """A lens distortion model and its coefficients (ROS ``CameraInfo.distortion_model``, ``d``)."""

    model: str
    coefficients: tuple[float, ...]

    @property
    def is_fisheye(self) -> bool:
        return self.model == FISHEYE_MODEL

    def undistort(self, uv: npt.ArrayLike, k: npt.ArrayLike) -> FloatArray:
        """(N, 2) raw pixels -> (N, 2) undistorted normalised coordinates (x/z, y/z).

        Non-finite pixels give NaN rows (OpenCV is only given the finite ones).
        """
        pixels = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        out = np.full(pixels.shape, np.nan)
        finite = np.isfinite(pixels).all(axis=1)
        if not finite.any():
            return out
        src = np.ascontiguousarray(pixels[finite]).reshape(-1, 1, 2)
        camera = np.asarray(k, dtype=np.float64).reshape(3, 3)
        coefficients = np.asarray(self.coefficients, dtype=np.float64)
        if self.is_fisheye:
            normalised = cv2.fisheye.undistortPoints(
                src, camera, coefficients, criteria=_FISHEYE_CRITERIA
            )
        else:
            normalised = cv2.undistortPoints(
                src, camera, coefficients, criteria=_UNDISTORT_CRITERIA
            )
        out[finite] = normalised.reshape(-1, 2)
        return out

    def project(self, xyz: npt.ArrayLike, k: npt.ArrayLike) -> FloatArray:
        """(N, 3) camera-frame points -> (N, 2) raw (distorted) pixels; NaN at or behind z = 0."""
        points = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
        out = np.full((len(points), 2), np.nan)
        front = np.isfinite(points).all(axis=1) & (points[:, 2] > 0)
        if not front.any():
            return out
        src = np.ascontiguousarray(points[front]).reshape(-1, 1, 3)
        camera = np.asarray(k, dtype=np.float64).reshape(3, 3)
        coefficients = np.asarray(self.coefficients, dtype=np.float64)
        if self.is_fisheye:
            pixels, _ = cv2.fisheye.projectPoints(src, _ZERO3, _ZERO3, camera, coefficients)
        else:
            pixels, _ = cv2.projectPoints(src, _ZERO3, _ZERO3, camera, coefficients)
        out[front] = pixels.reshape(-1, 2)
        return out


def parse_distortion(model: str, coefficients: Sequence[float]) -> tuple[Distortion | None, str]:
    """The distortion a CameraInfo describes, and a warning when some of it cannot be used.

    Returns ``(None, "")`` for no distortion (empty or all-zero coefficients, whatever the model
    name). A model this package does not know, coefficients without a model, a coefficient count
    the model does not have, or non-finite or absurd coefficients (``MAX_ABS_COEFFICIENT``) give
    ``(None, warning)``: the rays are
    then those of K alone, as if the image were rectified, and the caller says so once.
    """
    try:
        values = tuple(float(c) for c in coefficients)
    except (TypeError, ValueError) as exc:
        return None, f"distortion coefficients are not numeric ({exc}): treated as none"
    if not any(values):  # also the empty vector
        return None, ""
    name = str(model)
    shown = name if len(name) <= 40 else name[:40] + "..."
    if not all(math.isfinite(v) for v in values):
        return None, f"distortion coefficients of {shown!r} are not finite: treated as none"
    largest = max(abs(v) for v in values)
    if largest > MAX_ABS_COEFFICIENT:
        return None, (
            f"distortion coefficients of {shown!r} reach {largest:.3g}, beyond any lens "
            f"(|coefficient| <= {MAX_ABS_COEFFICIENT:g}): treated as none"
        )
    if name in PINHOLE_MODELS:
        expected: tuple[int, ...] = _PINHOLE_LENGTHS
    elif name == FISHEYE_MODEL:
        expected = (_FISHEYE_LENGTH,)
    elif not name:
        return None, f"{len(values)} distortion coefficients without a distortion_model: ignored"
    else:
        return None, (
            f"unknown distortion_model {shown!r} (known: {', '.join(DISTORTION_MODELS)}): "
            "treated as none"
        )
    if len(values) not in expected:
        return None, (
            f"distortion_model {name!r} takes {' or '.join(map(str, expected))} coefficients, "
            f"got {len(values)}: treated as none"
        )
    return Distortion(name, values), ""
