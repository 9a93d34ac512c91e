"""ROS Image / CompressedImage payloads -> (H, W, 3) uint8 BGR, with errors that say what is wrong.

Takes the raw message fields (not the messages) so it stays ROS-free. ``data`` may be anything
exposing the buffer protocol: bytes, bytearray, memoryview, ``array.array('B')`` (what rclpy
gives for ``uint8[]``) or a NumPy array.

A bgr8 frame without row padding comes back as a zero-copy view of ``data``: fast, but it is
read-only when ``data`` is ``bytes``. Copy it before drawing on it.

16-bit images (mono16 / 16UC1 / 16-bit Bayer) are reduced to 8 bits by keeping the high byte
(value >> 8): exact for 8-bit data stored in 16 bits, and it never overflows. A 16UC1 depth image
in millimetres therefore comes out dark; that is expected (the pose models need colour anyway).

Driver encodings are converted with OpenCV: packed YUV 4:2:2 (``yuv422`` = UYVY, ``yuv422_yuy2`` =
YUYV, as usb_cam and v4l2 cameras send), Bayer mosaics (``bayer_rggb8`` ... and their 16-bit forms,
named by the colours of the top-left 2x2 block as ROS does) and the 4:2:0 planar ``nv12``/``nv21``.

Every size is checked before anything is decoded or allocated: each side must be at most
``MAX_IMAGE_SIDE`` (OpenCV code inside the models aborts the process on sides of 32767 and more,
which no ``try`` catches) and the pixel count at most ``max_pixels``. Compressed payloads must be
JPEG or PNG, and the size their header declares is checked first (``compressed_header``).
"""

from __future__ import annotations

import array
import operator
from typing import Final, Union

import cv2
import numpy as np
import numpy.typing as npt

from bodypose3d_ros.core.image.compressed_header import HeaderError, read_header
from bodypose3d_ros.core.image.untrusted_text import clip

DEFAULT_MAX_PIXELS: Final = 4096 * 4096
MAX_IMAGE_SIDE: Final = 16384

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
    # Packed YUV 4:2:2: two bytes per pixel, chroma shared by each pair of pixels.
    "yuv422": (2, 1, cv2.COLOR_YUV2BGR_UYVY),
    "uyvy": (2, 1, cv2.COLOR_YUV2BGR_UYVY),
    "yuv422_yuy2": (2, 1, cv2.COLOR_YUV2BGR_YUYV),
    "yuyv": (2, 1, cv2.COLOR_YUV2BGR_YUYV),
    # Bayer mosaics; OpenCV's four-letter codes name the top-left 2x2 block, as ROS does.
    "bayer_rggb8": (1, 1, cv2.COLOR_BayerRGGB2BGR),
    "bayer_bggr8": (1, 1, cv2.COLOR_BayerBGGR2BGR),
    "bayer_gbrg8": (1, 1, cv2.COLOR_BayerGBRG2BGR),
    "bayer_grbg8": (1, 1, cv2.COLOR_BayerGRBG2BGR),
    "bayer_rggb16": (1, 2, cv2.COLOR_BayerRGGB2BGR),
    "bayer_bggr16": (1, 2, cv2.COLOR_BayerBGGR2BGR),
    "bayer_gbrg16": (1, 2, cv2.COLOR_BayerGBRG2BGR),
    "bayer_grbg16": (1, 2, cv2.COLOR_BayerGRBG2BGR),
}
# 4:2:0 planar: a full-size Y plane, then one interleaved chroma plane of half the height.
_PLANAR_420: Final[dict[str, int]] = {
    "nv12": cv2.COLOR_YUV2BGR_NV12,
    "nv21": cv2.COLOR_YUV2BGR_NV21,
}
SUPPORTED_ENCODINGS: Final[tuple[str, ...]] = (*_LAYOUTS, *_PLANAR_420)

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


def check_size(width: int, height: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Raise ImageDecodeError unless both sides are in 1..MAX_IMAGE_SIDE and the area fits."""
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"image size must be positive, got {width}x{height}")
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
        raise ImageDecodeError(
            f"image of {width}x{height}: each side must be at most {MAX_IMAGE_SIDE} pixels"
        )
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
    width, height = _as_int(width, "width"), _as_int(height, "height")
    step = _as_int(step, "step")
    if encoding in _PLANAR_420:
        check_size(width, height, max_pixels)
        return _decode_planar_420(data, width, height, step, encoding)
    layout = _LAYOUTS.get(encoding)
    if layout is None:
        raise ImageDecodeError(
            f"unsupported encoding {clip(encoding)!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}"
        )
    channels, depth, conversion = layout
    check_size(width, height, max_pixels)
    if channels == 2 and width % 2:
        raise ImageDecodeError(f"{encoding} needs an even width (pixel pairs), got {width}")
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
    return _convert(pixels, conversion, encoding)


def _convert(pixels: npt.NDArray[np.uint8], conversion: int, encoding: str) -> BgrImage:
    try:
        converted = cv2.cvtColor(pixels, conversion)
    except cv2.error as exc:
        raise ImageDecodeError(f"cannot convert {encoding} to BGR: {exc}") from exc
    bgr: BgrImage = np.asarray(converted, dtype=np.uint8)
    return bgr


def _decode_planar_420(
    data: ImageBuffer, width: int, height: int, step: int, encoding: str
) -> BgrImage:
    """nv12 / nv21: ``height`` rows of Y then ``height / 2`` rows of interleaved chroma.

    ``step`` is the stride of both planes (ROS gives one step for the message).
    """
    if width % 2 or height % 2:
        raise ImageDecodeError(f"{encoding} needs an even width and height, got {width}x{height}")
    if step < width:
        raise ImageDecodeError(f"step {step} is smaller than the width {width} for {encoding}")
    rows = height * 3 // 2
    flat = _as_bytes(data)
    if flat.size < rows * step:
        raise ImageDecodeError(
            f"image data has {flat.size} bytes, expected (height*3/2)*step = {rows}*{step}"
            f" = {rows * step} for {encoding}"
        )
    planes = np.ascontiguousarray(flat[: rows * step].reshape(rows, step)[:, :width])
    return _convert(planes, _PLANAR_420[encoding], encoding)


def decode_compressed(data: ImageBuffer, max_pixels: int = DEFAULT_MAX_PIXELS) -> BgrImage:
    """Decode a sensor_msgs/CompressedImage payload (JPEG or PNG) to (H, W, 3) uint8 BGR.

    The size declared in the header is checked before decoding, so a decompression bomb is
    refused without allocating its pixels; other formats are refused outright.
    """
    flat = _as_bytes(data)
    if flat.size == 0:
        raise ImageDecodeError("compressed image data is empty")
    try:
        header = read_header(flat.data)
    except HeaderError as exc:
        raise ImageDecodeError(f"cannot decode compressed image: {exc}") from exc
    check_size(header.width, header.height, max_pixels)
    try:
        image = cv2.imdecode(flat, cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ImageDecodeError(f"cannot decode compressed image: {exc}") from exc
    if image is None or image.size == 0:
        raise ImageDecodeError(
            f"cannot decode compressed {header.format} ({flat.size} bytes): corrupt image data"
        )
    check_size(int(image.shape[1]), int(image.shape[0]), max_pixels)
    result: BgrImage = np.ascontiguousarray(image)
    return result
