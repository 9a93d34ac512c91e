"""The BodyPose3DNet-shaped test fixture: exact I/O contract and the documented semantics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from bodypose3d_ros.core.engines.bodypose3dnet_io import (
    INPUT_SPECS,
    OUTPUT_SPECS,
    TensorSpec,
    check_model_io,
)
from bodypose3d_ros.core.skeleton import NUM_KEYPOINTS
from bodypose3d_ros.testing.contract_model import (
    DEPTH_PER_MM,
    REFERENCE_MASS,
    THRESHOLD,
    Z_REL_TABLE,
    keypoint_channel,
    keypoint_window,
    write_contract_model,
)

CROP_H, CROP_W = 256, 192


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> ort.InferenceSession:
    path = write_contract_model(tmp_path_factory.mktemp("fixture") / "contract.onnx")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _run(session: ort.InferenceSession, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))


def _feeds(input0: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Feeds with distinct random 3x3 matrices and limb rows in every batch row."""
    n = len(input0)
    return {
        "input0": input0.astype(np.float32),
        "k_inv": rng.normal(size=(n, 3, 3)).astype(np.float32),
        "t_form_inv": rng.normal(size=(n, 3, 3)).astype(np.float32),
        "scale_normalized_mean_limb_lengths": rng.uniform(0.5, 2.0, (n, 36)).astype(np.float32),
        "mean_limb_lengths": rng.uniform(100, 900, (n, 36)).astype(np.float32),
    }


def test_declares_exactly_bodypose3dnet_io(tmp_path: Path) -> None:
    model = onnx.load(str(write_contract_model(tmp_path / "m.onnx")))

    def specs(values: list[onnx.ValueInfoProto]) -> list[tuple[str, tuple[object, ...]]]:
        return [
            (v.name, tuple(d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim))
            for v in values
        ]

    assert specs(list(model.graph.input)) == [(s.name, s.shape) for s in INPUT_SPECS]
    assert specs(list(model.graph.output)) == [(s.name, s.shape) for s in OUTPUT_SPECS]
    assert all(
        v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        for v in [*model.graph.input, *model.graph.output]
    )
    assert model.opset_import[0].version == 17
    assert "TEST FIXTURE" in model.doc_string


def test_onnxruntime_sees_the_contract(session: ort.InferenceSession) -> None:
    found_in = [TensorSpec(a.name, tuple(a.shape)) for a in session.get_inputs()]
    found_out = [TensorSpec(a.name, tuple(a.shape)) for a in session.get_outputs()]
    assert check_model_io(found_in, found_out) is None  # dynamic batch


def test_fixed_batch_variant(tmp_path: Path) -> None:
    model = onnx.load(str(write_contract_model(tmp_path / "b8.onnx", batch=8)))
    assert all(v.type.tensor_type.shape.dim[0].dim_value == 8 for v in model.graph.input)


def test_finds_blob_centroid_in_its_window_and_channel(session: ort.InferenceSession) -> None:
    rng = np.random.default_rng(1)
    input0 = np.zeros((2, 3, CROP_H, CROP_W), np.float32)
    ys, xs = np.mgrid[0:CROP_H, 0:CROP_W]
    expected = np.zeros((2, NUM_KEYPOINTS, 2))
    for k in range(NUM_KEYPOINTS):
        x0, y0, x1, y1 = keypoint_window(k)
        cx, cy = rng.uniform(x0 + 6, x1 - 6), rng.uniform(y0 + 6, y1 - 6)
        expected[0, k] = cx, cy
        # A cone of radius 4 px: symmetric, so its centroid is (cx, cy).
        cone = np.clip(1.0 - np.hypot(xs - cx, ys - cy) / 4.0, 0.0, None)
        input0[0, keypoint_channel(k)] += cone
        # Row 1: the same blob in the wrong channel must be invisible.
        input0[1, (keypoint_channel(k) + 1) % 3] += cone
    out = _run(session, _feeds(input0, rng))
    pose2d = out["pose2d"]
    np.testing.assert_allclose(pose2d[0, :, :2], expected[0], atol=0.05)
    mass = np.clip(input0[0] - THRESHOLD, 0, None).sum() / NUM_KEYPOINTS
    np.testing.assert_allclose(pose2d[0, :, 2], mass / REFERENCE_MASS, rtol=0.05)
    assert np.all(pose2d[1, :, 2] == 0.0)
    np.testing.assert_array_equal(out["pose25d"][:, :, [0, 1, 3]], pose2d)


def test_geometry_outputs_use_each_rows_own_matrices(session: ort.InferenceSession) -> None:
    rng = np.random.default_rng(2)
    input0 = rng.uniform(0, 1, (5, 3, CROP_H, CROP_W)).astype(np.float32)
    feeds = _feeds(input0, rng)
    out = _run(session, feeds)
    xy1 = np.concatenate([out["pose2d"][..., :2], np.ones((5, NUM_KEYPOINTS, 1))], axis=-1)
    mapped = np.einsum("nij,nkj->nki", feeds["t_form_inv"].astype(np.float64), xy1)
    np.testing.assert_allclose(
        out["pose2d_org_img"][..., :2], mapped[..., :2], rtol=1e-4, atol=1e-3
    )
    np.testing.assert_array_equal(out["pose2d_org_img"][..., 2], out["pose2d"][..., 2])

    z_rel = Z_REL_TABLE[None, :] * feeds["scale_normalized_mean_limb_lengths"][:, 2:3]
    np.testing.assert_allclose(out["pose25d"][..., 2], z_rel, rtol=1e-6)
    depth = z_rel + feeds["mean_limb_lengths"][:, 2:3] * DEPTH_PER_MM
    rays = np.einsum("nij,nkj->nki", feeds["k_inv"].astype(np.float64), xy1)
    np.testing.assert_allclose(out["pose3d"], rays * depth[..., None], rtol=1e-4, atol=1e-3)


def test_empty_windows_give_zero_confidence(session: ort.InferenceSession) -> None:
    rng = np.random.default_rng(3)
    out = _run(session, _feeds(np.zeros((1, 3, CROP_H, CROP_W), np.float32), rng))
    assert np.all(out["pose2d"] == 0.0)


def test_batch_of_8_rows_are_independent(session: ort.InferenceSession) -> None:
    """A batch of 8 gives, row for row, what each person run alone gives (no mixing of rows)."""
    rng = np.random.default_rng(4)
    feeds = _feeds(rng.uniform(0, 1, (8, 3, CROP_H, CROP_W)).astype(np.float32), rng)
    batched = _run(session, feeds)
    assert all(value.shape[0] == 8 for value in batched.values())
    for i in range(8):
        alone = _run(session, {name: value[i : i + 1] for name, value in feeds.items()})
        for name, value in alone.items():
            # float32 sums may be ordered differently in a batch: equal to rounding, not bitwise.
            np.testing.assert_allclose(batched[name][i : i + 1], value, rtol=1e-4, atol=1e-4)


def test_command_line_writes_the_fixture(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "contract.onnx"
    result = subprocess.run(
        [sys.executable, "-m", "bodypose3d_ros.testing.contract_model", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "test fixture" in result.stdout
    onnx.checker.check_model(onnx.load(str(out)))
