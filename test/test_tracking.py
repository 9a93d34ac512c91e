"""Tracking through the pipeline: ids through motion, misses and crossings; no one-frame ghosts.

The scenes here are what a detector and a pose model really return: the detector gives one box
(with COCO keypoints) per visible person, the pose model gives exactly one pose per crop, that
of the person filling the crop, or a low-confidence pose when the crop holds nobody. People are
synthetic skeletons (the photo-based tests in test_multi_person.py use real ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

from bodypose3d_ros.core.camera.intrinsics import Intrinsics, default_intrinsics
from bodypose3d_ros.core.people.detection import COCO17_TO_SKELETON, Detection
from bodypose3d_ros.core.people.tracking import (
    PersonTracker,
    Target,
    TrackerParams,
    iou_matrix,
    keypoint_similarity,
)
from bodypose3d_ros.core.pipeline import PipelineConfig, PosePipeline, pair_poses
from bodypose3d_ros.core.skeleton import NUM_KEYPOINTS
from bodypose3d_ros.core.types import Box, Pose25D

WIDTH, HEIGHT = 640, 480
IMAGE = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
K = default_intrinsics(WIDTH, HEIGHT)
_rng = np.random.default_rng(7)


def _body(seed: int) -> np.ndarray:
    """Keypoint offsets spread over a 60 x 180 px body (top-left corner at 0, 0)."""
    rng = np.random.default_rng(seed)
    body = np.c_[rng.uniform(0, 60, NUM_KEYPOINTS), rng.uniform(0, 180, NUM_KEYPOINTS)]
    body[0], body[1] = (0.0, 0.0), (60.0, 180.0)
    return body


@dataclass
class World:
    """Where each person stands now (top-left of their 60 x 180 body); None = hidden."""

    people: dict[str, tuple[float, float] | None] = field(default_factory=dict)
    bodies: dict[str, np.ndarray] = field(default_factory=dict)
    ghosts: list[Box] = field(default_factory=list)  # false detections in this frame

    def uv(self, name: str) -> np.ndarray:
        place = self.people[name]
        assert place is not None
        return self.bodies.setdefault(name, _body(len(self.bodies))) + np.array(place)

    def visible(self) -> list[str]:
        return [name for name, place in self.people.items() if place is not None]


class SceneDetector:
    """A PersonDetector over the World: one box + COCO keypoints per visible person."""

    name = "scene"
    description = "test scene detector"

    def __init__(self, world: World) -> None:
        self.world = world
        self.calls = 0

    def detect(self, image_bgr: np.ndarray, stamp: float) -> list[Detection]:
        self.calls += 1
        out = []
        for name in self.world.visible():
            uv = self.world.uv(name)
            lo, hi = uv.min(axis=0), uv.max(axis=0)
            kps = np.c_[uv[COCO17_TO_SKELETON], np.full(17, 0.8)]
            out.append(Detection(Box(*lo, *(hi - lo)), 0.8, kps))
        out += [Detection(box, 0.6, None) for box in self.world.ghosts]
        return out

    def close(self) -> None:
        pass


class SceneModel:
    """A PoseModel over the World: the pose of whoever fills each crop, one pose per crop."""

    name = "scene"
    description = "test scene model"
    precision = "fp32"

    def __init__(self, world: World) -> None:
        self.world = world
        self.calls: list[int] = []

    def estimate(
        self, image_bgr: np.ndarray, boxes: Sequence[Box], intrinsics: Intrinsics
    ) -> list[Pose25D]:
        self.calls.append(len(boxes))
        return [self._pose_in(box) for box in boxes]

    def _pose_in(self, box: Box) -> Pose25D:
        best, best_inside = None, 0.5
        for name in self.world.visible():
            uv = self.world.uv(name)
            inside = np.mean(
                (uv[:, 0] >= box.x) & (uv[:, 0] <= box.x + box.width)
                & (uv[:, 1] >= box.y) & (uv[:, 1] <= box.y + box.height)
            )  # fmt: skip
            if inside > best_inside:
                best, best_inside = name, inside
        if best is None:  # background: a pose somewhere in the crop, nothing confident
            uv = np.array(box.center) + _rng.normal(0, 5, (NUM_KEYPOINTS, 2))
            return _pose(uv, box, confidence=0.1)
        return _pose(self.world.uv(best), box)

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


def _pose(uv: np.ndarray, box: Box, confidence: float = 0.9) -> Pose25D:
    rng = np.random.default_rng(0)
    return Pose25D(
        uv=uv.copy(),
        z_rel=rng.normal(0, 0.1, NUM_KEYPOINTS),
        confidence=np.full(NUM_KEYPOINTS, confidence),
        box=box,
        score=confidence,
    )


def _pipeline(
    world: World, detector: bool = True, interval: int = 1, **tracker: float
) -> tuple[PosePipeline, SceneDetector, SceneModel]:
    det, model = SceneDetector(world), SceneModel(world)
    config = PipelineConfig(
        smoothing=False,
        tracker=TrackerParams(**tracker),
        detection_interval=interval,  # type: ignore[arg-type]
    )
    return PosePipeline(model, config, det if detector else None), det, model


def _ids_by_name(world: World, people: Sequence[object]) -> dict[str, str]:
    """Which published id sits on which world person (by keypoint position)."""
    found = {}
    for person in people:
        for name in world.visible():
            if np.allclose(person.uv, world.uv(name)):  # type: ignore[attr-defined]
                found[name] = person.id  # type: ignore[attr-defined]
    return found


def test_a_person_is_published_after_min_hits_and_keeps_the_id() -> None:
    world = World({"a": (100.0, 100.0)})
    pipeline, _, _ = _pipeline(world, min_hits=3)
    counts = []
    ids = set()
    for t in range(20):
        world.people["a"] = (100.0 + 6 * t, 100.0 + t)
        result = pipeline.process(IMAGE, K, t * 0.1)
        counts.append(len(result.people))
        ids |= {p.id for p in result.people}
    assert counts[:2] == [0, 0]  # found twice: not yet a person
    assert counts[2:] == [1] * 18
    assert ids == {"body_1"}


def test_a_one_frame_false_detection_is_never_published() -> None:
    world = World({"a": (100.0, 100.0)})
    pipeline, _, _ = _pipeline(world, min_hits=2)
    published: set[str] = set()
    for t in range(15):
        world.ghosts = [Box(400.0, 200.0, 60.0, 180.0)] if t == 5 else []
        result = pipeline.process(IMAGE, K, t * 0.1)
        published |= {p.id for p in result.people}
    assert published == {"body_1"}


def test_a_false_detection_with_a_confident_pose_needs_repeated_finds() -> None:
    # A ghost box on a person-like pattern: the model even returns a confident pose there, in
    # one frame only. min_hits keeps it out.
    world = World({"a": (100.0, 100.0)})
    pipeline, _, _ = _pipeline(world, min_hits=3)
    published: set[str] = set()
    for t in range(15):
        world.people["b"] = (400.0, 200.0) if t == 5 else None
        result = pipeline.process(IMAGE, K, t * 0.1)
        published |= {p.id for p in result.people}
    assert published == {"body_1"}


def test_two_people_crossing_keep_their_ids() -> None:
    world = World({"a": (100.0, 100.0), "b": (420.0, 110.0)})
    pipeline, _, _ = _pipeline(world)
    seen: dict[str, set[str]] = {"a": set(), "b": set()}
    for t in range(33):  # they pass each other around t = 16, overlapping
        world.people["a"] = (100.0 + 10 * t, 100.0)
        world.people["b"] = (420.0 - 10 * t, 110.0)
        result = pipeline.process(IMAGE, K, t / 30)
        for name, person_id in _ids_by_name(world, result.people).items():
            seen[name].add(person_id)
        assert result.lost_ids == []
    assert len(seen["a"]) == 1
    assert len(seen["b"]) == 1
    assert seen["a"] != seen["b"]


def test_crossing_behind_someone_keeps_both_ids() -> None:
    # b walks behind a and is hidden (no detection) for 4 frames while they overlap.
    world = World({"a": (300.0, 100.0), "b": (100.0, 100.0)})
    pipeline, _, _ = _pipeline(world)
    seen: dict[str, set[str]] = {"a": set(), "b": set()}
    for t in range(40):
        x = 100.0 + 10 * t
        world.people["b"] = None if abs(x - 300.0) < 20 else (x, 100.0)
        result = pipeline.process(IMAGE, K, t / 10)
        for name, person_id in _ids_by_name(world, result.people).items():
            seen[name].add(person_id)
    assert len(seen["a"]) == 1
    assert len(seen["b"]) == 1
    assert seen["a"] != seen["b"]


def test_hidden_for_five_frames_at_10_hz_keeps_the_id() -> None:
    world = World({"a": (100.0, 100.0)})
    pipeline, _, _ = _pipeline(world, max_age_s=1.0)
    ids = []
    lost: list[str] = []
    for t in range(20):
        world.people["a"] = None if 8 <= t < 13 else (100.0 + 5 * t, 100.0)
        result = pipeline.process(IMAGE, K, t * 0.1)
        lost += result.lost_ids
        if 8 <= t < 13:
            assert result.people == []
        ids += [p.id for p in result.people]
    assert set(ids) == {"body_1"}
    assert lost == []


def test_gone_longer_than_max_age_is_lost_once_and_returns_with_a_new_id() -> None:
    world = World({"a": (100.0, 100.0)})
    pipeline, _, _ = _pipeline(world, max_age_s=0.5)
    lost: list[str] = []
    ids = []
    for t in range(30):
        world.people["a"] = None if 5 <= t < 15 else (100.0, 100.0)
        result = pipeline.process(IMAGE, K, t * 0.1)
        lost += result.lost_ids
        ids += [p.id for p in result.people]
    assert lost == ["body_1"]  # reported once, when it expired
    assert set(ids) == {"body_1", "body_2"}  # ids are never reused


def test_stamps_that_repeat_or_go_back_neither_crash_nor_freeze() -> None:
    world = World({"a": (100.0, 100.0)})
    pipeline, _, _ = _pipeline(world, max_age_s=0.5)
    stamps = [0.0, 0.1, 0.2, 0.2, 0.2, 0.15, 0.3, 100.0, 5.0, 5.1]
    for i, stamp in enumerate(stamps):
        world.people["a"] = (100.0 + 4 * i, 100.0)
        result = pipeline.process(IMAGE, K, stamp)
    # Seen in the frame before the jump of 99.7 s: still the same person.
    assert [p.id for p in result.people] == ["body_1"]
    # Repeated stamps still age a track that is no longer seen.
    world.people["a"] = None
    lost: list[str] = []
    for _ in range(40):
        lost += pipeline.process(IMAGE, K, 5.1).lost_ids
    assert lost == ["body_1"]


@pytest.mark.parametrize("fps", [0.5, 0.2])
def test_frames_seconds_apart_publish_a_person_from_the_third_frame_on(fps: float) -> None:
    world = World({"a": (100.0, 100.0)})
    pipeline, _, _ = _pipeline(world, max_age_s=1.0, min_hits=3)
    published = []
    for t in range(8):
        world.people["a"] = (100.0 + 3 * t, 100.0)  # standing, swaying a little
        published.append([p.id for p in pipeline.process(IMAGE, K, 1000.0 + t / fps).people])
    assert published == [[], []] + [["body_1"]] * 6


@pytest.mark.parametrize("fps", [10.0, 0.5, 0.2])
def test_a_person_who_leaves_is_lost_once_after_both_limits(fps: float) -> None:
    params = TrackerParams(max_age_s=1.0, max_missed_frames=2, min_hits=3)
    world = World({"a": (100.0, 100.0)})
    pipeline, _, _ = _pipeline(world, max_age_s=params.max_age_s, min_hits=params.min_hits,
                               max_missed_frames=params.max_missed_frames)  # fmt: skip
    last_seen = 5
    lost_at = []
    for t in range(40):
        world.people["a"] = (100.0, 100.0) if t <= last_seen else None
        result = pipeline.process(IMAGE, K, t / fps)
        lost_at += [t] * len(result.lost_ids)
        assert result.lost_ids in ([], ["body_1"])
    # The first frame that begins with the person unseen for max_age_s and for
    # max_missed_frames frames (the frames between: processed, without them).
    expected = next(
        t for t in range(last_seen + 1, 40)
        if (t - last_seen) / fps > params.max_age_s
        and t - 1 - last_seen >= params.max_missed_frames
    )  # fmt: skip
    assert lost_at == [expected]


def test_a_person_walking_at_one_frame_in_two_seconds_keeps_the_id() -> None:
    # 25 px per frame, 2 s apart (0.4 body widths). The prediction over each 2 s gap is capped
    # (at most max_age_s of motion, half a body): the next box still overlaps, nobody is lost
    # or duplicated.
    world = World({"a": (20.0, 100.0)})
    pipeline, _, _ = _pipeline(world, max_age_s=1.0)
    ids: set[str] = set()
    lost: list[str] = []
    for t in range(12):
        world.people["a"] = (20.0 + 25.0 * t, 100.0)
        result = pipeline.process(IMAGE, K, 2.0 * t)
        ids |= {p.id for p in result.people}
        lost += result.lost_ids
        if t >= 2:
            assert len(result.people) == 1
    assert ids == {"body_1"}
    assert lost == []


def test_a_person_who_stops_after_a_long_gap_is_still_matched() -> None:
    # Walking fast, then a 60 s gap in which they stopped: an uncapped constant-velocity
    # prediction would put them 60 s of walking away; the capped one keeps them in reach.
    world = World({"a": (20.0, 100.0)})
    pipeline, _, _ = _pipeline(world, max_age_s=30.0)
    for t in range(6):
        world.people["a"] = (20.0 + 30.0 * t, 100.0)
        pipeline.process(IMAGE, K, 0.1 * t)
    result = pipeline.process(IMAGE, K, 60.0)
    assert [p.id for p in result.people] == ["body_1"]


def test_no_detector_searches_the_whole_image_then_follows_the_crop() -> None:
    world = World({"a": (300.0, 150.0)})
    pipeline, _, model = _pipeline(world, detector=False, min_hits=2)
    boxes_seen = []
    original = model.estimate

    def spy(image: np.ndarray, boxes: Sequence[Box], intrinsics: Intrinsics) -> list[Pose25D]:
        boxes_seen.append(list(boxes))
        return original(image, boxes, intrinsics)

    model.estimate = spy  # type: ignore[method-assign]
    results = [pipeline.process(IMAGE, K, t * 0.1) for t in range(4)]
    assert boxes_seen[0] == [Box.full_image(WIDTH, HEIGHT)]
    assert boxes_seen[1][0] != Box.full_image(WIDTH, HEIGHT)
    assert boxes_seen[1][0].width < WIDTH / 2  # the crop that follows the person
    assert [len(r.people) for r in results] == [0, 1, 1, 1]
    # The person leaves the crop: back to the whole image, same id on return.
    world.people["a"] = None
    calls = len(boxes_seen)
    assert pipeline.process(IMAGE, K, 0.4).people == []
    # Looked where they were, found nobody, and looked at the whole image in the same frame.
    assert len(boxes_seen) == calls + 2
    assert boxes_seen[-2][0] != Box.full_image(WIDTH, HEIGHT)
    assert boxes_seen[-1] == [Box.full_image(WIDTH, HEIGHT)]
    world.people["a"] = (320.0, 150.0)  # back, a step further
    ids = [p.id for t in range(5, 9) for p in pipeline.process(IMAGE, K, t * 0.1).people]
    assert boxes_seen[-4] == [Box.full_image(WIDTH, HEIGHT)]  # nobody followed: search again
    assert set(ids) == {"body_1"}  # within track_max_age_s: the same id


def test_detection_interval_follows_crops_between_detector_runs() -> None:
    world = World({"a": (100.0, 100.0), "b": (400.0, 100.0)})
    pipeline, detector, model = _pipeline(world, interval=3, min_hits=1)
    for t in range(12):
        world.people["a"] = (100.0 + 3 * t, 100.0)
        result = pipeline.process(IMAGE, K, t / 30)
        assert len(result.people) == 2
    assert detector.calls == 4  # frames 0, 3, 6, 9
    assert model.calls == [2] * 12  # one call for both people, every frame
    # Nobody followed: the detector runs on every frame.
    world.people = {"a": None, "b": None}
    calls = detector.calls
    for t in range(12, 16):
        pipeline.process(IMAGE, K, t / 30)
    assert detector.calls - calls == 4


def test_max_people_caps_the_crops() -> None:
    world = World({f"p{i}": (20.0 + 70 * i, 100.0) for i in range(6)})
    pipeline, _, model = _pipeline(world, max_people=4, min_hits=1)
    for t in range(3):
        result = pipeline.process(IMAGE, K, t * 0.1)
    assert len(result.people) == 4
    assert max(model.calls) == 4


def test_two_detections_of_one_person_publish_one() -> None:
    world = World({"a": (100.0, 100.0)})
    pipeline, _, _ = _pipeline(world, min_hits=1)
    uv = world.uv("a")
    world.ghosts = [Box(95.0, 95.0, 70.0, 190.0)]  # a second, looser box on the same person
    result = pipeline.process(IMAGE, K, 0.0)
    assert len(result.people) == 1
    assert np.allclose(result.people[0].uv, uv)


def test_reset_reports_everyone_lost_and_never_reuses_ids() -> None:
    world = World({"a": (100.0, 100.0), "b": (400.0, 100.0)})
    pipeline, _, _ = _pipeline(world, min_hits=1)
    first = {p.id for p in pipeline.process(IMAGE, K, 0.0).people}
    assert first == {"body_1", "body_2"}
    pipeline.reset()
    result = pipeline.process(IMAGE, K, 0.1)
    assert sorted(result.lost_ids) == ["body_1", "body_2"]
    assert {p.id for p in result.people} == {"body_3", "body_4"}


def test_smoothing_state_follows_the_id() -> None:
    world = World({"a": (100.0, 100.0), "b": (400.0, 100.0)})
    det, model = SceneDetector(world), SceneModel(world)
    pipeline = PosePipeline(model, PipelineConfig(smoothing=True), det)
    for t in range(5):
        world.people["a"] = (100.0 + 10 * t, 100.0)
        result = pipeline.process(IMAGE, K, t * 0.1)
    by_id = {p.id: p for p in result.people}
    # b stands still: its smoothed pose is its pose; a moves: its smoothing lags behind a only.
    assert np.allclose(by_id[_ids_by_name_loose(world, result.people, "b")].uv, world.uv("b"))
    assert not np.allclose(by_id[_ids_by_name_loose(world, result.people, "a")].uv, world.uv("a"))


def _ids_by_name_loose(world: World, people: Sequence[object], name: str) -> str:
    """The id of the published person nearest to ``name`` (smoothing lags a little)."""
    target = world.uv(name).mean(axis=0)
    return min(
        people,
        key=lambda p: float(np.linalg.norm(p.uv.mean(axis=0) - target)),  # type: ignore[attr-defined]
    ).id  # type: ignore[attr-defined]


def test_pair_poses_by_order_or_by_where_the_keypoints_are() -> None:
    left, right = Box(0, 0, 100, 200), Box(300, 0, 100, 200)
    targets = [Target(1, left, True), Target(2, right, True)]
    in_right = _pose(np.full((NUM_KEYPOINTS, 2), 350.0) - [0, 250], right)
    assert pair_poses(targets, [in_right]) == [None, in_right]
    in_left = _pose(np.full((NUM_KEYPOINTS, 2), 50.0), left)
    assert pair_poses(targets, [in_left, in_right]) == [in_left, in_right]
    assert pair_poses(targets, []) == [None, None]


def test_pair_poses_gives_a_pose_inside_nested_crops_to_the_crop_that_fits_it() -> None:
    """Someone behind another: the rear person's detection box holds the front person too. When
    the model finds nobody in one crop, the one pose it returned lies inside both boxes; it went
    to whichever crop came first, so the rear person's track took the front person's pose."""
    front = Box(200, 150, 100, 250)
    rear = Box(150, 50, 250, 400)  # holds all of ``front``
    front_uv = np.column_stack(
        [np.linspace(210, 290, NUM_KEYPOINTS), np.linspace(160, 390, NUM_KEYPOINTS)]
    )
    front_pose = _pose(front_uv, front)
    assert pair_poses([Target(1, rear, True), Target(2, front, True)], [front_pose]) == [
        None,
        front_pose,
    ]
    assert pair_poses([Target(2, front, True), Target(1, rear, True)], [front_pose]) == [
        front_pose,
        None,
    ]
    rear_uv = np.column_stack(
        [np.linspace(160, 390, NUM_KEYPOINTS), np.linspace(60, 440, NUM_KEYPOINTS)]
    )
    rear_pose = _pose(rear_uv, rear)  # the rear person seen whole: part of it is in ``front``
    assert pair_poses([Target(2, front, True), Target(1, rear, True)], [rear_pose]) == [
        None,
        rear_pose,
    ]


def test_keypoint_similarity_prefers_the_same_posture() -> None:
    uv = _body(1) + 100.0
    confident = np.ones(NUM_KEYPOINTS, bool)
    same = np.c_[uv[COCO17_TO_SKELETON] + 2.0, np.full(17, 0.9)]
    other = np.c_[(_body(2) + 100.0)[COCO17_TO_SKELETON], np.full(17, 0.9)]
    area = 60.0 * 180.0
    assert keypoint_similarity(same, uv, confident, area, 0.3) > 0.9
    assert keypoint_similarity(other, uv, confident, area, 0.3) < 0.5
    unseen = same.copy()
    unseen[:, 2] = 0.0
    assert np.isnan(keypoint_similarity(unseen, uv, confident, area, 0.3))


def test_tracker_rejects_non_finite_stamps() -> None:
    with pytest.raises(ValueError, match="finite"):
        PersonTracker().begin_frame(float("nan"))


def test_iou_matrix_values() -> None:
    a = [Box(0, 0, 10, 10), Box(100, 100, 10, 10)]
    b = [Box(5, 0, 10, 10), Box(0, 0, 10, 10), Box(0, 0, 0, 0)]
    iou = iou_matrix(a, b)
    assert iou.shape == (2, 3)
    assert iou[0, 0] == pytest.approx(50 / 150)
    assert iou[0, 1] == pytest.approx(1.0)
    assert np.all(iou[1] == 0.0)
    assert iou[0, 2] == 0.0
    assert iou_matrix([], b).shape == (0, 3)


class MissingDetector(SceneDetector):
    """The scene detector that misses the people named in ``missed`` (in plain view)."""

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.missed: set[str] = set()

    def detect(self, image_bgr: np.ndarray, stamp: float) -> list[Detection]:
        found = super().detect(image_bgr, stamp)
        hidden = [
            self.world.uv(name).min(axis=0) for name in self.missed if name in self.world.visible()
        ]
        return [d for d in found if not any(np.allclose((d.box.x, d.box.y), lo) for lo in hidden)]


def _missing_pipeline(
    world: World, **tracker: float
) -> tuple[PosePipeline, MissingDetector, SceneModel]:
    det, model = MissingDetector(world), SceneModel(world)
    config = PipelineConfig(smoothing=False, tracker=TrackerParams(**tracker))  # type: ignore[arg-type]
    return PosePipeline(model, config, det), det, model


def test_a_published_person_the_detector_misses_is_followed_with_the_same_id() -> None:
    world = World({"a": (100.0, 100.0), "b": (400.0, 100.0)})
    pipeline, detector, _ = _missing_pipeline(world)
    for t in range(16):
        world.people["a"] = (100.0 + 8 * t, 100.0)
        detector.missed = {"a"} if 6 <= t < 10 else set()
        result = pipeline.process(IMAGE, K, t / 10)
        if t >= 2:
            assert _ids_by_name(world, result.people) == {"a": "body_1", "b": "body_2"}, t
        assert result.lost_ids == []


def test_a_missed_person_is_not_followed_onto_someone_the_detector_found() -> None:
    # a walks behind b and is hidden (and missed): the crop that follows a shows b, who is b's
    # (found by the detector); a coasts, and b never gets a second id.
    world = World({"a": (100.0, 100.0), "b": (330.0, 100.0)})
    pipeline, _, _ = _missing_pipeline(world)
    ids_on_b: set[str] = set()
    for t in range(14):
        world.people["a"] = (150.0 + 20 * t, 100.0) if t < 9 else None
        result = pipeline.process(IMAGE, K, t / 10)
        ids = [p.id for p in result.people]
        assert len(ids) == len(set(ids))
        if t >= 2:
            on_b = [p.id for p in result.people if np.allclose(p.uv, world.uv("b"))]
            assert len(on_b) == 1, t
            ids_on_b |= set(on_b)
            assert len(result.people) == (2 if t < 9 else 1), t
    assert len(ids_on_b) == 1


def test_a_person_leaving_through_the_border_is_lost_once_without_a_duplicate() -> None:
    world = World({"a": (200.0, 100.0)})
    pipeline, detector, _ = _missing_pipeline(world, max_age_s=0.5)
    lost: list[str] = []
    ids: set[str] = set()
    for t in range(30):
        x = 200.0 - 20 * t
        world.people["a"] = (x, 100.0) if x > -60 else None
        detector.missed = {"a"} if x < 0 else set()  # the detector loses them at the border
        result = pipeline.process(IMAGE, K, t / 10)
        lost += result.lost_ids
        assert len(result.people) <= 1, t
        ids |= {p.id for p in result.people}
    assert ids == {"body_1"}
    assert lost == ["body_1"]


def test_a_detection_the_model_never_makes_out_stops_costing_crops() -> None:
    world = World({"a": (100.0, 100.0)})
    world.ghosts = [Box(400.0, 200.0, 60.0, 180.0)]  # found every frame, never a pose
    pipeline, detector, model = _pipeline(world, max_age_s=1.0)
    for t in range(40):
        result = pipeline.process(IMAGE, K, t / 10)
    assert detector.calls == 40
    assert [p.id for p in result.people] == ["body_1"]
    # Cropped until found barren, then once per max_age_s: far fewer than one crop a frame.
    ghost_crops = sum(model.calls) - 40
    assert 3 <= ghost_crops <= 3 + 40 // 10
    assert model.calls[-1] in (1, 2)


def test_a_followed_pose_inside_another_persons_detection_is_not_taken() -> None:
    # a is hidden behind b and missed; the model cannot make b out in b's own (tight) detection
    # crop but sees b in the looser crop that follows a: b was found by the detector, so that
    # pose is not a's, and a coasts.
    world = World({"a": (150.0, 100.0), "b": (330.0, 100.0)})
    pipeline, _, model = _missing_pipeline(world)
    seeing = model._pose_in

    def blind_to_b_detection(box: Box) -> Pose25D:
        uv = world.uv("b") if "b" in world.visible() else None
        if uv is not None and np.allclose((box.x, box.y), uv.min(axis=0)):
            return _pose(np.array(box.center) + np.zeros((NUM_KEYPOINTS, 2)), box, 0.1)
        return seeing(box)

    model._pose_in = blind_to_b_detection  # type: ignore[method-assign]
    ids_on_b: set[str] = set()
    for t in range(14):
        world.people["a"] = (150.0 + 20 * t, 100.0) if t < 9 else None
        result = pipeline.process(IMAGE, K, t / 10)
        ids_on_b |= {p.id for p in result.people if np.allclose(p.uv, world.uv("b"))}
    assert ids_on_b == set(), "b is never published (never seen in b's own crop), least of all as a"


def test_a_crop_mostly_outside_the_image_is_not_followed() -> None:
    tracker = PersonTracker(TrackerParams(min_hits=1))
    body = _body(3)  # 60 x 180 px

    def frame(stamp: float, x: float, detected: bool) -> list[Target]:
        uv = body + np.array([x, 100.0])
        tracker.begin_frame(stamp)
        lo, hi = uv.min(axis=0), uv.max(axis=0)
        kps = np.c_[uv[COCO17_TO_SKELETON], np.full(17, 0.8)]
        dets = [Detection(Box(*lo, *(hi - lo)), 0.8, kps)] if detected else []
        targets = tracker.match(dets, WIDTH, HEIGHT)
        tracker.observe(targets, [_pose(uv, t.box) for t in targets])
        return targets

    for t, x in enumerate(range(100, 0, -15)):  # walking left, found every frame
        frame(t / 10, float(x), True)
    assert tracker.active_ids == ["body_1"]
    [followed] = frame(0.7, -5.0, False)  # missed at the border, a little out: followed
    assert followed.verify
    assert followed.track is not None
    for t, x in enumerate(range(-5, -45, -10)):
        frame(0.8 + t / 10, float(x), True)
    assert frame(1.2, -45.0, False) == [], "two thirds out: no crop, the track coasts"
    assert tracker.active_ids == ["body_1"]


def test_duplicate_check_of_all_pairs_matches_its_definition() -> None:
    """Two poses are one person when their keypoint boxes overlap (IoU > 0.3) and the median gap
    between their shared confident keypoints is at most duplicate_distance x their joint box
    size; the one-pass check over every pair must say exactly that, pair by pair."""
    from bodypose3d_ros.core.people import tracking

    params = TrackerParams()
    rng = np.random.default_rng(11)
    base = _body(3) + 200.0
    seen = []
    for i in range(12):
        # Near copies of one body (gaps around the threshold), plus a few other bodies.
        uv = (
            base + rng.normal(0, rng.choice([1.0, 6.0, 12.0]), base.shape)
            if i < 9
            else (_body(20 + i) + 200.0 + rng.uniform(-20, 20, 2))
        )
        confidence = np.where(rng.random(NUM_KEYPOINTS) < 0.8, 0.9, 0.1)
        if i == 8:
            confidence[:] = 0.1
            confidence[:4] = 0.9  # too few keypoints to share
        pose = _pose(uv, Box(0.0, 0.0, 1.0, 1.0))
        pose.confidence[:] = confidence
        keypoints = tracking._keypoint_tables([pose], params.min_keypoint_confidence)[0]
        track = tracking.Track(key=i, box=np.zeros(4), seen_at=0.0)
        seen.append(tracking._Seen(track, pose, keypoints, True, None, None))
    same = tracking._same_people(seen, params)
    boxes = np.array([s.keypoint_box for s in seen])
    overlap = tracking.iou_corners(boxes, boxes) > 0.3
    verdicts, medians = [], []
    for i in range(len(seen)):
        for j in range(len(seen)):
            a, b = seen[i], seen[j]
            shared = a.mask & b.mask
            expected = False
            if i != j and overlap[i, j] and shared.sum() >= params.min_confident_keypoints:
                gaps = np.linalg.norm(a.uv[shared] - b.uv[shared], axis=1)
                size = max(
                    float(np.max(np.maximum(a.keypoint_box[2:], b.keypoint_box[2:])
                                 - np.minimum(a.keypoint_box[:2], b.keypoint_box[:2]))),
                    1.0,
                )  # fmt: skip
                expected = bool(np.median(gaps) <= params.duplicate_distance * size)
                medians.append((i, j, float(np.median(gaps)) / size, int(shared.sum())))
            assert same[i, j] == expected, (i, j)
            verdicts.append(expected)
    assert any(verdicts)
    assert not all(verdicts)
    # The verdict turns exactly at the median gap (odd and even shared counts alike).
    assert {n % 2 for *_, n in medians} == {0, 1}
    for i, j, ratio, _ in medians:
        for factor, verdict in ((1.0 + 1e-9, True), (1.0 - 1e-9, False)):
            edge = TrackerParams(duplicate_distance=ratio * factor)
            assert tracking._same_people(seen, edge)[i, j] == verdict, (i, j, factor)


def test_keypoint_tables_of_all_poses_match_their_definitions() -> None:
    """The tracker reads every pose of a frame in one pass: each row must equal that pose alone
    (confident mask, box of the confident keypoints, their median), non-finite pixels and odd
    and even counts included."""
    from bodypose3d_ros.core.people import tracking

    rng = np.random.default_rng(5)
    poses = []
    for i in range(9):
        uv = rng.uniform(0, 640, (NUM_KEYPOINTS, 2))
        uv[rng.integers(0, NUM_KEYPOINTS, 2)] = np.nan
        pose = _pose(uv, Box(0.0, 0.0, 1.0, 1.0))
        pose.confidence[:] = rng.uniform(0, 1, NUM_KEYPOINTS)
        pose.confidence[: i % 2] = 0.0  # an odd and an even number of confident keypoints
        poses.append(pose)
    tables = tracking._keypoint_tables(poses, 0.3)
    counts = set()
    for pose, row in zip(poses, tables, strict=True):
        mask = tracking.confident_mask(pose, 0.3)
        points = pose.uv[mask]
        np.testing.assert_array_equal(row.mask, mask)
        assert row.confident == mask.sum()
        np.testing.assert_array_equal(row.box, [*points.min(axis=0), *points.max(axis=0)])
        np.testing.assert_array_equal(row.centre, np.median(points, axis=0))
        counts.add(row.confident % 2)
    assert counts == {0, 1}
    # Poses of another shape among them are read one by one, with the same result.
    odd = _pose(rng.uniform(0, 640, (17, 2)), Box(0.0, 0.0, 1.0, 1.0))
    odd.confidence = np.full(17, 0.9)
    mixed = tracking._keypoint_tables([poses[0], odd], 0.3)
    np.testing.assert_array_equal(mixed[0].centre, tables[0].centre)
    np.testing.assert_array_equal(mixed[1].centre, np.median(odd.uv, axis=0))


def _standing(x: float) -> np.ndarray:
    """A (34, 2) upright body spread over 100 x 300 px from (x, 50)."""
    rng = np.random.default_rng(int(x))
    return np.column_stack([rng.uniform(x, x + 100, NUM_KEYPOINTS), rng.uniform(50, 350, 34)])


def _coco(uv: np.ndarray) -> np.ndarray:
    return np.column_stack([uv[COCO17_TO_SKELETON], np.full(17, 0.8)])


def test_a_detected_person_whose_crop_gave_a_neighbour_is_seen_through_the_detector() -> None:
    """Two detections, but the model fits the front person in both crops (the one behind is
    hidden or cut off): the second is published from the detector's own keypoints, never
    dropped as a duplicate of the first. Two detections of one person stay one person."""
    front, behind = _standing(100.0), _standing(180.0)
    box_front, box_behind = Box(100.0, 50.0, 100.0, 300.0), Box(180.0, 50.0, 100.0, 300.0)
    front_pose = _pose(front, box_front)
    for behind_points, expected in ((behind, ["detector", "pose_model"]), (front, ["pose_model"])):
        tracker = PersonTracker(TrackerParams(min_hits=1))
        tracker.begin_frame(0.0)
        targets = tracker.match(
            [
                Detection(box_front, 0.9, _coco(front)),
                Detection(box_behind, 0.5, _coco(behind_points)),
            ],
            640,
            480,
        )
        published = tracker.observe(targets, [front_pose, front_pose])
        assert sorted(pose.source for _, pose in published) == expected
        assert len({person_id for person_id, _ in published}) == len(published)
        if len(published) == 2:
            behind_pose = next(pose for _, pose in published if pose.source == "detector")
            np.testing.assert_allclose(
                behind_pose.uv[COCO17_TO_SKELETON[5]], behind[COCO17_TO_SKELETON[5]]
            )
