"""The node over real DDS with distorted and absurd CameraInfo, on the real photo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from bodypose3d_ros.msg import Pose3D
from node_harness import NodeHarness, make_camera_info, make_image_msg, wait_for
from sensor_msgs.msg import CameraInfo

from bodypose3d_ros.core import skeleton

ZERO3 = np.zeros(3)
FX, FY = 402.7, 401.9
LENSES = {
    "plumb_bob": [-0.2916, 0.0845, 0.0005, -0.0003, -0.0102],
    "rational_polynomial": [0.4718, -0.0263, 0.0004, -0.0001, -0.0046, 0.8117, 0.0574, -0.0121],
    "equidistant": [-0.0074, 0.0436, -0.0415, 0.0077],
}


@pytest.fixture(scope="module")
def photo(person_image_path: Path) -> np.ndarray:
    image = cv2.imread(str(person_image_path))
    assert image is not None
    return image


@pytest.fixture(scope="module")
def harness(photo: np.ndarray) -> Iterator[NodeHarness]:
    # Single-person mode, a person published from the first frame: each test sends one photo.
    with NodeHarness(backend="blazepose", detector="none", track_min_hits=1) as h:
        h.start()
        yield h


def _lens_info(photo: np.ndarray, model: str, d: list[float], tag: str) -> CameraInfo:
    h, w = photo.shape[:2]
    info = make_camera_info(w, h, FX, FY, w / 2 - 3.0, h / 2 + 4.0, frame_id=tag)
    info.distortion_model = model
    info.d = [float(v) for v in d]
    return info


def _frame_with(harness: NodeHarness, photo: np.ndarray, info: CameraInfo, stamp: float) -> Pose3D:
    """Publish ``info``, wait until the node holds it, then one image; the one person seen."""
    harness.info_pub.publish(info)
    tag = info.header.frame_id
    assert wait_for(
        lambda: (
            getattr(harness.node._camera_info, "header", None) is not None
            and harness.node._camera_info.header.frame_id == tag
        ),
        10.0,
    ), "the node never received the CameraInfo"
    n = len(harness.poses)
    harness.image_pub.publish(make_image_msg(photo, stamp))
    out = harness.wait_for_poses(n + 1)[n]
    assert out.header.stamp.sec == int(stamp)
    assert len(out.poses) == 1
    pose: Pose3D = out.poses[0]
    xyz = np.array([[k.position.x, k.position.y, k.position.z] for k in pose.keypoints])
    assert np.count_nonzero(xyz) > 0, "never an all-zero person"
    assert 1.0 < pose.keypoints[skeleton.INDEX["pelvis"]].position.z < 15.0
    return pose


def _confident(pose: Pose3D) -> tuple[np.ndarray, np.ndarray]:
    sure = [k for k in pose.keypoints if k.confidence > 0.5]
    assert len(sure) >= 12
    xyz = np.array([[k.position.x, k.position.y, k.position.z] for k in sure])
    uv = np.array([[k.u, k.v] for k in sure])
    return xyz, uv


@pytest.mark.parametrize("model", list(LENSES))
def test_3d_reprojects_through_the_distorted_camera_onto_the_published_pixels(
    harness: NodeHarness, photo: np.ndarray, model: str
) -> None:
    info = _lens_info(photo, model, LENSES[model], f"lens_{model}")
    pose = _frame_with(harness, photo, info, 4000.0 + list(LENSES).index(model))
    assert harness.node.snapshot().distortion == model
    xyz, uv = _confident(pose)
    k = np.array(info.k).reshape(3, 3)
    d = np.array(info.d)
    if model == "equidistant":
        lens, _ = cv2.fisheye.projectPoints(xyz.reshape(-1, 1, 3), ZERO3, ZERO3, k, d)
    else:
        lens, _ = cv2.projectPoints(xyz, ZERO3, ZERO3, k, d)
    # Published as float32: 1e-5 relative is about 0.005 px here.
    np.testing.assert_allclose(lens.reshape(-1, 2), uv, atol=0.01)
    pinhole = xyz[:, :2] / xyz[:, 2:] * [k[0, 0], k[1, 1]] + k[:2, 2]
    assert np.abs(pinhole - uv).max() > 0.5, "the lens, not K alone, maps the 3D onto u, v"


def test_unknown_model_is_reported_once_and_treated_as_none(
    harness: NodeHarness, photo: np.ndarray
) -> None:
    before = harness.node.snapshot().distortion_warnings
    for i in range(3):  # a driver republishes its CameraInfo with every frame
        info = _lens_info(photo, "kannala_brandt_x", [0.3, 0.1, 0.0, 0.0], f"unknown_{i}")
        pose = _frame_with(harness, photo, info, 4100.0 + i)
        snap = harness.node.snapshot()
        assert snap.distortion.startswith("ignored: unknown distortion_model 'kannala_brandt_x'")
        assert snap.distortion_warnings == before + 1
        assert snap.intrinsics_source == "camera_info"
        xyz, uv = _confident(pose)
        k = np.array(info.k).reshape(3, 3)
        pinhole = xyz[:, :2] / xyz[:, 2:] * [k[0, 0], k[1, 1]] + k[:2, 2]
        np.testing.assert_allclose(pinhole, uv, atol=0.01)


def _absurd(photo: np.ndarray, case: str) -> CameraInfo:
    h, w = photo.shape[:2]
    if case == "fx_1e-9":
        return make_camera_info(w, h, 1e-9, 1e-9, w / 2, h / 2, frame_id=case)
    if case == "fx_1e30":
        return make_camera_info(w, h, 1e30, 1e30, w / 2, h / 2, frame_id=case)
    if case == "100000x100000":
        return make_camera_info(100_000, 100_000, FX, FY, w / 2, h / 2, frame_id=case)
    return make_camera_info(1, 1, 0.63, 0.63, 0.5, 0.5, frame_id=case)  # 1x1 stretched


@pytest.mark.parametrize("case", ["fx_1e-9", "fx_1e30", "100000x100000", "1x1"])
def test_absurd_camera_info_falls_back_to_the_default_intrinsics_reported(
    harness: NodeHarness, photo: np.ndarray, case: str
) -> None:
    before = harness.node.snapshot()
    _frame_with(harness, photo, _absurd(photo, case), 4200.0)
    snap = harness.node.snapshot()
    assert snap.intrinsics_source == "default"
    # Counted as a bad CameraInfo message, not as a rejected frame (the frame is processed).
    assert snap.camera_info_rejected > before.camera_info_rejected
    assert snap.frames_rejected == before.frames_rejected
    assert "bad CameraInfo" in snap.last_error
    assert "default intrinsics" in snap.last_error


def test_an_ignored_distortion_is_a_diagnostics_warning() -> None:
    from builtin_interfaces.msg import Time
    from diagnostic_msgs.msg import DiagnosticStatus

    from bodypose3d_ros.ros.diagnostics import DiagnosticsSnapshot, build_diagnostics

    common = dict(
        input_rate_hz=30.0, output_rate_hz=30.0, processing_ms_p50=10.0, processing_ms_p95=12.0,
        frames_received=10, frames_processed=10, frames_dropped=0, frames_rejected=0,
        last_error="", backend="blazepose", engine="mediapipe", precision="fp32",
        intrinsics_source="camera_info", model_status="loaded", lifecycle_state="active",
    )  # fmt: skip
    for distortion, level in (("plumb_bob", DiagnosticStatus.OK), ("ignored: x", None)):
        status = build_diagnostics(
            Time(),
            "/n",
            "n",
            DiagnosticsSnapshot(**common, distortion=distortion),
        ).status[0]
        values = {kv.key: kv.value for kv in status.values}
        assert values["distortion"] == distortion
        if level is None:
            assert status.level == DiagnosticStatus.WARN
            assert "lens distortion ignored: x" in status.message
        else:
            assert status.level == level
