"""Depth images as the fusion reads them: raw ROS/PNG payloads -> a validated (H, W) view.

Two encodings are accepted, as RGB-D drivers publish them (RealSense, ZED, OAK-D, Kinect):
``16UC1`` in millimetres (0 = no measurement) and ``32FC1`` in metres (0, NaN or inf = no
measurement). The pixels are kept in their own dtype and converted to metres only where the
fusion samples them: turning a whole 640x480 frame into float costs more than all the samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from bodypose3d_ros.core.image.image_decode import DEFAULT_MAX_PIXELS, ImageBuffer
from bodypose3d_ros.core.image.untrusted_text import clip

# encoding -> (dtype, metres per stored unit)
DEPTH_ENCODINGS: Final[dict[str, tuple[type[np.generic], float]]] = {
    "16UC1": (np.uint16, 0.001),
    "32FC1": (np.float32, 1.0),
}


class DepthImageError(ValueError):
    """A depth payload that cannot be used: wrong encoding, size or data length."""


@dataclass(frozen=True)
class DepthImage:
    """One depth frame: ``values`` (H, W) in the sensor's unit; ``metres_per_unit`` converts.

    Invalid pixels (holes) are whatever the encoding says: 0 for 16UC1, 0 or non-finite for 32FC1.
    """

    values: npt.NDArray[np.generic]
    metres_per_unit: float

    @property
    def width(self) -> int:
        return int(self.values.shape[1])

    @property
    def height(self) -> int:
        return int(self.values.shape[0])

    def metres(self, samples: npt.NDArray[np.generic]) -> npt.NDArray[np.float64]:
        """``samples`` of ``values`` in metres, NaN where the sensor measured nothing."""
        out = samples.astype(np.float64) * self.metres_per_unit
        out[~(out > 0.0) | ~np.isfinite(out)] = np.nan
        return out


def decode_depth(
    data: ImageBuffer,
    width: int,
    height: int,
    step: int,
    encoding: str,
    is_bigendian: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> DepthImage:
    """A raw depth payload (sensor_msgs/Image fields) as a DepthImage; raises DepthImageError."""
    if encoding not in DEPTH_ENCODINGS:
        raise DepthImageError(
            f"depth encoding {clip(encoding)!r} is not supported (use one of "
            f"{', '.join(DEPTH_ENCODINGS)}: 16UC1 in millimetres or 32FC1 in metres)"
        )
    dtype, scale = DEPTH_ENCODINGS[encoding]
    item = np.dtype(dtype).itemsize
    if width <= 0 or height <= 0:
        raise DepthImageError(f"depth image is {width}x{height}: nothing to read")
    if width * height > max_pixels:
        raise DepthImageError(f"depth image {width}x{height} exceeds {max_pixels} pixels")
    if step < width * item:
        raise DepthImageError(f"depth step {step} < width {width} x {item} bytes")
    try:
        raw = np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError, BufferError) as exc:
        raise DepthImageError(f"depth data is not a byte buffer: {exc}") from exc
    needed = step * (height - 1) + width * item
    if raw.size < needed:
        raise DepthImageError(
            f"depth data has {raw.size} bytes, {width}x{height} with step {step} needs {needed}"
        )
    rows = np.lib.stride_tricks.as_strided(
        raw, shape=(height, width * item), strides=(step, 1), writeable=False
    )
    stored = np.dtype(dtype).newbyteorder(">" if is_bigendian else "<")
    values = np.ascontiguousarray(rows).view(stored)
    return DepthImage(values=values.reshape(height, width), metres_per_unit=scale)


def depth_from_array(values: npt.ArrayLike, encoding: str) -> DepthImage:
    """An in-memory (H, W) array in ``encoding``'s unit as a DepthImage (tests, the CLI)."""
    if encoding not in DEPTH_ENCODINGS:
        raise DepthImageError(f"depth encoding {encoding!r} is not supported")
    dtype, scale = DEPTH_ENCODINGS[encoding]
    array = np.asarray(values)
    if array.ndim != 2 or array.dtype != np.dtype(dtype):
        raise DepthImageError(
            f"{encoding} depth must be an (H, W) {np.dtype(dtype).name} array, "
            f"got {array.shape} {array.dtype}"
        )
    return DepthImage(values=array, metres_per_unit=scale)


