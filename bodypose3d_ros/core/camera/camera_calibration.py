"""The standard ROS camera calibration YAML, for the offline CLI.

The file ``camera_calibration`` writes and ``camera_info_manager`` reads::

    image_width: 640
    image_height: 480
    camera_name: front
    camera_matrix: {rows: 3, cols: 3, data: [fx, 0, cx, 0, fy, cy, 0, 0, 1]}
    distortion_model: plumb_bob
    distortion_coefficients: {rows: 1, cols: 5, data: [k1, k2, p1, p2, k3]}
    rectification_matrix: {rows: 3, cols: 3, data: [...]}
    projection_matrix: {rows: 3, cols: 4, data: [...]}

It holds the same fields as a CameraInfo, so it goes through the same checks
(:func:`bodypose3d_ros.core.camera.intrinsics.intrinsics_from_camera_info`): rescaled to the
image it is used for, distortion included, implausible values rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bodypose3d_ros.core.camera.distortion import DISTORTION_MODELS
from bodypose3d_ros.core.camera.intrinsics import Intrinsics, intrinsics_from_camera_info

# Image and calibration sides may round differently after a resize (e.g. 1280x720 -> 427x240).
ASPECT_TOLERANCE = 0.01


class CalibrationFileError(ValueError):
    """A calibration file that cannot be read; the message says what is wrong with it."""


@dataclass(frozen=True)
class CameraCalibration:
    """A camera calibration file's content (matrices row-major, as in CameraInfo)."""

    camera_name: str
    width: int
    height: int
    k: tuple[float, ...]
    distortion_model: str
    d: tuple[float, ...]
    p: tuple[float, ...]

    def intrinsics_for(self, width: int, height: int) -> Intrinsics:
        """The intrinsics of a ``width`` x ``height`` image of this camera, or IntrinsicsError."""
        out = intrinsics_from_camera_info(
            self.k,
            self.p,
            self.width,
            self.height,
            width,
            height,
            distortion_model=self.distortion_model,
            d=self.d,
        )
        return replace(out, source="calibration_file")

    def model_note(self) -> str:
        """A note for a distortion model name this package does not know whose coefficients are
        all zero (or absent): no distortion either way, but a name like ``banana`` says the file
        is not what it should be. (With coefficients, ``Intrinsics.distortion_warning`` says it.)
        """
        name = self.distortion_model
        if not name or name in DISTORTION_MODELS or any(self.d):
            return ""
        shown = name if len(name) <= 40 else name[:40] + "..."
        return (
            f"unknown distortion_model {shown!r} (known: {', '.join(DISTORTION_MODELS)}) "
            "with no non-zero coefficients: no distortion assumed"
        )

    def aspect_note(self, width: int, height: int) -> str:
        """A warning when a ``width`` x ``height`` image has another shape than the calibration.

        K is then stretched more along one axis than the other. That is right for a camera
        binning one axis, but far more often the file belongs to another camera or mode (or the
        image was rotated), and distances come out wrong without any error: say so.
        """
        if self.width <= 0 or self.height <= 0 or width <= 0 or height <= 0:
            return ""
        sx, sy = width / self.width, height / self.height
        if abs(sx / sy - 1.0) <= ASPECT_TOLERANCE:
            return ""
        return (
            f"calibrated at {self.width}x{self.height}, this image is {width}x{height}: "
            f"another shape, so K is scaled by {sx:.3g} across but {sy:.3g} down; "
            "is this the calibration of this camera and mode?"
        )


def _matrix(doc: dict[str, Any], key: str, shape: tuple[int, int] | None) -> tuple[float, ...]:
    """The ``data`` of a ``{rows, cols, data}`` entry, checked against its declared shape."""
    entry = doc.get(key)
    if not isinstance(entry, dict) or "data" not in entry:
        raise CalibrationFileError(f"'{key}' must be a mapping with rows, cols and data")
    data = entry["data"]
    if not isinstance(data, list):
        raise CalibrationFileError(f"'{key}.data' must be a list of numbers")
    try:
        values = tuple(float(v) for v in data)
    except (TypeError, ValueError):
        raise CalibrationFileError(f"'{key}.data' must contain only numbers") from None
    rows, cols = entry.get("rows"), entry.get("cols")
    if not isinstance(rows, int) or not isinstance(cols, int) or rows * cols != len(values):
        raise CalibrationFileError(
            f"'{key}' declares rows={rows!r} cols={cols!r} but has {len(values)} values"
        )
    if shape is not None and (rows, cols) != shape:
        raise CalibrationFileError(f"'{key}' must be {shape[0]}x{shape[1]}, got {rows}x{cols}")
    return values


def _size(doc: dict[str, Any], key: str) -> int:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CalibrationFileError(f"'{key}' must be a non-negative integer, got {value!r}")
    return value


def load_camera_calibration(path: str | Path) -> CameraCalibration:
    """Read and check a calibration YAML; a :class:`CalibrationFileError` names any problem."""
    import yaml  # type: ignore[import-untyped,unused-ignore]  # no stubs in every environment

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CalibrationFileError(f"cannot read it: {exc}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise CalibrationFileError(f"not valid YAML: {detail}") from None
    if not isinstance(doc, dict):
        raise CalibrationFileError("not a camera calibration (expected a YAML mapping)")
    missing = [key for key in ("image_width", "image_height", "camera_matrix") if key not in doc]
    if missing:
        raise CalibrationFileError(f"not a camera calibration: missing {', '.join(missing)}")
    k = _matrix(doc, "camera_matrix", (3, 3))
    model = doc.get("distortion_model") or ""
    if not isinstance(model, str):
        raise CalibrationFileError(f"'distortion_model' must be a string, got {model!r}")
    d = _matrix(doc, "distortion_coefficients", None) if "distortion_coefficients" in doc else ()
    if "rectification_matrix" in doc:
        _matrix(doc, "rectification_matrix", (3, 3))  # checked; a raw image's rays ignore it
    if "projection_matrix" in doc:
        p = _matrix(doc, "projection_matrix", (3, 4))
    else:
        p = (*k[0:3], 0.0, *k[3:6], 0.0, *k[6:9], 0.0)
    return CameraCalibration(
        camera_name=str(doc.get("camera_name") or ""),
        width=_size(doc, "image_width"),
        height=_size(doc, "image_height"),
        k=k,
        distortion_model=model,
        d=d,
        p=p,
    )
