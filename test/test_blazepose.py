"""BlazePose backend: the 33 -> 34 landmark mapping, and the real model on a real photo."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from bodypose3d_ros.core import skeleton
from bodypose3d_ros.core.camera.intrinsics import default_intrinsics
from bodypose3d_ros.core.models.blazepose import (
    BLAZEPOSE_LANDMARK_NAMES,
    BlazePoseModel,
    landmarks_to_pose25d,
)
from bodypose3d_ros.core.people.tracking import TrackerParams
from bodypose3d_ros.core.pipeline import PipelineConfig, PosePipeline
from bodypose3d_ros.core.types import Box, Pose25D

REPO_ROOT = Path(__file__).resolve().parent.parent
K = skeleton.INDEX
BP = {name: i for i, name in enumerate(BLAZEPOSE_LANDMARK_NAMES)}

# The person in person.jpg (640x424), outlined by hand on a 3x enlargement of the photo with a
# pixel grid, independently of any model: hat, hood and jacket, the right arm and glove, trousers
# and boots. The person stands with the back to the camera, turned towards the horse on the right:
# the hood is seen from behind, the face in profile facing right, the boots point right.
PERSON_OUTLINE = np.array(
    [(219, 99), (250, 99), (252, 128), (258, 140), (263, 175), (268, 215), (276, 235),
     (277, 275), (262, 282), (255, 282), (252, 320), (255, 345), (263, 358), (265, 374),
     (212, 374), (209, 330), (204, 300), (203, 258), (196, 245), (192, 200), (191, 150),
     (200, 128), (218, 124)],
    dtype=np.float32,
)  # fmt: skip
BODY_JOINTS = (
    "left_shoulder", "right_shoulder", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip


# --- the mapping, on hand-made landmarks -----------------------------------------------------


def _synthetic_landmarks() -> tuple[np.ndarray, np.ndarray]:
    """Normalised image landmarks with distinct values, and a metric world pose."""
    n = len(BLAZEPOSE_LANDMARK_NAMES)
    image = np.column_stack((np.linspace(0.1, 0.9, n), np.linspace(0.8, 0.2, n), np.full(n, 0.9)))
    world = np.zeros((n, 3))
    world[BP["left_hip"]] = (-0.1, 0.0, 0.02)
    world[BP["right_hip"]] = (0.1, 0.0, -0.02)
    world[BP["left_shoulder"]] = (-0.2, -0.5, 0.1)  # mid-shoulders 0.5 m above mid-hips
    world[BP["right_shoulder"]] = (0.2, -0.5, -0.1)
    world[BP["left_knee"]] = (-0.1, 0.4, 0.25)  # 0.25 m behind the pelvis
    world[BP["right_knee"]] = (0.1, 0.4, -0.1)
    return image, world


def test_mapping_copies_named_landmarks_and_builds_the_trunk() -> None:
    image, world = _synthetic_landmarks()
    image[BP["left_hip"], 2] = 0.7
    image[BP["right_shoulder"], 2] = 0.6
    width, height = 640, 480
    pose = landmarks_to_pose25d(image, world, width, height)
    assert pose is not None
    px = image[:, :2] * (width, height)

    for ours, theirs in [
        ("left_hip", "left_hip"), ("right_knee", "right_knee"), ("nose", "nose"),
        ("left_eye", "left_eye"), ("right_eye", "right_eye"), ("left_ear", "left_ear"),
        ("left_big_toe", "left_foot_index"), ("right_heel", "right_heel"),
        ("left_pinky_knuckle", "left_pinky"), ("right_index_knuckle", "right_index"),
        ("left_thumb_tip", "left_thumb"), ("right_wrist", "right_wrist"),
    ]:  # fmt: skip
        np.testing.assert_allclose(pose.uv[K[ours]], px[BP[theirs]], err_msg=ours)

    pelvis = (px[BP["left_hip"]] + px[BP["right_hip"]]) / 2
    neck = (px[BP["left_shoulder"]] + px[BP["right_shoulder"]]) / 2
    np.testing.assert_allclose(pose.uv[K["pelvis"]], pelvis)
    np.testing.assert_allclose(pose.uv[K["neck"]], neck)
    np.testing.assert_allclose(pose.uv[K["torso"]], (pelvis + neck) / 2)
    # Derived joints are only as sure as their weakest parent.
    assert pose.confidence[K["pelvis"]] == pytest.approx(0.7)
    assert pose.confidence[K["neck"]] == pytest.approx(0.6)
    assert pose.confidence[K["torso"]] == pytest.approx(0.6)
    assert pose.confidence[K["left_knee"]] == pytest.approx(0.9)


def test_unmeasured_keypoints_sit_on_a_neighbour_with_zero_confidence() -> None:
    image, world = _synthetic_landmarks()
    pose = landmarks_to_pose25d(image, world, 100, 100)
    assert pose is not None
    for side in ("left", "right"):
        assert pose.confidence[K[f"{side}_small_toe"]] == 0.0
        assert pose.confidence[K[f"{side}_middle_tip"]] == 0.0
        np.testing.assert_allclose(pose.uv[K[f"{side}_small_toe"]], pose.uv[K[f"{side}_big_toe"]])
        np.testing.assert_allclose(
            pose.uv[K[f"{side}_middle_tip"]], pose.uv[K[f"{side}_index_knuckle"]]
        )
    measured = np.ones(skeleton.NUM_KEYPOINTS, dtype=bool)
    measured[[K[n] for n in ("left_small_toe", "right_small_toe")]] = False
    measured[[K[n] for n in ("left_middle_tip", "right_middle_tip")]] = False
    assert np.all(pose.confidence[measured] == pytest.approx(0.9))


def test_z_rel_is_pelvis_relative_depth_in_pelvis_neck_units() -> None:
    image, world = _synthetic_landmarks()
    pose = landmarks_to_pose25d(image, world, 100, 100)
    assert pose is not None
    # Pelvis-neck: mid-hips (0, 0, 0) to mid-shoulders (0, -0.5, 0) = 0.5 m.
    assert pose.z_rel[K["pelvis"]] == pytest.approx(0.0)
    assert pose.z_rel[K["left_knee"]] == pytest.approx(0.25 / 0.5)
    assert pose.z_rel[K["right_knee"]] == pytest.approx(-0.1 / 0.5)
    assert pose.z_rel[K["left_shoulder"]] == pytest.approx(0.1 / 0.5)
    # Moving the whole body does not change relative depth.
    shifted = landmarks_to_pose25d(image, world + np.array([0.3, -0.2, 1.0]), 100, 100)
    assert shifted is not None
    np.testing.assert_allclose(shifted.z_rel, pose.z_rel, atol=1e-12)


def test_confidence_is_clipped_and_score_is_the_body_mean() -> None:
    image, world = _synthetic_landmarks()
    image[:, 2] = 1.7  # out-of-range visibilities
    image[BP["left_wrist"], 2] = -0.2
    pose = landmarks_to_pose25d(image, world, 100, 100)
    assert pose is not None
    assert pose.confidence.min() >= 0.0
    assert pose.confidence.max() <= 1.0
    assert pose.confidence[K["left_wrist"]] == 0.0
    # The body = the 15 joints of the limb tables (pelvis, torso, neck and 6 per side); one of
    # them (left wrist) is 0, the rest 1.
    assert pose.score == pytest.approx(14 / 15)


def test_box_is_the_confident_keypoints_grown_by_ten_percent() -> None:
    image, world = _synthetic_landmarks()
    image[:, 2] = 0.9
    image[BP["left_foot_index"], 2] = 0.1  # an unsure outlier must not stretch the box
    image[BP["left_foot_index"], :2] = (0.99, 0.99)
    pose = landmarks_to_pose25d(image, world, 200, 100)
    assert pose is not None
    sure = pose.uv[pose.confidence >= 0.5]
    lo, hi = sure.min(axis=0), sure.max(axis=0)
    box = pose.box
    assert box.width == pytest.approx((hi - lo)[0] * 1.1)
    assert box.height == pytest.approx((hi - lo)[1] * 1.1)
    np.testing.assert_allclose(box.center, (lo + hi) / 2)
    assert box.x + box.width < 0.99 * 200


def test_degenerate_world_pose_gives_none() -> None:
    image, _ = _synthetic_landmarks()
    assert landmarks_to_pose25d(image, np.zeros((33, 3)), 100, 100) is None


# --- construction and errors ---------------------------------------------------------------


def test_module_import_does_not_load_mediapipe_and_says_how_to_install_it() -> None:
    code = (
        "import sys\n"
        "import bodypose3d_ros.core.models.blazepose as bp\n"
        "assert 'mediapipe' not in sys.modules, 'mediapipe imported eagerly'\n"
        "sys.modules['mediapipe'] = None  # as if it were not installed\n"
        "try:\n"
        "    bp.BlazePoseModel()\n"
        "except (ImportError, RuntimeError) as exc:  # ModelLoadError is a RuntimeError\n"
        "    print('ERROR:', exc)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "ERROR:" in out.stdout
    assert "pip install mediapipe==0.10.14" in out.stdout


# --- the real model on the real photo ------------------------------------------------------


@pytest.fixture(scope="module")
def model() -> Iterator[BlazePoseModel]:
    pytest.importorskip("mediapipe", reason="mediapipe==0.10.14 is not installed")
    m = BlazePoseModel()
    yield m
    m.close()


@pytest.fixture(scope="module")
def photo(person_image_path: Path) -> np.ndarray:
    image = cv2.imread(str(person_image_path))
    assert image is not None, person_image_path
    return image


@pytest.fixture(scope="module")
def photo_pose(model: BlazePoseModel, photo: np.ndarray) -> Pose25D:
    h, w = photo.shape[:2]
    poses = model.estimate(photo, [], default_intrinsics(w, h))
    assert len(poses) == 1, "exactly one person in the photo"
    return poses[0]


def test_photo_body_joints_lie_on_the_person(photo_pose: Pose25D) -> None:
    assert photo_pose.uv.shape == (34, 2)
    for name in BODY_JOINTS:
        u, v = photo_pose.uv[K[name]]
        inside = cv2.pointPolygonTest(PERSON_OUTLINE, (float(u), float(v)), False)
        assert inside >= 0, f"{name} at ({u:.0f}, {v:.0f}) is off the person"
        # 0.4: the half-hidden left knee's confidence swings 0.43-0.65 between settled crops
        # of this photo a few px apart (the crop's re-alignment runs through them).
        assert photo_pose.confidence[K[name]] >= 0.4, name
    assert np.median(photo_pose.confidence[[K[n] for n in BODY_JOINTS]]) >= 0.8
    assert 0.5 <= photo_pose.score <= 1.0
    box = photo_pose.box  # the person spans x 191..277, y 99..374
    assert 180 <= box.x <= 205
    assert 265 <= box.x + box.width <= 290
    assert 90 <= box.y <= 130
    assert 360 <= box.y + box.height <= 395


def test_photo_sides_and_depth_order_match_a_back_view_turned_right(photo_pose: Pose25D) -> None:
    uv, z = photo_pose.uv, photo_pose.z_rel
    # Seen from behind, the person's left is on the image's left.
    assert uv[K["left_shoulder"], 0] < uv[K["right_shoulder"], 0]
    assert uv[K["left_hip"], 0] < uv[K["right_hip"], 0]
    # Turned towards the image's right and away, the left shoulder is farther from the camera.
    assert z[K["left_shoulder"]] > z[K["right_shoulder"]] + 0.1
    assert z[K["pelvis"]] == pytest.approx(0.0)


def test_photo_lifted_to_plausible_metric_3d(model: BlazePoseModel, photo: np.ndarray) -> None:
    h, w = photo.shape[:2]
    config = PipelineConfig(smoothing=False, tracker=TrackerParams(min_hits=1))  # one photo
    result = PosePipeline(model, config).process(photo, default_intrinsics(w, h), 0.0)
    assert len(result.people) == 1
    person = result.people[0]
    pelvis_z = person.xyz[K["pelvis"], 2]
    assert 1.5 <= pelvis_z <= 15.0
    sure = person.confidence >= 0.5
    assert np.all(person.xyz[sure, 2] > 0)
    checked = 0
    for (a, b), mm in zip(skeleton.LIMB_JOINTS, skeleton.LIMB_LENGTHS_MM, strict=True):
        if sure[a] and sure[b]:
            length_mm = 1000 * np.linalg.norm(person.xyz[a] - person.xyz[b])
            name = f"{skeleton.KEYPOINT_NAMES[a]}-{skeleton.KEYPOINT_NAMES[b]}"
            assert 0.7 * mm <= length_mm <= 1.3 * mm, f"{name}: {length_mm:.0f} mm vs {mm:.0f}"
            checked += 1
    assert checked >= 12


def test_bgra_and_grey_images_are_accepted(model: BlazePoseModel, photo: np.ndarray) -> None:
    h, w = photo.shape[:2]
    k = default_intrinsics(w, h)
    bgr = model.estimate(photo, [], k)
    bgra = model.estimate(cv2.cvtColor(photo, cv2.COLOR_BGR2BGRA), [], k)
    assert len(bgr) == len(bgra) == 1
    np.testing.assert_allclose(bgra[0].uv, bgr[0].uv, atol=1e-3)
    grey = model.estimate(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY), [], k)
    assert len(grey) == 1  # the person still stands out in grey
    with pytest.raises(ValueError, match="8-bit"):
        model.estimate(photo.astype(np.float32), [], k)


def test_no_person_gives_an_empty_list(model: BlazePoseModel) -> None:
    empty = np.full((240, 320, 3), 127, dtype=np.uint8)
    assert model.estimate(empty, [], default_intrinsics(320, 240)) == []


def test_calls_are_independent_and_close_is_clean(photo: np.ndarray) -> None:
    h, w = photo.shape[:2]
    k = default_intrinsics(w, h)
    m = BlazePoseModel()
    try:
        first = m.estimate(photo, [], k)
        moved = m.estimate(np.roll(photo, 10, axis=1), [], k)
        again = m.estimate(photo, [], k)
        assert len(first) == len(moved) == len(again) == 1
        shift = moved[0].uv[K["pelvis"], 0] - first[0].uv[K["pelvis"], 0]
        assert shift == pytest.approx(10, abs=4)
        # Nothing is carried from call to call: the same image gives the same answer.
        np.testing.assert_allclose(again[0].uv, first[0].uv, atol=1e-6)
    finally:
        m.close()
    m.close()  # twice is fine
    with pytest.raises(RuntimeError, match="closed"):
        m.estimate(photo, [], k)


# --- crops: one per box, mapped back to the source image ------------------------------------


def test_crop_keypoints_map_back_to_the_source_image(
    model: BlazePoseModel, photo: np.ndarray, photo_pose: Pose25D
) -> None:
    # The same person, moved by (+70, +45) on a bigger black canvas and found through a box
    # there: every confident keypoint moves by exactly that much.
    h, w = photo.shape[:2]
    canvas = np.zeros((h + 120, w + 150, 3), np.uint8)
    canvas[45 : 45 + h, 70 : 70 + w] = photo
    box = Box(185 + 70, 95 + 45, 95, 285)  # the person's outline, moved
    (pose,) = model.estimate(canvas, [box], default_intrinsics(w + 150, h + 120))
    both = (pose.confidence >= 0.5) & (photo_pose.confidence >= 0.5)
    assert np.count_nonzero(both) >= 15
    offsets = pose.uv[both] - photo_pose.uv[both]
    np.testing.assert_allclose(np.median(offsets, axis=0), (70, 45), atol=3)


def test_keypoints_outside_what_the_model_saw_have_no_confidence(
    model: BlazePoseModel, photo: np.ndarray
) -> None:
    # Only the upper half of the person is in the image: the legs the model guesses below the
    # border were never seen.
    w = photo.shape[1]
    top = np.ascontiguousarray(photo[:260])
    poses = model.estimate(top, [Box(185, 95, 95, 285)], default_intrinsics(w, 260))
    assert len(poses) == 1
    pose = poses[0]
    below = pose.uv[:, 1] > 260
    assert np.count_nonzero(below) >= 4, "knees, ankles and feet are guessed below the border"
    assert np.all(pose.confidence[below] == 0.0)
    assert pose.confidence[K["left_shoulder"]] >= 0.5
