"""BodyPose3DNet adapter end to end on the contract fixture: image blobs -> engine -> pixels.

The fixture finds, per keypoint, the centroid of one colour channel inside a fixed window of the
crop. Drawing coloured blobs in the *image* and finding them again at the drawn pixel proves the
crop geometry, the crop -> image mapping, the colour order and the normalisation together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from bodypose3d_ros.core.camera.intrinsics import Intrinsics
from bodypose3d_ros.core.engines.base import Tensor
from bodypose3d_ros.core.engines.bodypose3dnet_io import INPUT_SPECS, OUTPUT_SPECS
from bodypose3d_ros.core.engines.onnxruntime_engine import OnnxRuntimeEngine
from bodypose3d_ros.core.models.bodypose3dnet import BodyPose3DNetModel, ModelOutputError
from bodypose3d_ros.core.models.bodypose3dnet_crop import crop_box_for, crop_to_image
from bodypose3d_ros.core.people.detection import Detection
from bodypose3d_ros.core.people.tracking import TrackerParams
from bodypose3d_ros.core.pipeline import PipelineConfig, PosePipeline
from bodypose3d_ros.core.skeleton import BODY_JOINTS, NUM_KEYPOINTS
from bodypose3d_ros.core.types import Box
from bodypose3d_ros.testing.contract_model import (
    DEPTH_PER_MM,
    REFERENCE_MASS,
    THRESHOLD,
    Z_REL_TABLE,
    keypoint_channel,
    keypoint_window,
    write_contract_model,
    write_signature_model,
)
from bodypose3d_ros.testing.contract_scene import (
    BGR_UNIT_COLOURS,
    RGB_MEAN_COLOURS,
    add_blob,
    draw_person,
)

WIDTH, HEIGHT = 1600, 900
INTRINSICS = Intrinsics(fx=1100.0, fy=1090.0, cx=790.0, cy=455.0, source="arguments")
PELVIS_NECK_MM = 492.6854  # slot 2 of the real mean-limb-length table (reference section 4)
SIGMA_CROP = 2.0  # blob size in crop pixels
MARGIN_CROP = 9  # keep blobs this far inside their window
# Eight people, crops pairwise disjoint, five of them partly outside the image.
EIGHT_BOXES = [
    Box(-60, -40, 150, 240),
    Box(250, 30, 120, 200),
    Box(520, 60, 200, 150),
    Box(900, 20, 100, 300),
    Box(1250, 100, 160, 260),
    Box(100, 600, 140, 220),
    Box(500, 560, 180, 260),
    Box(1450, 620, 200, 200),
]


@pytest.fixture(scope="module")
def contract_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_contract_model(tmp_path_factory.mktemp("pipeline") / "contract.onnx")


@pytest.fixture(scope="module")
def engine(contract_path: Path) -> OnnxRuntimeEngine:
    return OnnxRuntimeEngine(contract_path, max_batch_size=8)


@dataclass
class Scene:
    image: npt.NDArray[np.uint8]
    boxes: list[Box]
    drawn: npt.NDArray[np.bool_]  # (people, 34): blob drawn inside the image
    uv: npt.NDArray[np.float64]  # (people, 34, 2) where each blob was drawn (image pixels)


def _draw_scene(
    boxes: list[Box],
    colours: list[tuple[int, int, int]],
    seed: int,
) -> Scene:
    """Blobs at random points of every keypoint window, for every box, where inside the image."""
    rng = np.random.default_rng(seed)
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    crops = [crop_box_for(b) for b in boxes]
    for i, a in enumerate(crops):  # the scene needs disjoint crops: check it is so
        for b in crops[i + 1 :]:
            overlap_x = min(a.x + a.width, b.x + b.width) - max(a.x, b.x)
            overlap_y = min(a.y + a.height, b.y + b.height) - max(a.y, b.y)
            assert overlap_x <= 0 or overlap_y <= 0, (a, b)
    drawn = np.zeros((len(boxes), NUM_KEYPOINTS), bool)
    uv = np.zeros((len(boxes), NUM_KEYPOINTS, 2))
    for p, box in enumerate(boxes):
        drawn[p], uv[p] = draw_person(image, box, rng, colours, SIGMA_CROP, MARGIN_CROP)
    return Scene(image, boxes, drawn, uv)


def _expected_confidence(background: float = 0.0) -> float:
    """The fixture's confidence for one drawn blob, given the input0 value of black.

    A full-intensity blob is ``g = exp(-r^2 / 2 s^2)`` above ``background`` in input0, so the
    fixture integrates ``max(g - t, 0)`` with ``t = THRESHOLD - background`` over the plane:
    ``2 pi s^2 ((1 - t) - t ln(1 / t))``, then divides by REFERENCE_MASS.
    """
    t = THRESHOLD - background
    return float(2 * np.pi * SIGMA_CROP**2 * ((1 - t) - t * np.log(1 / t)) / REFERENCE_MASS)


def _assert_found(model: BodyPose3DNetModel, scene: Scene) -> None:
    poses = model.estimate(scene.image, scene.boxes, INTRINSICS)
    assert len(poses) == len(scene.boxes)
    for p, pose in enumerate(poses):
        drawn = scene.drawn[p]
        assert pose.uv.shape == (NUM_KEYPOINTS, 2)
        assert pose.box == crop_box_for(scene.boxes[p])
        error = np.abs(pose.uv[drawn] - scene.uv[p, drawn])
        # Measured error is below 0.05 px; 0.25 px still catches a half-pixel convention slip.
        assert error.max() <= 0.25, f"person {p}: worst keypoint off by {error.max():.2f} px"
        # Confidence from the blob's mass proves the pixel scaling (value/255, mean subtracted).
        np.testing.assert_allclose(pose.confidence[drawn], _expected_confidence(), rtol=0.05)
        assert np.all(pose.confidence[~drawn] == 0.0)  # outside the image: black, not smeared
        np.testing.assert_allclose(pose.z_rel, Z_REL_TABLE, rtol=1e-6)  # limb row filled
        # The score is the body's mean confidence (skeleton.BODY_JOINTS), as for BlazePose.
        assert pose.score == pytest.approx(float(np.mean(pose.confidence[BODY_JOINTS])))


@pytest.mark.parametrize("people", [1, 8])
def test_blobs_come_back_on_the_drawn_pixels(engine: OnnxRuntimeEngine, people: int) -> None:
    boxes = EIGHT_BOXES if people == 8 else EIGHT_BOXES[-1:]
    scene = _draw_scene(boxes, BGR_UNIT_COLOURS, seed=people)
    assert scene.drawn.sum() > 20 * people  # most keypoints are drawn ...
    assert not scene.drawn[-1].all()  # ... the last person is partly outside the image
    _assert_found(BodyPose3DNetModel(engine), scene)


def test_network_geometry_outputs_agree_with_ours(engine: OnnxRuntimeEngine) -> None:
    scene = _draw_scene(EIGHT_BOXES, BGR_UNIT_COLOURS, seed=11)
    model = BodyPose3DNetModel(engine)
    poses = model.estimate(scene.image, scene.boxes, INTRINSICS)
    out = model.last_outputs
    k_inv = np.linalg.inv(INTRINSICS.k)
    for p, pose in enumerate(poses):
        # In-graph t_form_inv mapping == our crop -> image mapping, for every row's own crop.
        ours = crop_to_image(out["pose2d"][p, :, :2], pose.box)
        np.testing.assert_allclose(out["pose2d_org_img"][p, :, :2], ours, atol=1e-3)
        # pose3d = k_inv_row @ [x, y, 1] * depth equals the frame camera's ray of the image pixel:
        # only true when each row got K^-1 composed with its *own* crop transform.
        rays = np.column_stack([pose.uv, np.ones(NUM_KEYPOINTS)]) @ k_inv.T
        depth = Z_REL_TABLE + PELVIS_NECK_MM * DEPTH_PER_MM
        np.testing.assert_allclose(out["pose3d"][p], rays * depth[:, None], rtol=1e-4, atol=1e-5)


def test_swapped_colour_order_is_detected(engine: OnnxRuntimeEngine) -> None:
    """Red where blue belongs: bgr_unit must not find channel-0 and channel-2 keypoints."""
    scene = _draw_scene(EIGHT_BOXES[:1], RGB_MEAN_COLOURS, seed=3)
    (pose,) = BodyPose3DNetModel(engine, normalization="bgr_unit").estimate(
        scene.image, scene.boxes, INTRINSICS
    )
    channels = np.array([keypoint_channel(k) for k in range(NUM_KEYPOINTS)])
    drawn = scene.drawn[0]
    assert np.all(pose.confidence[drawn & (channels != 1)] == 0.0)
    assert np.all(pose.confidence[drawn & (channels == 1)] > 0.2)  # green is green either way


def test_rgb_mean_normalisation_reads_red_first(engine: OnnxRuntimeEngine) -> None:
    scene = _draw_scene(EIGHT_BOXES[:3], RGB_MEAN_COLOURS, seed=5)
    model = BodyPose3DNetModel(engine, normalization="rgb_mean")
    # Black becomes -mean / 255, with a different mean for R, G and B (in input0's order).
    black = -np.array([123.675, 116.28, 103.53]) / 255.0
    poses = model.estimate(scene.image, scene.boxes, INTRINSICS)
    for p, pose in enumerate(poses):
        drawn = scene.drawn[p]
        assert np.abs(pose.uv[drawn] - scene.uv[p, drawn]).max() <= 0.25
        for k in np.flatnonzero(drawn):
            expected = _expected_confidence(float(black[keypoint_channel(int(k))]))
            # Small blobs after the large offset: 30 % covers sampling; a missing or misordered
            # mean changes the value by 70 % or more.
            assert pose.confidence[k] == pytest.approx(expected, rel=0.3)


def test_confidence_is_clipped_and_raw_outputs_kept(engine: OnnxRuntimeEngine) -> None:
    box = Box(700, 250, 200, 300)
    crop = crop_box_for(box)
    sx = crop.width / 192.0
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    x0, y0, x1, y1 = keypoint_window(0)  # pelvis reads channel 0 (blue under bgr_unit)
    u, v = crop.x + (x0 + x1) / 2 * sx, crop.y + (y0 + y1) / 2 * crop.height / 256.0
    add_blob(image, u, v, 5.0 * sx, (255, 0, 0))  # a big blob: raw confidence > 1
    model = BodyPose3DNetModel(engine)
    (pose,) = model.estimate(image, [box], INTRINSICS)
    assert model.last_outputs["pose25d"][0, 0, 3] > 1.5
    assert pose.confidence[0] == 1.0
    assert np.all((pose.confidence >= 0.0) & (pose.confidence <= 1.0))


def test_no_boxes_means_no_call_and_no_poses(contract_path: Path) -> None:
    counting = CountingEngine(OnnxRuntimeEngine(contract_path))
    model = BodyPose3DNetModel(counting)
    assert model.estimate(np.zeros((HEIGHT, WIDTH, 3), np.uint8), [], INTRINSICS) == []
    assert counting.calls == []
    assert model.last_outputs == {}


class CountingEngine:
    """Passes everything to a real engine and records each call's batch size."""

    def __init__(self, inner: OnnxRuntimeEngine) -> None:
        self.inner = inner
        self.calls: list[int] = []
        self.closed = False

    name = "onnxruntime"
    precision = "fp32"

    @property
    def max_batch_size(self) -> int:
        return self.inner.max_batch_size

    @property
    def description(self) -> str:
        return self.inner.description

    def run(self, feeds: Mapping[str, npt.NDArray[np.generic]]) -> dict[str, Tensor]:
        self.calls.append(len(feeds["input0"]))
        return self.inner.run(feeds)

    def close(self) -> None:
        self.closed = True
        self.inner.close()


