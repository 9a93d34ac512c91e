"""Everyone the detector sees is published: from the detector's own keypoints when the pose model
gives nothing for them, or when they are beyond ``max_pose_people``, under one id throughout.

The cases are real photos and real models (MoveNet, BlazePose): bus.jpg's man cut off by the
right border, and cut-off, mirrored and rotated versions of the photos. Which people the model
cannot fit is asked of the model itself on each detection, so the tests hold for any pose model;
a test fails (never skips) when its photos no longer give the case it needs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from bodypose3d_ros.core import skeleton
from bodypose3d_ros.core.camera.intrinsics import Intrinsics, default_intrinsics
from bodypose3d_ros.core.depth.depth_image import DepthImage
from bodypose3d_ros.core.models.factory import create_model
from bodypose3d_ros.core.people.detection import COCO17_NAMES, Detection, PersonDetector
from bodypose3d_ros.core.people.detector_keypoints import detection_pose
from bodypose3d_ros.core.people.detectors.factory import create_detector
from bodypose3d_ros.core.people.pose_budget import box_distance
from bodypose3d_ros.core.people.tracking import TrackerParams, confident_mask
from bodypose3d_ros.core.pipeline import PipelineConfig, PoseModel, PosePipeline
from bodypose3d_ros.core.types import Box, HintedBox, Person3D, Pose25D

IDX = skeleton.INDEX
# Joints the detector does not see: published with confidence 0.
UNSEEN = [
    IDX[n]
    for n in skeleton.KEYPOINT_NAMES
    if n not in COCO17_NAMES and n not in ("pelvis", "neck", "torso")
]
# person.jpg (640x424) seen through a 240 px wide window: at x0 = 0 the window's right border
# cuts the person (the detector finds them, BlazePose does not); from x0 = 10 on they are whole.
PAN_WIDTH = 240
PAN_PERIOD_S = 0.25  # the model, refused 3 times, is asked again 1 s (track_max_age_s) later


@pytest.fixture(scope="module")
def model() -> Iterator[PoseModel]:
    pose_model = create_model("blazepose", None)
    yield pose_model
    pose_model.close()


@pytest.fixture(scope="module")
def detector(model_cache_dir: Path) -> Iterator[PersonDetector]:
    found = create_detector("movenet", cache_dir=str(model_cache_dir))
    yield found
    found.close()


class _SharedDetector:
    """The module's detector, lent to a pipeline that must not close it."""

    name = "movenet"
    description = "shared"

    def __init__(self, detector: PersonDetector) -> None:
        self._detector = detector

    def detect(self, image_bgr: np.ndarray, stamp: float) -> list[Detection]:
        return self._detector.detect(image_bgr, stamp)

    def close(self) -> None:
        pass


def _pipeline(
    model: PoseModel, detector: PersonDetector, **config: object
) -> PosePipeline:  # fmt: skip
    return PosePipeline(model, PipelineConfig(**config), _SharedDetector(detector))  # type: ignore[arg-type]


def _fits(model: PoseModel, image: np.ndarray, found: Box | Detection, k: Intrinsics) -> bool:
    """Whether the model makes out the person in this one box: enough confident keypoints,
    centred in the box (a pose of a neighbour the crop took in instead is no fit). A
    detection is given as the pipeline gives it: its box with the detector's keypoints."""
    params = TrackerParams()
    if isinstance(found, Detection):
        box: Box = found.box
        crop: Box = HintedBox(box.x, box.y, box.width, box.height, None, found.keypoints)
    else:
        box = crop = found
    for pose in model.estimate(image, [crop], k):
        sure = confident_mask(pose, params.min_keypoint_confidence)
        if int(sure.sum()) < params.min_confident_keypoints:
            continue
        cx, cy = np.median(np.asarray(pose.uv)[sure], axis=0)
        if box.x <= cx <= box.x + box.width and box.y <= cy <= box.y + box.height:
            return True
    return False


