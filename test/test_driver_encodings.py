"""Encodings camera drivers send (YUV 4:2:2, Bayer, NV12/NV21) decode to the colours they carry.

Each test encodes a known BGR picture into the driver's format with OpenCV/NumPy, decodes it with
the node's decoder and compares with the source. The picture is made of flat 8x8 colour blocks, so
chroma subsampling and demosaicing only blur block edges; the comparison skips those edges.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from bodypose3d_ros.core.image.image_decode import ImageDecodeError, decode_raw

W, H = 64, 48
BLOCK = 8


def _blocks() -> np.ndarray:
    """Flat, saturated and mixed colour blocks (each BLOCK x BLOCK pixels)."""
    rng = np.random.default_rng(7)
    colours = rng.integers(30, 226, size=(H // BLOCK, W // BLOCK, 3), dtype=np.uint8)
    colours[0, 0] = (0, 0, 255)  # pure red, green, blue: a swapped channel cannot hide
    colours[0, 1] = (0, 255, 0)
    colours[0, 2] = (255, 0, 0)
    return np.repeat(np.repeat(colours, BLOCK, axis=0), BLOCK, axis=1)


def _block_interiors(image: np.ndarray) -> np.ndarray:
    """Pixels at least 2 px from every block edge (where subsampling cannot reach)."""
    keep = np.zeros(image.shape[:2], dtype=bool)
    for y in range(0, H, BLOCK):
        for x in range(0, W, BLOCK):
            keep[y + 2 : y + BLOCK - 2, x + 2 : x + BLOCK - 2] = True
    return image[keep].astype(np.int16)


def _assert_close(decoded: np.ndarray, source: np.ndarray, tolerance: int) -> None:
    assert decoded.shape == source.shape
    assert decoded.dtype == np.uint8
    error = np.abs(_block_interiors(decoded) - _block_interiors(source))
    assert error.max() <= tolerance, f"max colour error {error.max()} > {tolerance}"


@pytest.mark.parametrize(
    ("encoding", "to_yuv"),
    [
        ("yuv422", cv2.COLOR_BGR2YUV_UYVY),
        ("uyvy", cv2.COLOR_BGR2YUV_UYVY),
        ("yuv422_yuy2", cv2.COLOR_BGR2YUV_YUYV),
        ("yuyv", cv2.COLOR_BGR2YUV_YUYV),
    ],
)
@pytest.mark.parametrize("pad", [0, 6])
def test_packed_yuv422_round_trips(encoding: str, to_yuv: int, pad: int) -> None:
    source = _blocks()
    packed = cv2.cvtColor(source, to_yuv)  # (H, W, 2)
    rows = np.zeros((H, W * 2 + pad), dtype=np.uint8)
    rows[:, : W * 2] = packed.reshape(H, W * 2)
    decoded = decode_raw(rows.tobytes(), W, H, W * 2 + pad, encoding)
    _assert_close(decoded, source, tolerance=6)


def test_uyvy_and_yuyv_are_not_interchangeable() -> None:
    """Decoding UYVY bytes as YUYV gives wrong colours: the byte order is really honoured."""
    source = _blocks()
    packed = cv2.cvtColor(source, cv2.COLOR_BGR2YUV_UYVY).tobytes()
    right = decode_raw(packed, W, H, W * 2, "yuv422")
    wrong = decode_raw(packed, W, H, W * 2, "yuv422_yuy2")
    assert np.abs(_block_interiors(wrong) - _block_interiors(right)).max() > 50


def _mosaic(source: np.ndarray, pattern: str) -> np.ndarray:
    """A Bayer mosaic as the sensor would record it: ``pattern`` names the top-left 2x2 block."""
    channel = {"b": 0, "g": 1, "r": 2}
    mosaic = np.empty((H, W), dtype=np.uint8)
    for index, colour in enumerate(pattern):
        dy, dx = divmod(index, 2)
        mosaic[dy::2, dx::2] = source[dy::2, dx::2, channel[colour]]
    return mosaic


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
def test_bayer8_round_trips(pattern: str) -> None:
    source = _blocks()
    decoded = decode_raw(_mosaic(source, pattern).tobytes(), W, H, W, f"bayer_{pattern}8")
    _assert_close(decoded, source, tolerance=4)


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
@pytest.mark.parametrize("big_endian", [False, True])
def test_bayer16_round_trips(pattern: str, big_endian: bool) -> None:
    source = _blocks()
    mosaic16 = _mosaic(source, pattern).astype(np.uint16) * 257  # full 16-bit range
    data = mosaic16.astype(">u2" if big_endian else "<u2").tobytes()
    decoded = decode_raw(data, W, H, W * 2, f"bayer_{pattern}16", is_bigendian=big_endian)
    _assert_close(decoded, source, tolerance=4)


def _nv(source: np.ndarray, order: str) -> np.ndarray:
    """NV12 (UV) or NV21 (VU) bytes, built from OpenCV's I420 planes."""
    i420 = cv2.cvtColor(source, cv2.COLOR_BGR2YUV_I420).reshape(-1)
    y = i420[: W * H].reshape(H, W)
    u = i420[W * H : W * H * 5 // 4].reshape(H // 2, W // 2)
    v = i420[W * H * 5 // 4 :].reshape(H // 2, W // 2)
    first, second = (u, v) if order == "nv12" else (v, u)
    chroma = np.stack([first, second], axis=-1).reshape(H // 2, W)
    return np.vstack([y, chroma])


@pytest.mark.parametrize("encoding", ["nv12", "nv21"])
@pytest.mark.parametrize("pad", [0, 4])
def test_nv12_nv21_round_trip(encoding: str, pad: int) -> None:
    source = _blocks()
    planes = _nv(source, encoding)
    rows = np.zeros((planes.shape[0], W + pad), dtype=np.uint8)
    rows[:, :W] = planes
    decoded = decode_raw(rows.tobytes(), W, H, W + pad, encoding)
    _assert_close(decoded, source, tolerance=6)


@pytest.mark.parametrize(
    ("encoding", "width", "height", "step", "size", "message"),
    [
        ("yuv422", 5, 4, 10, 40, "even width"),
        ("nv12", 6, 5, 6, 60, "even width and height"),
        ("nv21", 6, 4, 6, 30, "has 30 bytes, expected"),
        ("nv12", 6, 4, 4, 60, "smaller than the width"),
        ("bayer_rggb16", 4, 4, 4, 64, "step 4 is smaller"),
    ],
)
def test_driver_encodings_with_bad_geometry_are_rejected(
    encoding: str, width: int, height: int, step: int, size: int, message: str
) -> None:
    with pytest.raises(ImageDecodeError, match=message):
        decode_raw(bytes(size), width, height, step, encoding)
