"""Intrinsics: K from CameraInfo (raw or rectified, rescaled), the default guess, and rejections."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bodypose3d_ros.core.camera.intrinsics import (
    DEFAULT_FOCAL_RATIO,
    INTRINSICS_SOURCES,
    Intrinsics,
    IntrinsicsError,
    default_intrinsics,
    intrinsics_from_camera_info,
)

K_640 = [500.0, 0.0, 320.5, 0.0, 510.0, 240.25, 0.0, 0.0, 1.0]
P_640 = [480.0, 0.0, 318.0, -30.0, 0.0, 490.0, 236.0, 0.0, 0.0, 0.0, 1.0, 0.0]


def test_k_and_k_inv_are_inverses_and_project_a_point() -> None:
    intr = Intrinsics(fx=600.0, fy=610.0, cx=330.0, cy=250.0, source="arguments")
    assert np.allclose(intr.k @ intr.k_inv, np.eye(3))
    # A point 2 m ahead, 0.5 m right and 0.25 m down projects by the pinhole formula.
    uvw = intr.k @ np.array([0.5, 0.25, 2.0])
    assert uvw[:2] / uvw[2] == pytest.approx([330.0 + 600.0 * 0.25, 250.0 + 610.0 * 0.125])


def test_default_intrinsics_matches_nvidia_focal_at_1280() -> None:
    intr = default_intrinsics(1280, 720)
    assert intr.source == "default"
    assert intr.fx == pytest.approx(800.79041, abs=0.05)  # NVIDIA's hard-coded value
    assert intr.fy == intr.fx
    assert (intr.cx, intr.cy) == (640.0, 360.0)
    assert default_intrinsics(640, 480).fx == pytest.approx(DEFAULT_FOCAL_RATIO * 640)
    assert default_intrinsics(640, 480, focal_ratio=1.0).fx == 640.0


@pytest.mark.parametrize("size", [(0, 480), (640, 0), (-1, 480)])
def test_default_intrinsics_rejects_bad_size(size: tuple[int, int]) -> None:
    with pytest.raises(IntrinsicsError, match="size"):
        default_intrinsics(*size)


def test_camera_info_raw_k_same_size() -> None:
    intr = intrinsics_from_camera_info(K_640, P_640, 640, 480, 640, 480)
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == (500.0, 510.0, 320.5, 240.25)
    assert intr.source == "camera_info"
    assert intr.source in INTRINSICS_SOURCES


def test_camera_info_rectified_uses_left_block_of_p() -> None:
    intr = intrinsics_from_camera_info(K_640, P_640, 640, 480, 640, 480, use_rectified=True)
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == (480.0, 490.0, 318.0, 236.0)


def test_camera_info_zero_size_means_same_as_image() -> None:
    intr = intrinsics_from_camera_info(K_640, P_640, 0, 0, 1280, 960)
    assert (intr.fx, intr.cx) == (500.0, 320.5)


def test_camera_info_rescaled_to_a_binned_stream() -> None:
    # Calibrated at 1280x960, the stream arrives at 640x240 (x2 binned, x4 in height).
    k = [1000.0, 0.0, 641.0, 0.0, 1020.0, 481.0, 0.0, 0.0, 1.0]
    intr = intrinsics_from_camera_info(k, P_640, 1280, 960, 640, 240)
    assert intr.fx == pytest.approx(500.0)
    assert intr.cx == pytest.approx(320.5)
    assert intr.fy == pytest.approx(255.0)
    assert intr.cy == pytest.approx(120.25)
    # The ray through a pixel is unchanged by the rescale (same viewing direction).
    big = np.linalg.inv(np.array(k).reshape(3, 3)) @ [900.0, 700.0, 1.0]
    small = intr.k_inv @ [900.0 / 2, 700.0 / 4, 1.0]
    assert np.allclose(big, small)


@pytest.mark.parametrize(
    ("k", "message"),
    [
        ([0.0] * 9, "all zeros"),
        ([500.0, 0, 320, 0, math.nan, 240, 0, 0, 1], "NaN"),
        ([500.0, 0, 320, 0, math.inf, 240, 0, 0, 1], "NaN or infinite"),
        ([-500.0, 0, 320, 0, 500, 240, 0, 0, 1], "non-positive focal"),
        ([500.0, 0, 320, 0, 0.0, 240, 0, 0, 1], "non-positive focal"),
        ([500.0, 0, 320, 0, 500, 240], "9 values"),
        ([500.0, 0, 320, 0, 500, 240, 0, 0, 0], "pinhole"),
        (["a"] * 9, "not numeric"),
    ],
)
def test_camera_info_bad_k_is_rejected_with_reason(k: list[float], message: str) -> None:
    with pytest.raises(IntrinsicsError, match=message):
        intrinsics_from_camera_info(k, P_640, 640, 480, 640, 480)


def test_camera_info_bad_p_is_rejected_only_when_used() -> None:
    with pytest.raises(IntrinsicsError, match="P is all zeros"):
        intrinsics_from_camera_info(K_640, [0.0] * 12, 640, 480, 640, 480, use_rectified=True)
    with pytest.raises(IntrinsicsError, match="12 values"):
        intrinsics_from_camera_info(K_640, [1.0] * 9, 640, 480, 640, 480, use_rectified=True)
    # An uncalibrated P does not matter for the raw image.
    assert intrinsics_from_camera_info(K_640, [0.0] * 12, 640, 480, 640, 480).fx == 500.0


def test_camera_info_bad_sizes_rejected() -> None:
    with pytest.raises(IntrinsicsError, match="image size"):
        intrinsics_from_camera_info(K_640, P_640, 640, 480, 0, 480)
    with pytest.raises(IntrinsicsError, match="negative"):
        intrinsics_from_camera_info(K_640, P_640, -640, 480, 640, 480)


def test_scaled_keeps_rays_for_resized_image() -> None:
    intr = Intrinsics(fx=800.0, fy=800.0, cx=640.0, cy=360.0, source="camera_info")
    half = intr.scaled(0.5, 0.5)
    assert half.source == "camera_info"
    assert (half.fx, half.fy, half.cx, half.cy) == (400.0, 400.0, 320.0, 180.0)
    assert np.allclose(intr.k_inv @ [1000.0, 100.0, 1.0], half.k_inv @ [500.0, 50.0, 1.0])
    with pytest.raises(IntrinsicsError):
        intr.scaled(0.0, 1.0)
    with pytest.raises(IntrinsicsError):
        intr.scaled(math.nan, 1.0)


@pytest.mark.parametrize(
    "values",
    [(0.0, 500.0, 1.0, 1.0), (500.0, -1.0, 1.0, 1.0), (500.0, 500.0, math.nan, 1.0),
     (500.0, 500.0, 1.0, math.inf)],
)  # fmt: skip
def test_validate_rejects_non_physical(values: tuple[float, float, float, float]) -> None:
    with pytest.raises(IntrinsicsError):
        Intrinsics(*values, source="arguments").validate()


def test_validate_rejects_unknown_source_and_accepts_good() -> None:
    Intrinsics(500.0, 500.0, 320.0, 240.0, source="arguments").validate()
    with pytest.raises(IntrinsicsError, match="source"):
        Intrinsics(500.0, 500.0, 320.0, 240.0, source="guess").validate()


# A camera calibrated at 1280x960 (full sensor); its driver may deliver an ROI and/or binning.
K_FULL = [1000.0, 0.0, 641.0, 0.0, 1020.0, 481.0, 0.0, 0.0, 1.0]
P_FULL = [990.0, 0.0, 637.0, 0.0, 0.0, 1000.0, 477.0, 0.0, 0.0, 0.0, 1.0, 0.0]


def _ray(k: list[float] | np.ndarray, u: float, v: float) -> np.ndarray:
    """The unit viewing direction through pixel (u, v) of an image with matrix k."""
    ray = np.linalg.inv(np.asarray(k, dtype=np.float64).reshape(3, 3)) @ [u, v, 1.0]
    return ray / np.linalg.norm(ray)


def test_roi_shifts_the_principal_point_only() -> None:
    # A 640x480 window whose top-left sensor pixel is (300, 200), delivered as is.
    intr = intrinsics_from_camera_info(
        K_FULL, P_FULL, 1280, 960, 640, 480,
        roi_x_offset=300, roi_y_offset=200, roi_width=640, roi_height=480,
    )  # fmt: skip
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == (1000.0, 1020.0, 341.0, 281.0)
    # Window pixel (10, 20) is sensor pixel (310, 220): the same ray.
    assert np.allclose(_ray(intr.k, 10.0, 20.0), _ray(K_FULL, 310.0, 220.0))


def test_binning_divides_focal_and_principal_point() -> None:
    intr = intrinsics_from_camera_info(
        K_FULL, P_FULL, 1280, 960, 640, 240, binning_x=2, binning_y=4
    )
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == pytest.approx((500.0, 255.0, 320.5, 120.25))
    # A binning of 1 is the same as none (0).
    ones = intrinsics_from_camera_info(
        K_FULL, P_FULL, 1280, 960, 1280, 960, binning_x=1, binning_y=1
    )
    assert (ones.fx, ones.cx) == (1000.0, 641.0)


def test_roi_then_binning_then_downstream_resize_keep_the_rays() -> None:
    # ROI 800x600 at (200, 120), binned x2 -> 400x300 delivered, then resized to 200x150.
    roi = {"roi_x_offset": 200, "roi_y_offset": 120, "roi_width": 800, "roi_height": 600}
    delivered = intrinsics_from_camera_info(
        K_FULL, P_FULL, 1280, 960, 400, 300, binning_x=2, binning_y=2, **roi
    )
    assert (delivered.fx, delivered.cx, delivered.cy) == pytest.approx((500.0, 220.5, 180.5))
    resized = intrinsics_from_camera_info(
        K_FULL, P_FULL, 1280, 960, 200, 150, binning_x=2, binning_y=2, **roi
    )
    assert (resized.fx, resized.fy) == pytest.approx((250.0, 255.0))
    assert (resized.cx, resized.cy) == pytest.approx((110.25, 90.25))
    # Sensor pixel (600, 420) is ROI pixel (400, 300), binned (200, 150), resized (100, 75).
    full = _ray(K_FULL, 600.0, 420.0)
    assert np.allclose(_ray(delivered.k, 200.0, 150.0), full)
    assert np.allclose(_ray(resized.k, 100.0, 75.0), full)


def test_roi_and_binning_apply_to_the_rectified_matrix_too() -> None:
    intr = intrinsics_from_camera_info(
        K_FULL, P_FULL, 1280, 960, 320, 240, use_rectified=True,
        binning_x=2, binning_y=2, roi_x_offset=100, roi_y_offset=40,
        roi_width=640, roi_height=480,
    )  # fmt: skip
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == pytest.approx((495.0, 500.0, 268.5, 218.5))


def test_binning_remainder_is_not_mistaken_for_a_resize() -> None:
    # A 641-pixel-wide ROI binned x2 gives 320 whole super-pixels: no extra rescale.
    intr = intrinsics_from_camera_info(
        K_FULL, P_FULL, 1280, 960, 320, 480, binning_x=2, roi_width=641, roi_height=480
    )
    assert intr.fx == 500.0
    assert intr.cx == 320.5


def test_roi_with_unknown_calibrated_size_uses_the_roi_size() -> None:
    # CameraInfo size 0: the ROI cannot be bounds-checked, but its size is still what arrives.
    intr = intrinsics_from_camera_info(
        K_FULL, P_FULL, 0, 0, 320, 240,
        roi_x_offset=100, roi_y_offset=50, roi_width=640, roi_height=480,
    )  # fmt: skip
    assert (intr.fx, intr.cx, intr.cy) == pytest.approx((500.0, 270.5, 215.5))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"binning_x": -2}, "binning x must not be negative"),
        ({"binning_y": -1}, "binning y must not be negative"),
        ({"roi_x_offset": -1, "roi_width": 10}, "roi offset x must not be negative"),
        ({"roi_height": -480}, "roi size y must not be negative"),
        ({"roi_x_offset": 700, "roi_width": 640}, r"ROI x \[700, 1340\) lies outside"),
        ({"roi_y_offset": 10, "roi_height": 960}, r"ROI y \[10, 970\) lies outside"),
        ({"roi_x_offset": 5}, r"ROI x \[5, 1285\) lies outside"),  # offset without a size
        ({"roi_width": 4, "roi_height": 4, "binning_x": 8}, "binning x 8 is larger"),
    ],
)
def test_inconsistent_roi_or_binning_is_rejected(extra: dict[str, int], message: str) -> None:
    with pytest.raises(IntrinsicsError, match=message):
        intrinsics_from_camera_info(K_FULL, P_FULL, 1280, 960, 640, 480, **extra)