def _owner(person: Person3D, boxes: Sequence[Box]) -> int:
    """The detection whose box holds most of the person's confident keypoints."""
    uv = person.uv[person.confidence >= 0.3]
    shares = [
        np.mean(
            (uv[:, 0] >= b.x)
            & (uv[:, 0] <= b.x + b.width)
            & (uv[:, 1] >= b.y)
            & (uv[:, 1] <= b.y + b.height)
        )
        for b in boxes
    ]
    return int(np.argmax(shares))


def _hidden_man_photo(bus_image_path: Path) -> np.ndarray:
    """bus.jpg mirrored: the detector finds the small man half hidden behind the man in front,
    and the pose model, given his crop, fits the man in front instead (a real case of someone
    the model cannot make out)."""
    bus = cv2.imread(str(bus_image_path))
    assert bus is not None
    return np.ascontiguousarray(bus[:, ::-1])


def _cases(paths: dict[str, Path]) -> dict[str, np.ndarray]:
    """Real photos and what a camera would see of them: cut off by a border, mirrored, turned."""
    bus = cv2.imread(str(paths["bus"]))
    person = cv2.imread(str(paths["person"]))
    assert bus is not None
    assert person is not None
    return {
        "bus.jpg (a man cut off by the right border)": bus,
        "bus.jpg mirrored": np.ascontiguousarray(bus[:, ::-1]),
        "bus.jpg cut at x = 120": np.ascontiguousarray(bus[:, 120:]),
        "person.jpg cut off through the body": np.ascontiguousarray(person[:, :PAN_WIDTH]),
        "person.jpg upside down": cv2.rotate(person, cv2.ROTATE_180),
    }


def _assert_flat_detector_person(person: Person3D) -> None:
    """What a detector-keypoint person is: no depth of its own, no joints the detector lacks."""
    assert person.keypoint_source == "detector"
    assert np.all(person.confidence[UNSEEN] == 0.0)
    seen = person.confidence > 0.0
    assert seen.sum() >= 3
    depths = person.xyz[seen, 2]
    assert np.all(np.isfinite(person.xyz))
    assert np.all(depths > 0.0)
    # z_rel 0 for every joint: the skeleton is one plane facing the camera.
    assert float(np.ptp(depths)) == pytest.approx(0.0, abs=1e-9)


# ------------------------------------------------------------------------------ the mapping
def test_detector_keypoints_map_onto_the_skeleton_with_the_rest_unseen() -> None:
    rng = np.random.default_rng(3)
    keypoints = np.column_stack([rng.uniform(0, 500, (17, 2)), rng.uniform(0.2, 1.0, 17)])
    pose = detection_pose(Detection(Box(10.0, 20.0, 200.0, 400.0), 0.4, keypoints))
    assert pose is not None
    assert pose.source == "detector"
    assert pose.score == 0.4
    assert pose.box == Box(10.0, 20.0, 200.0, 400.0)
    for i, name in enumerate(COCO17_NAMES):
        np.testing.assert_array_equal(pose.uv[IDX[name]], keypoints[i, :2])
        assert pose.confidence[IDX[name]] == keypoints[i, 2]
    coco = {name: i for i, name in enumerate(COCO17_NAMES)}
    hips = keypoints[[coco["left_hip"], coco["right_hip"]]]
    shoulders = keypoints[[coco["left_shoulder"], coco["right_shoulder"]]]
    np.testing.assert_allclose(pose.uv[IDX["pelvis"]], hips[:, :2].mean(axis=0))
    np.testing.assert_allclose(pose.uv[IDX["neck"]], shoulders[:, :2].mean(axis=0))
    assert pose.confidence[IDX["torso"]] == min(hips[:, 2].min(), shoulders[:, 2].min())
    assert np.all(pose.confidence[UNSEEN] == 0.0)
    np.testing.assert_array_equal(pose.uv[IDX["left_heel"]], pose.uv[IDX["left_ankle"]])
    assert np.all(pose.z_rel == 0.0)
    assert detection_pose(Detection(Box(0.0, 0.0, 5.0, 5.0), 0.9, None)) is None
    keypoints[4, 0] = np.nan
    assert detection_pose(Detection(Box(0.0, 0.0, 5.0, 5.0), 0.9, keypoints)) is None


