"""Lens distortion: known 3D -> distorted pixels (OpenCV) -> our lift, and back through the lens."""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from test_lifting import ROTATIONS, UNIT_MM, place

from bodypose3d_ros.core.camera.distortion import Distortion, parse_distortion
from bodypose3d_ros.core.camera.intrinsics import intrinsics_from_camera_info
from bodypose3d_ros.core.lift.lifting import camera_rays, lift_pose, project
from bodypose3d_ros.core.skeleton import INDEX, NUM_KEYPOINTS

FloatArray = npt.NDArray[np.float64]
ZERO3 = np.zeros(3)

# Realistic calibrations (values of the kind camera_calibration writes for such lenses).
CAMERAS: dict[str, tuple[FloatArray, Distortion, FloatArray]] = {
    # A 100-degree USB webcam, strong barrel distortion (k1, k2, p1, p2, k3).
    "plumb_bob": (
        np.array([[302.5, 0.0, 321.4], [0.0, 301.8, 238.9], [0.0, 0.0, 1.0]]),
        Distortion("plumb_bob", (-0.2867, 0.0812, 0.00041, -0.00028, -0.0094)),
        np.array([-1.7, 0.25, 3.0]),  # the person's offset: near the left border
    ),
    # A wide-angle RGB-D colour camera (k1, k2, p1, p2, k3, k4, k5, k6).
    "rational_polynomial": (
        np.array([[505.2, 0.0, 637.9], [0.0, 505.0, 363.1], [0.0, 0.0, 1.0]]),
        Distortion(
            "rational_polynomial",
            (0.4718, -0.0263, 0.00037, -0.00012, -0.0046, 0.8117, 0.0574, -0.0121),
        ),
        np.array([2.2, -0.2, 2.8]),  # near the right border
    ),
    # A 163-degree fisheye tracking camera, equidistant model (k1..k4).
    "equidistant": (
        np.array([[285.7, 0.0, 424.3], [0.0, 285.9, 399.2], [0.0, 0.0, 1.0]]),
        Distortion("equidistant", (-0.0074, 0.0436, -0.0415, 0.0077)),
        np.array([-2.6, 0.4, 1.9]),  # about 55 degrees off axis
    ),
}


def opencv_pixels(xyz: FloatArray, k: FloatArray, lens: Distortion) -> FloatArray:
    """Distorted pixels from OpenCV's own projection (independent of the code under test)."""
    points = xyz.reshape(-1, 1, 3)
    d = np.array(lens.coefficients)
    if lens.model == "equidistant":
        uv, _ = cv2.fisheye.projectPoints(points, ZERO3, ZERO3, k, d)
    else:
        uv, _ = cv2.projectPoints(points, ZERO3, ZERO3, k, d)
    pixels: FloatArray = uv.reshape(-1, 2)
    return pixels


def scene(model: str, pose: str) -> tuple[FloatArray, FloatArray, FloatArray]:
    """True joints (m), their distorted pixels and their pelvis-relative normalised depths."""
    k, lens, offset = CAMERAS[model]
    truth = place(ROTATIONS[pose], 1.0) - place(ROTATIONS[pose], 1.0)[INDEX["pelvis"]] + offset
    uv = opencv_pixels(truth, k, lens)
    z_rel = (truth[:, 2] - truth[INDEX["pelvis"], 2]) * 1000.0 / UNIT_MM
    return truth, uv, z_rel


@pytest.mark.parametrize("pose", list(ROTATIONS))
@pytest.mark.parametrize("model", list(CAMERAS))
def test_distorted_pixels_lift_back_to_the_true_joints_within_a_millimetre(
    model: str, pose: str
) -> None:
    k, lens, _ = CAMERAS[model]
    truth, uv, z_rel = scene(model, pose)
    confidence = np.full(NUM_KEYPOINTS, 0.9)

    result = lift_pose(uv, z_rel, confidence, k, distortion=lens)

    assert result.ok
    error_mm = np.linalg.norm(result.xyz - truth, axis=1) * 1000.0
    assert error_mm.max() < 1.0, error_mm.max()
    # The same pixels through K alone (distortion ignored) are centimetres off: the lens matters.
    pinhole = lift_pose(uv, z_rel, confidence, k)
    assert np.linalg.norm(pinhole.xyz - truth, axis=1).max() > 0.05


@pytest.mark.parametrize("model", list(CAMERAS))
def test_lifted_joints_reproject_through_the_lens_onto_the_published_pixels(model: str) -> None:
    k, lens, _ = CAMERAS[model]
    _, uv, z_rel = scene(model, "yaw_30_lean_forward_20")
    # Model-like depths (not the true ones): the joints still sit on their pixels' rays.
    noisy = z_rel + np.random.default_rng(1).normal(0.0, 0.05, NUM_KEYPOINTS)
    result = lift_pose(uv, noisy, np.full(NUM_KEYPOINTS, 0.9), k, distortion=lens)
    assert result.ok
    np.testing.assert_allclose(opencv_pixels(result.xyz, k, lens), uv, atol=1e-4)
    np.testing.assert_allclose(project(result.xyz, k, lens), uv, atol=1e-4)
    # Through the pinhole model alone they do not land on the pixels.
    assert np.abs(project(result.xyz, k) - uv).max() > 5.0