def read_depth_png(path: str | Path) -> DepthImage:
    """A 16-bit single-channel PNG in millimetres (0 = invalid), as RGB-D datasets store depth,
    or a 32-bit float single-channel TIFF in metres (the 32FC1 a driver publishes, saved)."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DepthImageError(f"cannot read {path} as an image")
    if image.ndim == 2 and image.dtype == np.float32:
        return DepthImage(values=image, metres_per_unit=1.0)
    if image.ndim != 2 or image.dtype != np.uint16:
        shape = "x".join(str(s) for s in image.shape)
        raise DepthImageError(
            f"{path} is {shape} {image.dtype}: a depth PNG must be one 16-bit channel "
            "in millimetres (or a float32 TIFF in metres)"
        )
    return DepthImage(values=image, metres_per_unit=0.001)


def registered_to(depth: DepthImage, width: int, height: int, tolerance: float = 0.02) -> bool:
    """Whether ``depth`` can be registered to a ``width`` x ``height`` colour image by scaling.

    An aligned depth image has the colour image's field of view, so its aspect ratio must match
    (its resolution may differ); another aspect ratio means it is not aligned to this image.
    """
    colour = width / height
    return abs((depth.width / depth.height) / colour - 1.0) <= tolerance


# A whole depth image whose values look wrong, by stable key (diagnostics count by it).
NOTE_NO_VALID_PIXEL: Final = "no valid pixel"
NOTE_TOO_SMALL: Final = "values too small for the unit"
NOTE_TOO_LARGE: Final = "values too large for the unit"
# Typical indoor/outdoor RGB-D ranges: a median outside them is a unit mix-up, not a scene.
PLAUSIBLE_MEDIAN_M: Final = (0.1, 20.0)


def values_note(depth: DepthImage, stride: int = 4) -> tuple[str, str] | None:
    """(key, one line naming the likely cause) when the image as a whole cannot be depth in its
    unit, else None. Looks at every ``stride``-th pixel each way (the median of a scene barely
    changes; a full 640x480 median would cost more than the fusion itself).

    The cases seen in the field: an all-zero image (sensor not streaming, or not a depth map),
    metres stored in 16UC1 (values of 1-10, i.e. "2 mm"), millimetres stored in 32FC1 ("2000 m").
    """
    sample = depth.values[::stride, ::stride]
    metres = depth.metres(sample)
    valid = metres[np.isfinite(metres)]
    encoding = "16UC1 (millimetres)" if depth.metres_per_unit != 1.0 else "32FC1 (metres)"
    if valid.size == 0:
        return NOTE_NO_VALID_PIXEL, (
            f"every depth pixel is 0 or NaN ({depth.width}x{depth.height}): the sensor measured "
            "nothing (covered, not streaming) or this is not a depth map"
        )
    median = float(np.median(valid))
    lo, hi = PLAUSIBLE_MEDIAN_M
    if median < lo:
        hint = (
            "metres stored as 16UC1? 16UC1 must be millimetres"
            if depth.metres_per_unit != 1.0
            else "32FC1 must be metres"
        )
        return NOTE_TOO_SMALL, (
            f"{encoding} depth has a median of {median * 1e3:.0f} mm, nearer than any scene: {hint}"
        )
    if median > hi:
        hint = (
            "millimetres stored as 32FC1? 32FC1 must be metres"
            if depth.metres_per_unit == 1.0
            else "16UC1 must be millimetres"
        )
        return NOTE_TOO_LARGE, (
            f"{encoding} depth has a median of {median:.0f} m, farther than any sensor: {hint}"
        )
    return None