def test_box_distance_reads_the_depth_image_else_the_box_height() -> None:
    box = Box(100.0, 50.0, 60.0, 200.0)
    assert box_distance(box, fy=400.0) == pytest.approx(400.0 * 1.7 / 200.0)
    values = np.zeros((120, 160), np.uint16)  # half the colour image's resolution
    values[40:80, 50:80] = 2500  # the middle of the box: 2.5 m
    depth = DepthImage(values, 0.001)
    assert box_distance(box, 400.0, depth, (320, 240)) == pytest.approx(2.5)
    empty = DepthImage(np.zeros((120, 160), np.uint16), 0.001)  # holes only: the box guess
    assert box_distance(box, 400.0, empty, (320, 240)) == pytest.approx(3.4)


def test_the_pose_model_budget_goes_to_published_people_then_the_nearest() -> None:
    from bodypose3d_ros.core.people.pose_budget import budget_pose_model
    from bodypose3d_ros.core.people.tracking import Target

    def target(key: int, height: float, asks: bool = True) -> Target:
        return Target(key, Box(0.0, 0.0, height / 3, height), True, pose_model=asks)

    # key 1 is published; keys 2..4 are newcomers; key 5 did not ask (a barren track).
    targets = [target(1, 100.0), target(2, 300.0), target(3, 200.0), target(4, 50.0),
               target(5, 400.0, asks=False)]  # fmt: skip
    published = {1}.__contains__
    distance = lambda box: 1000.0 / box.height  # noqa: E731  (larger box: nearer)
    chosen = budget_pose_model(targets, 2, published, distance)
    assert [t.track for t in chosen] == [1, 2, 3, 4, 5]  # order and targets kept
    assert [t.pose_model for t in chosen] == [True, True, False, False, False]
    assert [t.pose_model for t in budget_pose_model(targets, 0, published, distance)] == [False] * 5
    assert budget_pose_model(targets, 4, published, distance) == targets  # within the budget


def test_tracker_confirms_and_publishes_detections_the_model_gave_nothing_for() -> None:
    from bodypose3d_ros.core.people.tracking import PersonTracker

    rng = np.random.default_rng(5)
    body = np.column_stack([rng.uniform(100, 200, 17), rng.uniform(50, 350, 17), np.full(17, 0.8)])
    faint = body.copy()
    faint[2:, 2] = 0.05  # two confident keypoints: too little to follow
    seen = Detection(Box(100.0, 50.0, 100.0, 300.0), 0.3, body)
    unusable = Detection(Box(400.0, 50.0, 100.0, 300.0), 0.2, faint + np.array([300.0, 0.0, 0.0]))
    tracker = PersonTracker(TrackerParams(min_hits=3, max_people=2))
    for frame in range(4):
        tracker.begin_frame(frame / 10)
        extra = Detection(Box(700.0, 50.0, 100.0, 300.0), 0.1, body + np.array([600.0, 0.0, 0.0]))
        targets = tracker.match([seen, unusable, extra], 1000, 500)  # max_people 2: extra is cut
        published = tracker.observe(targets, [None] * len(targets))
        assert tracker.dropped == 2  # the unusable one and the one beyond max_people
        if frame < 2:
            assert published == []
    assert [(person_id, pose.source) for person_id, pose in published] == [("body_1", "detector")]
    np.testing.assert_array_equal(published[0][1].uv[IDX["left_knee"]], body[13, :2])


