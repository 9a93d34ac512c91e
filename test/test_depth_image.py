"""Depth payloads: 16UC1 millimetres and 32FC1 metres, holes, padding, byte order, bad input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bodypose3d_ros.core.depth.depth_image import (
    DepthImageError,
    decode_depth,
    depth_from_array,
    read_depth_png,
    registered_to,
)


def test_16uc1_is_millimetres_with_zero_as_a_hole() -> None:
    mm = np.array([[0, 1500], [65535, 3001]], dtype=np.uint16)
    depth = decode_depth(mm.tobytes(), 2, 2, 4, "16UC1")
    metres = depth.metres(depth.values)
    assert np.isnan(metres[0, 0])
    np.testing.assert_allclose(metres[[0, 1, 1], [1, 0, 1]], [1.5, 65.535, 3.001])


def test_32fc1_is_metres_with_zero_nan_inf_and_negatives_as_holes() -> None:
    m = np.array([[0.0, np.nan, np.inf, -1.0, 2.25]], dtype=np.float32)
    depth = decode_depth(m.tobytes(), 5, 1, 20, "32FC1")
    metres = depth.metres(depth.values)
    assert np.isnan(metres[0, :4]).all()
    assert metres[0, 4] == 2.25


def test_row_padding_and_big_endian_are_read() -> None:
    mm = np.array([[1000, 2000, 3000], [4000, 5000, 6000]], dtype=">u2")
    padded = np.zeros((2, 8), np.uint8)  # step 8 bytes for 3 x 2-byte pixels
    padded[:, :6] = mm.view(np.uint8).reshape(2, 6)
    depth = decode_depth(padded.tobytes(), 3, 2, 8, "16UC1", is_bigendian=True)
    np.testing.assert_allclose(depth.metres(depth.values), mm.astype(float) / 1000.0)


@pytest.mark.parametrize(
    ("encoding", "width", "height", "step", "size", "message"),
    [
        ("rgb8", 2, 2, 6, 12, "not supported"),
        ("mono8", 2, 2, 2, 4, "not supported"),
        ("16UC1", 2, 2, 4, 6, "needs 8"),
        ("16UC1", 2, 2, 2, 8, "step"),
        ("32FC1", 0, 0, 0, 0, "nothing to read"),
    ],
)
def test_bad_payloads_are_named(
    encoding: str, width: int, height: int, step: int, size: int, message: str
) -> None:
    with pytest.raises(DepthImageError, match=message):
        decode_depth(bytes(size), width, height, step, encoding)


def test_oversized_depth_is_refused_before_reading() -> None:
    with pytest.raises(DepthImageError, match="exceeds"):
        decode_depth(bytes(8), 100_000, 100_000, 200_000, "16UC1", max_pixels=1000)


def test_png_in_millimetres(tmp_path: Path) -> None:
    mm = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 500).astype(np.uint16)
    path = tmp_path / "depth.png"
    assert cv2.imwrite(str(path), mm)
    depth = read_depth_png(path)
    np.testing.assert_allclose(depth.metres(depth.values)[1:], mm[1:].astype(float) / 1000.0)
    colour = tmp_path / "colour.png"
    assert cv2.imwrite(str(colour), np.zeros((3, 4, 3), np.uint8))
    with pytest.raises(DepthImageError, match="16-bit channel in millimetres"):
        read_depth_png(colour)
    with pytest.raises(DepthImageError, match="cannot read"):
        read_depth_png(tmp_path / "missing.png")


def test_registration_allows_another_resolution_not_another_aspect_ratio() -> None:
    depth = depth_from_array(np.zeros((240, 320), np.uint16), "16UC1")
    assert registered_to(depth, 640, 480)
    assert registered_to(depth, 1280, 960)
    assert not registered_to(depth, 848, 480)
    with pytest.raises(DepthImageError, match="uint16"):
        depth_from_array(np.zeros((2, 2), np.float32), "16UC1")


def test_a_huge_depth_encoding_is_clipped_in_the_error() -> None:
    """A megabyte encoding string must not become a megabyte log line and diagnostics value."""
    with pytest.raises(DepthImageError) as caught:
        decode_depth(bytes(8), 2, 2, 4, "z" * 1_000_000)
    assert len(str(caught.value)) < 1000
