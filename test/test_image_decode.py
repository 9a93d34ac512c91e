"""ROS image payloads -> BGR: every encoding, row padding, 16-bit, and clear rejections."""

from __future__ import annotations

import array
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from bodypose3d_ros.core.image.image_decode import (
    SUPPORTED_ENCODINGS,
    ImageDecodeError,
    decode_compressed,
    decode_raw,
)

H, W = 5, 7


@pytest.fixture
def bgr() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8)


def _padded(pixels: np.ndarray, pad: int) -> tuple[bytes, int]:
    """Rows of `pixels` (H, row_bytes) followed by `pad` junk bytes each, as ROS may send."""
    rows = pixels.reshape(pixels.shape[0], -1).view(np.uint8)
    junk = np.full((rows.shape[0], pad), 0xAB, dtype=np.uint8)
    return np.hstack([rows, junk]).tobytes(), rows.shape[1] + pad


@pytest.mark.parametrize("pad", [0, 5])
@pytest.mark.parametrize(
    ("encoding", "to_wire"),
    [
        ("bgr8", lambda b: b),
        ("8UC3", lambda b: b),
        ("rgb8", lambda b: b[..., ::-1]),
        ("bgra8", lambda b: np.dstack([b, np.full(b.shape[:2], 9, np.uint8)])),
        ("8UC4", lambda b: np.dstack([b, np.full(b.shape[:2], 9, np.uint8)])),
        ("rgba8", lambda b: np.dstack([b[..., ::-1], np.full(b.shape[:2], 9, np.uint8)])),
    ],
)
def test_colour_encodings_round_trip(
    bgr: np.ndarray, encoding: str, to_wire: Callable[[np.ndarray], np.ndarray], pad: int
) -> None:
    data, step = _padded(np.ascontiguousarray(to_wire(bgr)), pad)
    out = decode_raw(data, W, H, step, encoding)
    assert out.dtype == np.uint8
    assert out.shape == (H, W, 3)
    assert out.flags.c_contiguous
    assert np.array_equal(out, bgr)


@pytest.mark.parametrize("encoding", ["mono8", "8UC1"])
def test_mono8_becomes_grey_bgr(bgr: np.ndarray, encoding: str) -> None:
    grey = bgr[..., 0]
    data, step = _padded(np.ascontiguousarray(grey), 3)
    out = decode_raw(data, W, H, step, encoding)
    assert out.shape == (H, W, 3)
    for c in range(3):
        assert np.array_equal(out[..., c], grey)


@pytest.mark.parametrize("encoding", ["mono16", "16UC1"])
@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("pad", [0, 3])  # odd padding: 16-bit rows need not be aligned
def test_mono16_keeps_high_byte(encoding: str, big_endian: bool, pad: int) -> None:
    rng = np.random.default_rng(2)
    values = rng.integers(0, 65536, (H, W), dtype=np.uint16)
    wire = values.astype(">u2" if big_endian else "<u2")
    data, step = _padded(np.ascontiguousarray(wire), pad)
    out = decode_raw(data, W, H, step, encoding, is_bigendian=big_endian)
    assert out.shape == (H, W, 3)
    assert out.flags.c_contiguous
    for c in range(3):
        assert np.array_equal(out[..., c], (values >> 8).astype(np.uint8))


def test_buffer_types_accepted(bgr: np.ndarray) -> None:
    raw = bgr.tobytes()
    for data in (raw, bytearray(raw), memoryview(raw), array.array("B", raw), bgr, bgr.ravel()):
        assert np.array_equal(decode_raw(data, W, H, W * 3, "bgr8"), bgr)


def test_unpadded_bgr8_is_zero_copy() -> None:
    buf = bytearray(np.arange(H * W * 3, dtype=np.uint8).tobytes())
    out = decode_raw(buf, W, H, W * 3, "bgr8")
    buf[0] = 250  # the decoded image is a view of the message buffer
    assert out[0, 0, 0] == 250


def test_unknown_encoding_lists_supported() -> None:
    """(yuv422 was the example here until the driver encodings became supported.)"""
    with pytest.raises(ImageDecodeError) as err:
        decode_raw(b"\0" * 100, 2, 2, 6, "bayer_xyzw8")
    assert "bayer_xyzw8" in str(err.value)
    assert all(enc in str(err.value) for enc in SUPPORTED_ENCODINGS)