# ------------------------------------------------------------------------------ real photos
def test_everyone_detected_is_published_the_unfitted_from_detector_keypoints(
    model: PoseModel,
    detector: PersonDetector,
    bus_image_path: Path,
    person_image_path: Path,
) -> None:
    unfitted_cases = []
    for name, image in _cases({"bus": bus_image_path, "person": person_image_path}).items():
        height, width = image.shape[:2]
        k = default_intrinsics(width, height)
        detections = detector.detect(image, 0.0)
        fits = [_fits(model, image, d, k) for d in detections]
        pipeline = _pipeline(model, detector, tracker=TrackerParams(min_hits=1))
        result = pipeline.process(image, k, 0.0)  # a still image: the first sighting counts
        assert len(result.people) == len(detections), name
        assert len({p.id for p in result.people}) == len(result.people), name
        owners = sorted(_owner(p, [d.box for d in detections]) for p in result.people)
        assert owners == list(range(len(detections))), f"{name}: each detection once"
        for person in result.people:
            fitted = fits[_owner(person, [d.box for d in detections])]
            assert person.keypoint_source == ("pose_model" if fitted else "detector"), name
            if not fitted:
                _assert_flat_detector_person(person)
        assert result.counts.detected == len(detections)
        assert result.counts.fitted == sum(fits)
        assert result.counts.from_detector == len(fits) - sum(fits)
        assert result.counts.dropped == 0
        if not all(fits):
            unfitted_cases.append(name)
    # The photos must give a real case: the half-hidden man of the mirrored bus.jpg, whose crop
    # the model fits with the man in front (BlazePose now fits the man cut by the border).
    assert "bus.jpg mirrored" in unfitted_cases, unfitted_cases


def test_a_person_keeps_their_id_when_the_pose_model_starts_fitting_them(
    model: PoseModel, detector: PersonDetector, bus_image_path: Path
) -> None:
    """bus.jpg with the pose model for one person only (max_pose_people 1) and a depth image
    in which the smaller man walks up until he is nearer than the other: published from the
    detector's keypoints first, then from the pose model, one id throughout; the flat frames
    feed neither the model's smoothing filters nor his bone-length estimate."""
    image = cv2.imread(str(bus_image_path))
    assert image is not None
    height, width = image.shape[:2]
    k = default_intrinsics(width, height)
    boxes = [d.box for d in detector.detect(image, 0.0)]
    fittable = [i for i, box in enumerate(boxes) if _fits(model, image, box, k)]
    largest = max(fittable, key=lambda i: boxes[i].height)
    smallest = min(fittable, key=lambda i: boxes[i].height)
    assert largest != smallest, "bus.jpg has two whole men"
    raw: list[list[Pose25D]] = []
    estimate = model.estimate

    def recording(image: np.ndarray, crops: Sequence[Box], k: Intrinsics) -> list[Pose25D]:
        poses = estimate(image, crops, k)
        raw.append(poses)
        return poses

    def depth_with(walker_mm: int) -> DepthImage:
        values = np.full((height, width), 6000, np.uint16)
        b = boxes[smallest]
        values[int(b.y) : int(b.y + b.height), int(b.x) : int(b.x + b.width)] = walker_mm
        return DepthImage(values, 0.001)

    pipeline = _pipeline(model, detector, max_pose_people=1)  # smoothing, bones, min_hits 3
    sources: list[str] = []
    ids: set[str] = set()
    switch_uv: np.ndarray | None = None  # the walker's first pose-model frame, published
    switch_raw: np.ndarray | None = None  # and the model's own pixels in that frame
    try:
        model.estimate = recording  # type: ignore[method-assign]
        for i, walker_mm in enumerate([9000] * 5 + [7000, 5000, 4000] + [3000] * 4):
            result = pipeline.process(image, k, i * PAN_PERIOD_S, depth_with(walker_mm))
            walker = [p for p in result.people if _owner(p, boxes) == smallest]
            if not walker:
                continue
            person = walker[0]
            ids.add(person.id)
            sources.append(person.keypoint_source)
            if person.keypoint_source == "detector":
                assert pipeline.bone_lengths(person.id) is None
                _assert_flat_detector_person(person)
            elif switch_uv is None:
                switch_uv, switch_raw = person.uv, raw[-1][0].uv
    finally:
        del model.estimate
    assert len(ids) == 1, ids
    assert sources[0] == "detector", sources
    assert sources[-1] == "pose_model", sources
    switch = sources.index("pose_model")
    assert "detector" not in sources[switch:], sources
    assert pipeline.bone_lengths(next(iter(ids))) is not None
    # The model's first pose passes its (fresh) filter unchanged: not dragged towards the
    # detector's keypoints of the frames before.
    np.testing.assert_array_equal(switch_uv, switch_raw)


