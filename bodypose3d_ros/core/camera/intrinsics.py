"""Pinhole intrinsics of the camera that took the image, and where they came from.

Absolute depth scales with the focal length, so a wrong K means people at the wrong distance.
That is why a bad CameraInfo is rejected loudly instead of being used, and why every
:class:`Intrinsics` carries its ``source`` (so the node can say when it is guessing).

Pixel convention: OpenCV/ROS, integer coordinates are pixel centres. Resizing and binning
scale fx, fy, cx, cy by the resize factors, as ROS's ``image_proc`` resize and
``image_geometry`` do (the half-pixel term that an exact centre-based rescale would add is
ignored, like everywhere else in ROS).

Lens distortion (:mod:`bodypose3d_ros.core.camera.distortion`) rides along with K: its
coefficients act on normalised coordinates, so resizing, binning and ROIs leave them unchanged.
Intrinsics are also checked against the image they are used for
(:mod:`bodypose3d_ros.core.camera.intrinsics_bounds`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

import numpy as np

from bodypose3d_ros.core.camera.distortion import Distortion, parse_distortion
from bodypose3d_ros.core.camera.intrinsics_bounds import focal_problem, rescale_problem
from bodypose3d_ros.core.types import FloatArray

INTRINSICS_SOURCES: Final[tuple[str, ...]] = (
    "camera_info",
    "default",
    "arguments",
    "calibration_file",
)
# NVIDIA's fixed f = 800.79041 px at 1280 px wide, kept proportional to the image width.
DEFAULT_FOCAL_RATIO: Final = 0.6256


class IntrinsicsError(ValueError):
    """Intrinsics that cannot be trusted (uncalibrated, malformed or non-physical)."""


@dataclass(frozen=True)
class Intrinsics:
    """Focal lengths and principal point in pixels, lens distortion, and where they came from.

    ``distortion`` is None for an undistorted (or rectified) image; ``distortion_warning`` says
    why a CameraInfo's distortion could not be used ("" when there was nothing to ignore).
    """

    fx: float
    fy: float
    cx: float
    cy: float
    source: str
    distortion: Distortion | None = None
    distortion_warning: str = ""

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

    def check_plausible(self, width: int, height: int) -> None:
        """Raise :class:`IntrinsicsError` unless a real camera could have these for the image."""
        problem = focal_problem(self.fx, self.fy, self.cx, self.cy, width, height)
        if problem:
            raise IntrinsicsError(f"implausible intrinsics: {problem}")

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


def _sensor_window(
    info_size: int, offset: int, roi_size: int, binning: int, axis: str
) -> tuple[int, float]:
    """The ROI offset and the delivered image size along one axis (see CameraInfo's comments).

    A binning of 0 or 1 means none; an ROI size of 0 means the calibrated size (all zeros:
    the full image). An ROI that leaves the calibrated image is rejected. When the CameraInfo
    size is 0 (unknown) the bounds cannot be checked and, without an ROI size, no size is
    expected (0 returned), so the image is taken as delivered.
    """
    for name, value in (("binning", binning), ("roi offset", offset), ("roi size", roi_size)):
        if value < 0:
            raise IntrinsicsError(f"CameraInfo {name} {axis} must not be negative, got {value}")
    window = roi_size or info_size
    if info_size and offset + window > info_size:
        raise IntrinsicsError(
            f"CameraInfo ROI {axis} [{offset}, {offset + window}) lies outside the calibrated "
            f"size {info_size}"
        )
    factor = max(binning, 1)
    if window and window < factor:
        raise IntrinsicsError(
            f"CameraInfo binning {axis} {binning} is larger than the ROI size {window}"
        )
    return factor, window / factor


def _delivery_scale(image_size: int, expected: float) -> float:
    """The extra resize between the image the camera delivered and the one received.

    A difference below one pixel is the remainder of binning a size that is not a multiple
    of the binning (the partial super-pixel is dropped), not a resize.
    """
    if expected == 0 or abs(image_size - expected) < 1.0:
        return 1.0
    return image_size / expected


def intrinsics_from_camera_info(
    k: Sequence[float],
    p: Sequence[float],
    info_width: int,
    info_height: int,
    image_width: int,
    image_height: int,
    use_rectified: bool = False,
    *,
    binning_x: int = 0,
    binning_y: int = 0,
    roi_x_offset: int = 0,
    roi_y_offset: int = 0,
    roi_width: int = 0,
    roi_height: int = 0,
    distortion_model: str = "",
    d: Sequence[float] = (),
) -> Intrinsics:
    """Intrinsics from a sensor_msgs/CameraInfo for the image actually received.

    ``k`` is the 9-value row-major K (raw image), ``p`` the 12-value P (rectified image; its
    left 3x3 is used when ``use_rectified``). Both are calibrated at the full ``info_width`` x
    ``info_height``; a CameraInfo size of 0 means "same as the image".

    The camera may deliver a sub-window and/or binned image of that calibration (ROS
    semantics: the ROI is in full-resolution pixels, binning applies after it, binning 0 or 1
    is none, an all-zero ROI is the full image), so the effective matrix is
    ``cx' = (cx - roi_x_offset) / binning_x``, ``fx' = fx / binning_x`` (likewise in y), for
    a delivered size of ``(roi_width or info_width) / binning_x`` by
    ``(roi_height or info_height) / binning_y``. Only if the received image still differs from
    that size (a stream resized downstream) are fx, cx rescaled by image_w / expected_w and
    fy, cy by image_h / expected_h. Skew, if any, is ignored.

    ``distortion_model`` and ``d`` (CameraInfo's) describe the raw image's lens distortion; they
    are not used with ``use_rectified`` (a rectified image has none). Implausible intrinsics or
    resize factors (:mod:`bodypose3d_ros.core.camera.intrinsics_bounds`) raise
    :class:`IntrinsicsError`.
    """
    if image_width <= 0 or image_height <= 0:
        raise IntrinsicsError(f"image size must be positive, got {image_width}x{image_height}")
    if info_width < 0 or info_height < 0:
        raise IntrinsicsError(
            f"CameraInfo size must not be negative, got {info_width}x{info_height}"
        )
    bx, expected_w = _sensor_window(info_width, roi_x_offset, roi_width, binning_x, "x")
    by, expected_h = _sensor_window(info_height, roi_y_offset, roi_height, binning_y, "y")
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
    resize_x = _delivery_scale(image_width, expected_w)
    resize_y = _delivery_scale(image_height, expected_h)
    problem = rescale_problem(resize_x, "width", expected_w, image_width) or rescale_problem(
        resize_y, "height", expected_h, image_height
    )
    if problem:
        raise IntrinsicsError(problem)
    sx, sy = resize_x / bx, resize_y / by
    distortion, warning = (None, "") if use_rectified else parse_distortion(distortion_model, d)
    out = Intrinsics(
        fx=float(m[0, 0]) * sx,
        fy=float(m[1, 1]) * sy,
        cx=(float(m[0, 2]) - roi_x_offset) * sx,
        cy=(float(m[1, 2]) - roi_y_offset) * sy,
        source="camera_info",
        distortion=distortion,
        distortion_warning=warning,
    )
    out.validate()
    out.check_plausible(image_width, image_height)
    return out