def test_ten_people_one_call_chunked_like_row_by_row(contract_path: Path) -> None:
    rng = np.random.default_rng(9)
    image = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    boxes = [Box(*rng.uniform([-100, -100, 60, 60], [1500, 800, 300, 400])) for _ in range(10)]
    counting = CountingEngine(OnnxRuntimeEngine(contract_path, max_batch_size=4))
    model = BodyPose3DNetModel(counting)
    together = model.estimate(image, boxes, INTRINSICS)
    assert counting.calls == [10]  # one call; the engine splits it 4 + 4 + 2
    alone = BodyPose3DNetModel(OnnxRuntimeEngine(contract_path, max_batch_size=1))
    for box, pose in zip(boxes, together, strict=True):
        (single,) = alone.estimate(image, [box], INTRINSICS)
        np.testing.assert_allclose(pose.uv, single.uv, atol=1e-3)
        np.testing.assert_allclose(pose.z_rel, single.z_rel, atol=1e-6)
        np.testing.assert_allclose(pose.confidence, single.confidence, atol=1e-5)
    model.close()
    assert counting.closed


def test_nvidia_fixed_k_inv_mode_feeds_the_crop_camera(engine: OnnxRuntimeEngine) -> None:
    scene = _draw_scene(EIGHT_BOXES[1:3], BGR_UNIT_COLOURS, seed=2)
    model = BodyPose3DNetModel(engine, k_inv_mode="nvidia_fixed")
    model.estimate(scene.image, scene.boxes, INTRINSICS)
    out = model.last_outputs
    k_crop = np.array([[800.79041, 0, 96], [0, 800.79041, 128], [0, 0, 1]])
    xy1 = np.concatenate([out["pose2d"][..., :2], np.ones((2, NUM_KEYPOINTS, 1))], axis=-1)
    rays = xy1 @ np.linalg.inv(k_crop).T
    depth = Z_REL_TABLE + PELVIS_NECK_MM * DEPTH_PER_MM
    np.testing.assert_allclose(out["pose3d"], rays * depth[None, :, None], rtol=1e-4, atol=1e-5)