def test_max_pose_people_fits_the_nearest_and_publishes_the_rest_from_the_detector(
    model: PoseModel, detector: PersonDetector, bus_image_path: Path
) -> None:
    image = cv2.imread(str(bus_image_path))
    assert image is not None
    height, width = image.shape[:2]
    k = default_intrinsics(width, height)
    detections = detector.detect(image, 0.0)
    boxes = [d.box for d in detections]
    fits = [_fits(model, image, box, k) for box in boxes]
    fittable = [i for i, ok in enumerate(fits) if ok]
    assert len(fittable) >= 2, "bus.jpg has two whole men"
    largest = max(fittable, key=lambda i: boxes[i].height)
    smallest = min(fittable, key=lambda i: boxes[i].height)
    assert largest != smallest
    counted: list[int] = []
    estimate = model.estimate

    def counting(image: np.ndarray, crops: Sequence[Box], k: Intrinsics) -> list[Pose25D]:
        counted.append(len(crops))
        return estimate(image, crops, k)

    def run(max_pose_people: int, depth: DepthImage | None = None) -> list[Person3D]:
        pipeline = _pipeline(
            model, detector, tracker=TrackerParams(min_hits=1), max_pose_people=max_pose_people
        )
        result = pipeline.process(image, k, 0.0, depth)
        assert len(result.people) == len(detections), "everyone is published"
        assert result.counts.fitted + result.counts.from_detector == len(detections)
        return result.people

    def fitted_owners(people: list[Person3D]) -> list[int]:
        return [_owner(p, boxes) for p in people if p.keypoint_source == "pose_model"]

    try:
        model.estimate = counting  # type: ignore[method-assign]
        # Without depth the largest box is the nearest.
        assert fitted_owners(run(1)) == [largest]
        assert counted[-1] == 1
        # A depth image that puts the smaller man nearest hands the model to him.
        values = np.full((height, width), 6000, np.uint16)
        b = boxes[smallest]
        values[int(b.y) : int(b.y + b.height), int(b.x) : int(b.x + b.width)] = 1500
        assert fitted_owners(run(1, DepthImage(values, 0.001))) == [smallest]
        # 0: everyone from the detector's keypoints, and the model never runs.
        calls = len(counted)
        people = run(0)
        assert len(counted) == calls
        for person in people:
            _assert_flat_detector_person(person)
    finally:
        del model.estimate


