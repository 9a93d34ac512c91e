"""ROS Image / CompressedImage payloads -> (H, W, 3) uint8 BGR, with errors that say what is wrong.

Takes the raw message fields (not the messages) so it stays ROS-free. ``data`` may be anything
exposing the buffer protocol: bytes, bytearray, memoryview, ``array.array('B')`` (what rclpy
gives for ``uint8[]``) or a NumPy array.

A bgr8 frame without row padding comes back as a zero-copy view of ``data``: fast, but it is
read-only when ``data`` is ``bytes``. Copy it before drawing on it.

16-bit images (mono16 / 16UC1) are reduced to 8 bits by keeping the high byte (value >> 8):
exact for 8-bit data stored in 16 bits, and it never overflows. A 16UC1 depth image in
millimetres therefore comes out dark; that is expected (the pose models need colour anyway).
"""

from __future__ import annotations

import array
import operator
from typing import Final, Union

import cv2
import numpy as np
import numpy.typing as npt

SUPPORTED_ENCODINGS: Final[tuple[str, ...]] = (
    "rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "8UC1", "8UC3", "8UC4", "16UC1",
)  # fmt: skip
DEFAULT_MAX_PIXELS: Final = 4096 * 4096

# encoding -> (channels, bytes per channel, cv2 conversion to BGR or None when already BGR).
# The generic OpenCV types (8UC3, 8UC4) follow OpenCV's BGR(A) channel order.
_LAYOUTS: Final[dict[str, tuple[int, int, int | None]]] = {
    "bgr8": (3, 1, None),
    "8UC3": (3, 1, None),
    "rgb8": (3, 1, cv2.COLOR_RGB2BGR),
    "rgba8": (4, 1, cv2.COLOR_RGBA2BGR),
    "bgra8": (4, 1, cv2.COLOR_BGRA2BGR),
    "8UC4": (4, 1, cv2.COLOR_BGRA2BGR),
    "mono8": (1, 1, cv2.COLOR_GRAY2BGR),
    "8UC1": (1, 1, cv2.COLOR_GRAY2BGR),
    "mono16": (1, 2, cv2.COLOR_GRAY2BGR),
    "16UC1": (1, 2, cv2.COLOR_GRAY2BGR),
}

ImageBuffer = Union[bytes, bytearray, memoryview, "array.array[int]", npt.NDArray[np.generic]]
BgrImage = npt.NDArray[np.uint8]


class ImageDecodeError(ValueError):
    """An image payload that cannot be turned into a BGR picture."""


def _as_bytes(data: ImageBuffer) -> npt.NDArray[np.uint8]:
    """A flat uint8 view of ``data`` (no copy unless it is a non-contiguous array)."""
    try:
        if isinstance(data, np.ndarray):
            return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
        return np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError, BufferError) as exc:
        raise ImageDecodeError(f"image data is not a byte buffer: {exc}") from exc


def _as_int(value: int, name: str) -> int:
    """ROS sizes are integers; anything else (float, None) is a malformed message."""
    try:
        return operator.index(value)
    except TypeError as exc:
        raise ImageDecodeError(f"{name} must be an integer, got {value!r}") from exc


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"image size must be positive, got {width}x{height}")
    if width * height > max_pixels:
        raise ImageDecodeError(
            f"image of {width}x{height} = {width * height} pixels exceeds max_pixels={max_pixels}"
        )


def decode_raw(
    data: ImageBuffer,
    width: int,
    height: int,
    step: int,
    encoding: str,
    is_bigendian: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> BgrImage:
    """Decode a sensor_msgs/Image payload to contiguous (H, W, 3) uint8 BGR."""
    layout = _LAYOUTS.get(encoding)
    if layout is None:
        raise ImageDecodeError(
            f"unsupported encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}"
        )
    channels, depth, conversion = layout
    width, height = _as_int(width, "width"), _as_int(height, "height")
    step = _as_int(step, "step")
    _check_size(width, height, max_pixels)
    row_bytes = width * channels * depth
    if step < row_bytes:
        raise ImageDecodeError(
            f"step {step} is smaller than width*bytes_per_pixel = {width}*{channels * depth}"
            f" = {row_bytes} for {encoding}"
        )
    flat = _as_bytes(data)
    if flat.size < height * step:
        raise ImageDecodeError(
            f"image data has {flat.size} bytes, expected height*step = {height}*{step}"
            f" = {height * step}"
        )
    # Rows of `step` bytes, padding cut off: still a view of the message buffer.
    rows = flat[: height * step].reshape(height, step)[:, :row_bytes]
    if depth == 2:
        # Keep the most significant byte of every 16-bit sample (value >> 8); cv2 needs the
        # result contiguous.
        high = 0 if is_bigendian else 1
        pixels = np.ascontiguousarray(rows.reshape(height, width, 2)[:, :, high])
    else:
        pixels = rows.reshape(height, width, channels)
    if conversion is None:
        return np.ascontiguousarray(pixels)
    bgr: BgrImage = np.asarray(cv2.cvtColor(pixels, conversion), dtype=np.uint8)
    return bgr


def _peek_size(flat: npt.NDArray[np.uint8]) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header without decoding, or None if not found.

    Lets an oversized picture be refused before OpenCV allocates memory for it.
    """
    head = flat[:24].tobytes()
    if head.startswith(b"\x89PNG\r\n\x1a\n") and len(head) >= 24 and head[12:16] == b"IHDR":
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if not head.startswith(b"\xff\xd8"):
        return None
    # JPEG: walk the marker segments up to the first start-of-frame (SOF0..SOF15 except
    # DHT C4, JPG C8 and DAC CC), whose payload holds precision, height, width.
    raw = flat.tobytes() if flat.size < 1 << 16 else flat[: 1 << 16].tobytes()
    pos = 2
    while pos + 9 <= len(raw):
        if raw[pos] != 0xFF:
            return None
        marker = raw[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(raw[pos + 5 : pos + 7], "big")
            width = int.from_bytes(raw[pos + 7 : pos + 9], "big")
            return width, height
        pos += 2 + int.from_bytes(raw[pos + 2 : pos + 4], "big")
    return None


def decode_compressed(data: ImageBuffer, max_pixels: int = DEFAULT_MAX_PIXELS) -> BgrImage:
    """Decode a sensor_msgs/CompressedImage payload (JPEG, PNG, ...) to (H, W, 3) uint8 BGR."""
    flat = _as_bytes(data)
    if flat.size == 0:
        raise ImageDecodeError("compressed image data is empty")
    peeked = _peek_size(flat)
    if peeked is not None:
        _check_size(*peeked, max_pixels)
    try:
        image = cv2.imdecode(flat, cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ImageDecodeError(f"cannot decode compressed image: {exc}") from exc
    if image is None or image.size == 0:
        raise ImageDecodeError(
            f"cannot decode compressed image ({flat.size} bytes, starts with "
            f"{flat[:8].tobytes()!r}): corrupt or unsupported format"
        )
    _check_size(int(image.shape[1]), int(image.shape[0]), max_pixels)
    result: BgrImage = np.ascontiguousarray(image)
    return result