def test_wrong_output_shape_is_a_clear_error(tmp_path: Path) -> None:
    inputs = {s.name: s.shape for s in INPUT_SPECS}
    outputs = dict({s.name: s.shape for s in OUTPUT_SPECS}, pose25d=("batch", 34, 3))
    path = write_signature_model(tmp_path / "wrong.onnx", inputs, outputs)
    model = BodyPose3DNetModel(OnnxRuntimeEngine(path, check_io=False))
    with pytest.raises(ModelOutputError, match=r"shape \(1, 34, 3\), expected \(1, 34, 4\)"):
        model.estimate(np.zeros((100, 100, 3), np.uint8), [Box(10, 10, 30, 60)], INTRINSICS)


def test_bad_settings_are_rejected(engine: OnnxRuntimeEngine) -> None:
    with pytest.raises(ValueError, match="normalization"):
        BodyPose3DNetModel(engine, normalization="rgb")
    with pytest.raises(ValueError, match="k_inv_mode"):
        BodyPose3DNetModel(engine, k_inv_mode="identity")


class _KnownBoxes:
    """A PersonDetector that returns given boxes (as a detector running elsewhere would)."""

    name = "known boxes"
    description = "the scene's person boxes"

    def __init__(self, boxes: list[Box]) -> None:
        self.boxes = boxes

    def detect(self, image_bgr: np.ndarray, stamp: float) -> list[Detection]:
        return [Detection(box, 0.9, None) for box in self.boxes]

    def close(self) -> None:
        pass