# ------------------------------------------------------------------------------ the node
def test_node_publishes_the_man_at_the_border_with_keypoint_source_detector(
    model: PoseModel, detector: PersonDetector, bus_image_path: Path
) -> None:
    """Over real DDS: bus.jpg streamed to the node; everyone the detector finds arrives in
    the Pose3DArray, the man BlazePose cannot fit flagged KEYPOINT_SOURCE_DETECTOR, with
    his own grey cube markers and the /diagnostics counters."""
    from bodypose3d_ros.msg import Pose3D
    from node_harness import NodeHarness, make_camera_info, make_image_msg, wait_for
    from visualization_msgs.msg import Marker

    image = _hidden_man_photo(bus_image_path)
    height, width = image.shape[:2]
    k = default_intrinsics(width, height)
    detections = detector.detect(image, 0.0)
    unfitted = sum(not _fits(model, image, d, k) for d in detections)
    assert unfitted >= 1, "the half-hidden man must be one the model cannot fit"
    with NodeHarness(backend="blazepose", detector="movenet") as h:
        h.start()
        h.info_pub.publish(make_camera_info(width, height, k.fx, k.fy, k.cx, k.cy))
        everyone = None
        for i in range(30):  # published once found track_min_hits times
            n = len(h.poses)
            h.image_pub.publish(make_image_msg(image, 900.0 + i / 10, frame_id="bus_cam"))
            out = h.wait_for_poses(n + 1)[-1]
            if len(out.poses) == len(detections):
                everyone = out
                break
        assert everyone is not None, "everyone the detector finds is published"
        sources = [pose.keypoint_source for pose in everyone.poses]
        assert sources.count(Pose3D.KEYPOINT_SOURCE_DETECTOR) == unfitted
        assert sources.count(Pose3D.KEYPOINT_SOURCE_POSE_MODEL) == len(detections) - unfitted
        flagged = [
            p for p in everyone.poses if p.keypoint_source == Pose3D.KEYPOINT_SOURCE_DETECTOR
        ]
        for pose in flagged:
            assert all(pose.keypoints[i].confidence == 0.0 for i in UNSEEN)
            assert pose.keypoints[IDX["pelvis"]].position.z > 0.0
        wanted = {f"body/{pose.id}" for pose in flagged}

        def cube_markers() -> bool:
            with h.lock:
                arrays = list(h.markers)
            return any(
                wanted
                <= {
                    m.ns
                    for m in array.markers
                    if m.type == Marker.CUBE_LIST and m.action == Marker.ADD
                }
                for array in arrays
            )

        assert wait_for(cube_markers, 20.0), "grey cube markers for detector-keypoint people"
        # The counters follow the publishing of each frame: waited for, not read at once.
        h.wait_for_counter("people_from_detector_keypoints", unfitted)
        h.wait_for_counter("people_fitted", len(detections) - unfitted)
        h.wait_for_counter("people_detected", len(detections))
        assert h.node.snapshot().people_dropped == 0


# ------------------------------------------------------------------------------ the CLI
def _infer(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    return subprocess.run(
        [sys.executable, "-m", "bodypose3d_ros.infer", "--out", str(out), *args],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip


def test_cli_json_says_which_people_came_from_detector_keypoints(
    model: PoseModel, detector: PersonDetector, bus_image_path: Path, tmp_path: Path
) -> None:
    from bodypose3d_ros.core.output.result_json import validate_frame_json

    image = _hidden_man_photo(bus_image_path)
    photo = tmp_path / "bus.jpg"
    cv2.imwrite(str(photo), image, [cv2.IMWRITE_JPEG_QUALITY, 100])
    image = cv2.imread(str(photo))  # exactly what the CLI reads
    assert image is not None
    height, width = image.shape[:2]
    k = default_intrinsics(width, height)
    fits = [_fits(model, image, d, k) for d in detector.detect(image, 0.0)]
    assert not all(fits), "the half-hidden man must be one the model cannot fit"
    runs = {"default": [], "--max-pose-people 0": ["--max-pose-people", "0"]}
    records = {}
    for name, extra in runs.items():
        done = _infer(tmp_path / name.replace(" ", "_"), *extra, str(photo))
        assert done.returncode == 0, done.stderr
        record = json.loads((tmp_path / name.replace(" ", "_") / "bus.json").read_text())
        validate_frame_json(record)
        records[name] = [person["keypoint_source"] for person in record["people"]]
    assert sorted(records["default"]) == sorted(
        "pose_model" if fitted else "detector" for fitted in fits
    )
    assert records["--max-pose-people 0"] == ["detector"] * len(fits)
    bad = _infer(tmp_path / "bad", "--max-pose-people", "65", str(photo))
    assert bad.returncode == 2
    assert "--max-pose-people must be within 0..64" in bad.stderr
