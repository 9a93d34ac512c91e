"""Pinhole intrinsics of the camera that took the image, and where they came from.

Absolute depth scales with the focal length, so a wrong K means people at the wrong distance.
That is why a bad CameraInfo is rejected loudly instead of being used, and why every
:class:`Intrinsics` carries its ``source`` (so the node can say when it is guessing).

Pixel convention: OpenCV/ROS, integer coordinates are pixel centres. Resizing scales fx, fy,
cx, cy by the resize factors, as ROS's ``image_proc`` resize does (the half-pixel term that an
exact centre-based rescale would add is ignored, like everywhere else in ROS).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

import numpy as np

from bodypose3d_ros.core.types import FloatArray

INTRINSICS_SOURCES: Final[tuple[str, ...]] = ("camera_info", "default", "arguments")
# NVIDIA's fixed f = 800.79041 px at 1280 px wide, kept proportional to the image width.
DEFAULT_FOCAL_RATIO: Final = 0.6256


class IntrinsicsError(ValueError):
    """Intrinsics that cannot be trusted (uncalibrated, malformed or non-physical)."""


@dataclass(frozen=True)
class Intrinsics:
    """Focal lengths and principal point in pixels, plus where they came from."""

    fx: float
    fy: float
    cx: float
    cy: float
    source: str

    @property
    def k(self) -> FloatArray:
        """The 3x3 camera matrix."""
        return np.array(
            [[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]], dtype=np.float64
        )

    @property
    def k_inv(self) -> FloatArray:
        """The inverse camera matrix, written out (no general matrix inversion needed)."""
        return np.array(
            [
                [1.0 / self.fx, 0.0, -self.cx / self.fx],
                [0.0, 1.0 / self.fy, -self.cy / self.fy],
                [0.0, 0.0, 1.0],
            ],
            dtype=np.float64,
        )

    def scaled(self, sx: float, sy: float) -> Intrinsics:
        """The intrinsics of the same camera after resizing its image by (sx, sy)."""
        if not (math.isfinite(sx) and math.isfinite(sy) and sx > 0 and sy > 0):
            raise IntrinsicsError(f"scale factors must be finite and > 0, got sx={sx}, sy={sy}")
        out = replace(self, fx=self.fx * sx, fy=self.fy * sy, cx=self.cx * sx, cy=self.cy * sy)
        out.validate()
        return out

    def validate(self) -> None:
        """Raise :class:`IntrinsicsError` unless every value is finite and fx, fy > 0."""
        values = {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy}
        bad = [name for name, v in values.items() if not math.isfinite(v)]
        if bad:
            raise IntrinsicsError(f"intrinsics contain non-finite values: {', '.join(bad)}")
        if self.fx <= 0 or self.fy <= 0:
            raise IntrinsicsError(f"focal lengths must be > 0, got fx={self.fx}, fy={self.fy}")
        if self.source not in INTRINSICS_SOURCES:
            raise IntrinsicsError(
                f"unknown intrinsics source {self.source!r}; expected one of {INTRINSICS_SOURCES}"
            )


def default_intrinsics(
    width: int, height: int, focal_ratio: float = DEFAULT_FOCAL_RATIO
) -> Intrinsics:
    """A guess for a camera with no CameraInfo: f = focal_ratio * width, centred principal point.

    The centre is (W/2, H/2) as in NVIDIA's app; the half pixel versus (W-1)/2 is far below
    the uncertainty of the guessed focal length.
    """
    if width <= 0 or height <= 0:
        raise IntrinsicsError(f"image size must be positive, got {width}x{height}")
    if not (math.isfinite(focal_ratio) and focal_ratio > 0):
        raise IntrinsicsError(f"focal_ratio must be finite and > 0, got {focal_ratio}")
    f = focal_ratio * float(width)
    out = Intrinsics(fx=f, fy=f, cx=width / 2.0, cy=height / 2.0, source="default")
    out.validate()
    return out


def _check_matrix(values: Sequence[float], length: int, name: str) -> FloatArray:
    """The CameraInfo array as float64, or an error that says what is wrong with it."""
    try:
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise IntrinsicsError(f"CameraInfo {name} is not numeric: {exc}") from exc
    if arr.size != length:
        raise IntrinsicsError(f"CameraInfo {name} must have {length} values, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise IntrinsicsError(f"CameraInfo {name} contains NaN or infinite values: {arr.tolist()}")
    if not np.any(arr):
        raise IntrinsicsError(f"CameraInfo {name} is all zeros: the camera is not calibrated")
    return arr


def intrinsics_from_camera_info(
    k: Sequence[float],
    p: Sequence[float],
    info_width: int,
    info_height: int,
    image_width: int,
    image_height: int,
    use_rectified: bool = False,
) -> Intrinsics:
    """Intrinsics from a sensor_msgs/CameraInfo, rescaled to the image actually received.

    ``k`` is the 9-value row-major K (raw image), ``p`` the 12-value P (rectified image; its
    left 3x3 is used when ``use_rectified``). A CameraInfo size of 0 means "same as the image";
    a different non-zero size (a binned or resized stream) rescales fx, cx by image_w/info_w
    and fy, cy by image_h/info_h. Skew, if any, is ignored.
    """
    if image_width <= 0 or image_height <= 0:
        raise IntrinsicsError(f"image size must be positive, got {image_width}x{image_height}")
    if info_width < 0 or info_height < 0:
        raise IntrinsicsError(
            f"CameraInfo size must not be negative, got {info_width}x{info_height}"
        )
    if use_rectified:
        m = _check_matrix(p, 12, "P").reshape(3, 4)[:, :3]
        name = "P"
    else:
        m = _check_matrix(k, 9, "K").reshape(3, 3)
        name = "K"
    if m[1, 0] != 0 or m[2, 0] != 0 or m[2, 1] != 0 or m[2, 2] != 1:
        raise IntrinsicsError(
            f"CameraInfo {name} is not a pinhole camera matrix "
            f"(expected [[fx,s,cx],[0,fy,cy],[0,0,1]]): {m.tolist()}"
        )
    if m[0, 0] <= 0 or m[1, 1] <= 0:
        raise IntrinsicsError(
            f"CameraInfo {name} has non-positive focal length: fx={m[0, 0]}, fy={m[1, 1]}"
        )
    sx = image_width / info_width if info_width else 1.0
    sy = image_height / info_height if info_height else 1.0
    out = Intrinsics(
        fx=float(m[0, 0]) * sx,
        fy=float(m[1, 1]) * sy,
        cx=float(m[0, 2]) * sx,
        cy=float(m[1, 2]) * sy,
        source="camera_info",
    )
    out.validate()
    return out