@pytest.mark.parametrize("people", [1, 3, 8])
def test_the_pipeline_estimates_everyone_in_one_network_call(
    contract_path: Path, people: int
) -> None:
    engine = OnnxRuntimeEngine(contract_path, max_batch_size=8)
    network_calls: list[int] = []
    run_batch = engine._run_batch

    def recording(feeds: dict[str, Tensor]) -> dict[str, Tensor]:
        network_calls.append(len(feeds["input0"]))
        return run_batch(feeds)

    engine._run_batch = recording  # type: ignore[method-assign]
    scene = _draw_scene(EIGHT_BOXES[:people], BGR_UNIT_COLOURS, seed=20 + people)
    config = PipelineConfig(tracker=TrackerParams(min_hits=1))
    pipeline = PosePipeline(BodyPose3DNetModel(engine), config, _KnownBoxes(scene.boxes))
    # (The fixture finds blobs in fixed windows of the crop it was drawn for: the scene holds
    # for the detection boxes' crops, so every frame detects.)
    for stamp in (0.0, 0.1, 0.2):
        network_calls.clear()
        result = pipeline.process(scene.image, INTRINSICS, stamp)
        assert network_calls == [people], "everyone in one batch, one network run"
        assert len(result.people) + result.lift_failures == people
    pipeline.close()