def test_non_finite_pixels_give_nan_rays_and_the_rest_are_unaffected() -> None:
    k, lens, _ = CAMERAS["plumb_bob"]
    uv = np.array([[100.0, 120.0], [math.nan, 5.0], [400.0, math.inf]])
    rays = camera_rays(uv, k, lens)
    assert np.all(np.isfinite(rays[0]))
    assert rays[0, 2] == 1.0
    assert np.all(np.isnan(rays[1:, :2]))
    np.testing.assert_allclose(rays[0], camera_rays(uv[:1], k, lens)[0])
    pixels = project(np.array([[0.1, 0.2, -1.0], [0.1, 0.2, 2.0]]), k, lens)
    assert np.all(np.isnan(pixels[0]))
    assert np.all(np.isfinite(pixels[1]))


@pytest.mark.parametrize(
    ("model", "d"),
    [
        ("plumb_bob", (-0.28, 0.08, 0.0004, -0.0003, -0.009)),
        ("plumb_bob", (-0.28, 0.08, 0.0004, -0.0003)),
        ("rational_polynomial", (0.47, -0.03, 0.0, 0.0, 0.0, 0.81, 0.06, -0.01)),
        ("equidistant", (-0.0074, 0.0436, -0.0415, 0.0077)),
    ],
)
def test_known_models_are_parsed(model: str, d: tuple[float, ...]) -> None:
    lens, warning = parse_distortion(model, d)
    assert warning == ""
    assert lens == Distortion(model, d)


@pytest.mark.parametrize("model", ["plumb_bob", "", "equidistant", "fisheye_custom"])
@pytest.mark.parametrize("d", [(), (0.0, 0.0, 0.0, 0.0, 0.0)])
def test_no_coefficients_is_no_distortion_without_a_warning(model: str, d: tuple[float]) -> None:
    assert parse_distortion(model, d) == (None, "")


@pytest.mark.parametrize(
    ("model", "d", "expected"),
    [
        ("kannala_brandt_custom", (0.1, 0.01, 0.0, 0.0), "unknown distortion_model"),
        ("", (0.1, 0.01, 0.0, 0.0, 0.0), "without a distortion_model"),
        ("plumb_bob", (0.1, 0.01, 0.0), "takes 4 or 5 or 8 or 12 or 14 coefficients, got 3"),
        ("equidistant", (0.1, 0.01, 0.0, 0.0, 0.0), "takes 4 coefficients, got 5"),
        ("plumb_bob", (0.1, math.nan, 0.0, 0.0, 0.0), "not finite"),
    ],
)
def test_unusable_distortion_is_treated_as_none_with_a_warning(
    model: str, d: tuple[float, ...], expected: str
) -> None:
    lens, warning = parse_distortion(model, d)
    assert lens is None
    assert expected in warning


def test_camera_info_carries_the_distortion_unchanged_by_a_rescale() -> None:
    k, lens, offset = CAMERAS["plumb_bob"]
    k_full = k * np.array([[2.0], [2.0], [1.0]])  # calibrated at 1280x960, streamed at 640x480
    p = np.column_stack([k_full, np.zeros(3)])
    raw = intrinsics_from_camera_info(
        k_full.ravel(), p.ravel(), 1280, 960, 640, 480,
        distortion_model="plumb_bob", d=lens.coefficients,
    )  # fmt: skip
    assert raw.distortion == lens
    assert raw.distortion_warning == ""
    np.testing.assert_allclose(raw.k, k)
    # The same 3D point lands on the half-size pixel of its full-size distorted pixel.
    point = offset.reshape(1, 3)
    np.testing.assert_allclose(
        project(point, raw.k, raw.distortion), opencv_pixels(point, k_full, lens) / 2.0, atol=1e-9
    )
    # A rectified image has no distortion; an unknown model is reported and ignored.
    rectified = intrinsics_from_camera_info(
        k_full.ravel(), p.ravel(), 1280, 960, 640, 480, use_rectified=True,
        distortion_model="plumb_bob", d=lens.coefficients,
    )  # fmt: skip
    assert rectified.distortion is None
    assert rectified.distortion_warning == ""
    unknown = intrinsics_from_camera_info(
        k_full.ravel(), p.ravel(), 1280, 960, 640, 480,
        distortion_model="mystery", d=lens.coefficients,
    )  # fmt: skip
    assert unknown.distortion is None
    assert "unknown distortion_model 'mystery'" in unknown.distortion_warning


def test_unknown_model_lifts_exactly_like_no_distortion() -> None:
    k, _, _ = CAMERAS["plumb_bob"]
    info = intrinsics_from_camera_info(
        k.ravel(), np.column_stack([k, np.zeros(3)]).ravel(), 640, 480, 640, 480,
        distortion_model="mystery", d=(0.3, 0.1, 0.0, 0.0, 0.0),
    )  # fmt: skip
    _, uv, z_rel = scene("plumb_bob", "facing")
    conf = np.full(NUM_KEYPOINTS, 0.9)
    a = lift_pose(uv, z_rel, conf, info.k, distortion=info.distortion)
    b = lift_pose(uv, z_rel, conf, k)
    np.testing.assert_array_equal(a.xyz, b.xyz)


@pytest.mark.parametrize("huge", [1e308, -1e10, 2e4])
def test_finite_but_absurd_coefficients_are_treated_as_none_with_a_warning(huge: float) -> None:
    lens, warning = parse_distortion("plumb_bob", (huge, 0.01, 0.0, 0.0, 0.0))
    assert lens is None
    assert "beyond any lens" in warning
    # A strong but real wide-angle rational_polynomial stays.
    real = (12.1, 5.3, 0.0, 0.0, 0.2, 12.4, 8.9, 1.1)
    assert parse_distortion("rational_polynomial", real) == (
        Distortion("rational_polynomial", real),
        "",
    )