@pytest.mark.parametrize(
    ("width", "height", "step", "nbytes", "message"),
    [
        (0, 0, 0, 0, "size"),
        (-3, 2, 9, 100, "size"),
        (3, 2, 8, 100, "step 8 is smaller"),  # 3 px * 3 bytes = 9
        (3, 2, 9, 17, "17 bytes, expected"),  # needs 18
        (5000, 4000, 15000, 10, "max_pixels"),
    ],
)
def test_bad_geometry_rejected(
    width: int, height: int, step: int, nbytes: int, message: str
) -> None:
    with pytest.raises(ImageDecodeError, match=message):
        decode_raw(b"\0" * nbytes, width, height, step, "bgr8")


def test_max_pixels_is_configurable() -> None:
    with pytest.raises(ImageDecodeError, match="max_pixels"):
        decode_raw(b"\0" * 300, 10, 10, 30, "bgr8", max_pixels=99)
    assert decode_raw(b"\0" * 300, 10, 10, 30, "bgr8", max_pixels=100).shape == (10, 10, 3)


def test_non_buffer_data_rejected_cleanly() -> None:
    with pytest.raises(ImageDecodeError, match="byte buffer"):
        decode_raw([1, 2, 3], 1, 1, 3, "bgr8")  # type: ignore[arg-type]
    with pytest.raises(ImageDecodeError, match="width must be an integer"):
        decode_raw(b"\0" * 12, 2.0, 2, 6, "bgr8")  # type: ignore[arg-type]
    assert decode_raw(b"\0" * 12, np.int64(2), 2, np.uint32(6), "bgr8").shape == (2, 2, 3)


def test_decode_compressed_png_is_lossless(bgr: np.ndarray) -> None:
    ok, png = cv2.imencode(".png", bgr)
    assert ok
    out = decode_compressed(array.array("B", png.tobytes()))
    assert out.shape == (H, W, 3)
    assert np.array_equal(out, bgr)


def test_decode_compressed_jpeg_close_to_source() -> None:
    image = np.zeros((64, 96, 3), dtype=np.uint8)
    image[:, :48] = (200, 100, 50)
    ok, jpg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    out = decode_compressed(jpg.tobytes())
    assert out.shape == (64, 96, 3)
    assert np.abs(out[10:54, 5:40].astype(int) - (200, 100, 50)).max() <= 4


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_decode_compressed_refuses_oversized_before_decoding(ext: str) -> None:
    ok, enc = cv2.imencode(ext, np.zeros((40, 50, 3), dtype=np.uint8))
    assert ok
    with pytest.raises(ImageDecodeError, match="50x40"):
        decode_compressed(enc.tobytes(), max_pixels=40 * 50 - 1)
    assert decode_compressed(enc.tobytes(), max_pixels=40 * 50).shape == (40, 50, 3)


@pytest.mark.parametrize(
    "data", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"\xff\xd8\xff"]
)
def test_corrupt_compressed_rejected(data: bytes) -> None:
    with pytest.raises(ImageDecodeError):
        decode_compressed(data)


def test_truncated_png_rejected(bgr: np.ndarray) -> None:
    ok, png = cv2.imencode(".png", bgr)
    assert ok
    with pytest.raises(ImageDecodeError):
        decode_compressed(png.tobytes()[:30])


def test_raw_720p_bgr8_is_a_view_and_rgb8_one_converted_copy() -> None:
    """At 720p the bgr8 path copies nothing; rgb8 costs exactly one conversion into new memory."""
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    data = frame.tobytes()  # immutable, like rclpy's message buffer
    out = decode_raw(data, 1280, 720, 1280 * 3, "bgr8")
    assert np.shares_memory(out, np.frombuffer(data, dtype=np.uint8))
    assert out.flags.c_contiguous
    assert np.array_equal(out, frame)
    rgb = frame[..., ::-1].tobytes()
    converted = decode_raw(rgb, 1280, 720, 1280 * 3, "rgb8")
    assert not np.shares_memory(converted, np.frombuffer(rgb, dtype=np.uint8))
    assert converted.flags.c_contiguous
    assert converted.flags.owndata  # not a view of an intermediate copy
    assert np.array_equal(converted, frame)


def test_huge_encoding_string_is_clipped_in_the_error() -> None:
    """A 1 MB encoding must not turn into a 1 MB error, log line and diagnostics value."""
    with pytest.raises(ImageDecodeError) as err:
        decode_raw(b"\0" * 12, 2, 2, 6, "x" * 1_000_000)
    assert len(str(err.value)) < 1000
    assert "+999936 chars" in str(err.value)
