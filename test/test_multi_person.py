"""Everyone in view, on real photos: the embedded detector, the tracker and BlazePose together.

The photos are real (ultralytics' zidane.jpg and bus.jpg, fetched at setup). The sequences are
built from real people cut out of bus.jpg and moved across a blurred background: walking,
crossing, hiding for a few frames, and a person who shows up in one frame only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from bodypose3d_ros.core.camera.intrinsics import Intrinsics, default_intrinsics
from bodypose3d_ros.core.models.factory import create_model
from bodypose3d_ros.core.people.detection import Detection
from bodypose3d_ros.core.people.detectors.factory import create_detector
from bodypose3d_ros.core.people.tracking import TrackerParams
from bodypose3d_ros.core.pipeline import PipelineConfig, PoseModel, PosePipeline
from bodypose3d_ros.core.types import Box, Person3D, Pose25D
from bodypose3d_ros.testing.walkers import (
    BUS_FULL_PEOPLE,
    SIZE,
    Cutout,
    Frame,
    owner,
    scene,
    walkers,
)

CONFIDENT = 0.5


@pytest.fixture(scope="module")
def model() -> Iterator[PoseModel]:
    pose_model = create_model("blazepose", None)
    yield pose_model
    pose_model.close()


def _pipeline(model: PoseModel, cache: Path, **tracker: float) -> PosePipeline:
    detector = create_detector("movenet", cache_dir=str(cache))
    config = PipelineConfig(smoothing=False, tracker=TrackerParams(**tracker))  # type: ignore[arg-type]
    return PosePipeline(model, config, detector)


def _people_on_photo(model: PoseModel, cache: Path, path: Path) -> tuple[list[Person3D], int]:
    image = cv2.imread(str(path))
    assert image is not None
    height, width = image.shape[:2]
    pipeline = _pipeline(model, cache, min_hits=1)  # one photo: the first sighting counts
    try:
        result = pipeline.process(image, default_intrinsics(width, height), 0.0)
    finally:
        assert pipeline.detector is not None
        pipeline.detector.close()
    return result.people, width


def _confident_uv(person: Person3D) -> npt.NDArray[np.float64]:
    return person.uv[person.confidence >= CONFIDENT]


def _share_inside(uv: npt.NDArray[np.float64], box: tuple[float, float, float, float]) -> float:
    x0, y0, x1, y1 = box
    inside = (uv[:, 0] >= x0) & (uv[:, 0] <= x1) & (uv[:, 1] >= y0) & (uv[:, 1] <= y1)
    return float(inside.mean()) if len(uv) else 0.0


# zidane.jpg (1280x720): where each man is, and his head (x0, y0, x1, y1 in pixels). The
# shouting man's arm reaches across the other man, so whole-person boxes overlap; heads do not.
ZIDANE_PEOPLE = {
    "shouting": ((100.0, 180.0, 1170.0, 720.0), (450.0, 180.0, 690.0, 450.0)),
    "standing": ((730.0, 30.0, 1160.0, 720.0), (870.0, 30.0, 1090.0, 270.0)),
}


def test_zidane_gives_two_people_each_inside_their_own_body(
    model: PoseModel, model_cache_dir: Path, zidane_image_path: Path
) -> None:
    from bodypose3d_ros.core.skeleton import INDEX

    head = [INDEX[n] for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]
    people, _ = _people_on_photo(model, model_cache_dir, zidane_image_path)
    assert len(people) == 2
    assert len({p.id for p in people}) == 2
    matched = set()
    for person in people:
        seen_head = person.uv[head][person.confidence[head] >= CONFIDENT]
        assert len(seen_head) >= 2, f"{person.id}: the face is in view"
        owner = [
            name for name, (_, face) in ZIDANE_PEOPLE.items() if _share_inside(seen_head, face) == 1
        ]
        assert len(owner) == 1, f"{person.id}: its head keypoints lie in exactly one man's head"
        body = ZIDANE_PEOPLE[owner[0]][0]
        uv = _confident_uv(person)
        assert len(uv) >= 8
        assert _share_inside(uv, body) >= 0.9, f"{person.id} stays on {owner[0]}"
        matched.add(owner[0])
    assert matched == set(ZIDANE_PEOPLE), "one skeleton on each man"


def test_bus_gives_at_least_the_two_full_people(
    model: PoseModel, model_cache_dir: Path, bus_image_path: Path
) -> None:
    people, _ = _people_on_photo(model, model_cache_dir, bus_image_path)
    assert len(people) >= 2
    for name, box in BUS_FULL_PEOPLE.items():
        on_them = [p for p in people if _share_inside(_confident_uv(p), box) >= 0.8]
        assert len(on_them) == 1, f"exactly one skeleton on the {name} person"
        assert len(_confident_uv(on_them[0])) >= 15, f"the {name} person is seen in full"


# ------------------------------------------------------------------------------ sequences
@pytest.fixture(scope="module")
def walking(bus_image_path: Path) -> tuple[Cutout, Cutout, Frame]:
    """The two full people of bus.jpg as cut-outs, and a blurred background."""
    photo = cv2.imread(str(bus_image_path))
    assert photo is not None
    return walkers(np.asarray(photo, dtype=np.uint8))


def _owner(person: Person3D, places: dict[str, tuple[Cutout, float]]) -> str | None:
    return owner(_confident_uv(person), places)


def test_two_real_people_crossing_keep_their_ids(
    model: PoseModel, model_cache_dir: Path, walking: tuple[Cutout, Cutout, Frame]
) -> None:
    a, b, background = walking
    pipeline = _pipeline(model, model_cache_dir)
    k = default_intrinsics(*SIZE)
    ids: dict[str, set[str]] = {"a": set(), "b": set()}
    steps = 24
    for t in range(steps):  # 10 Hz; a walks right, b walks left in front of a, they cross
        xa = 150.0 + t * (700.0 / steps)
        xb = 950.0 - t * (700.0 / steps)
        places = {"a": (a, xa), "b": (b, xb)}
        result = pipeline.process(scene(background, [(a, xa), (b, xb)]), k, 100.0 + t / 10)
        apart = abs(xa - xb) > max(a.width, b.width)
        for person in result.people:
            owner = _owner(person, places)
            if apart and owner is not None:  # while they overlap, a skeleton is ambiguous
                ids[owner].add(person.id)
        if apart and t >= 3:
            assert len(result.people) == 2, f"frame {t}: both walkers are published"
    assert len(ids["a"]) == 1, ids
    assert len(ids["b"]) == 1, ids
    assert ids["a"] != ids["b"]


def test_a_real_person_hidden_for_five_frames_keeps_the_id_and_a_one_frame_one_never_counts(
    model: PoseModel, model_cache_dir: Path, walking: tuple[Cutout, Cutout, Frame]
) -> None:
    a, b, background = walking
    pipeline = _pipeline(model, model_cache_dir, max_age_s=1.0, min_hits=3)
    k = default_intrinsics(*SIZE)
    ids: set[str] = set()
    every_id: set[str] = set()
    lost: list[str] = []
    for t in range(20):  # 10 Hz: hidden in frames 8..12 (0.5 s); b shows up in frame 4 only
        x = 200.0 + 15.0 * t
        placed = [] if 8 <= t < 13 else [(a, x)]
        if t == 4:
            placed.append((b, 900.0))
        result = pipeline.process(scene(background, placed), k, 50.0 + t / 10)
        lost += result.lost_ids
        every_id |= {p.id for p in result.people}
        if 8 <= t < 13:
            assert result.people == [], "nobody is published while hidden"
        elif t >= 3:
            assert len(result.people) == 1
            ids.add(result.people[0].id)
    assert len(ids) == 1, "the same id before and after hiding"
    assert every_id == ids, "the person seen in one frame only was never published"
    assert lost == []


class MissingDetector:
    """The real detector, missing whoever stands between ``missed`` x bounds (as detectors
    sometimes miss someone in plain view), and counting what it really found."""

    name = "movenet"
    description = "movenet with chosen misses"

    def __init__(self, cache: Path, phantom: Box | None = None) -> None:
        self.inner = create_detector("movenet", cache_dir=str(cache))
        self.missed: tuple[float, float] | None = None
        self.phantom = phantom  # a false detection where nobody stands, added to every call
        self.found: list[int] = []

    def detect(self, image_bgr: npt.NDArray[np.uint8], stamp: float) -> list[Detection]:
        found = self.inner.detect(image_bgr, stamp)
        if self.phantom is not None:
            found.append(Detection(self.phantom, 0.6, None))
        self.found.append(len(found))
        if self.missed is None:
            return found
        x0, x1 = self.missed
        return [d for d in found if not x0 <= d.box.center[0] <= x1]

    def close(self) -> None:
        self.inner.close()


def test_a_real_person_the_detector_misses_is_still_published_with_the_same_id(
    model: PoseModel, model_cache_dir: Path, walking: tuple[Cutout, Cutout, Frame]
) -> None:
    a, _, background = walking
    detector = MissingDetector(model_cache_dir)
    pipeline = PosePipeline(model, PipelineConfig(smoothing=False), detector)
    k = default_intrinsics(*SIZE)
    ids: set[str] = set()
    try:
        for t in range(16):  # 10 Hz, walking right; the detector misses them in frames 6..9
            x = 200.0 + 15.0 * t
            places = {"a": (a, x)}
            detector.missed = (x, x + a.width) if 6 <= t < 10 else None
            result = pipeline.process(scene(background, [(a, x)]), k, 10.0 + t / 10)
            assert result.lost_ids == []
            if t >= 3:
                assert len(result.people) == 1, f"frame {t}: published"
                assert _owner(result.people[0], places) == "a"
                ids.add(result.people[0].id)
    finally:
        detector.close()
    assert detector.found[6:10] == [1, 1, 1, 1], "in plain view: the real detector saw them"
    assert len(ids) == 1, "the same id through the misses"


def test_a_real_person_leaving_through_the_border_never_gets_a_second_id(
    model: PoseModel, model_cache_dir: Path, walking: tuple[Cutout, Cutout, Frame]
) -> None:
    a, _, background = walking
    detector = MissingDetector(model_cache_dir)
    pipeline = PosePipeline(model, PipelineConfig(smoothing=False), detector)
    k = default_intrinsics(*SIZE)
    ids: set[str] = set()
    lost: list[str] = []
    published_at_border = False
    try:
        for t in range(40):  # 10 Hz, walking left out of the image, then gone for > 1 s
            x = 300.0 - 25.0 * t
            places = {"a": (a, x)}
            # Missed from the moment they touch the border: followed until mostly out.
            detector.missed = (-1e9, 1e9) if x < 0 else None
            result = pipeline.process(scene(background, [(a, x)]), k, 20.0 + t / 10)
            lost += result.lost_ids
            assert len(result.people) <= 1, f"frame {t}: one person, one skeleton"
            for person in result.people:
                assert _owner(person, places) == "a"
                ids.add(person.id)
                published_at_border |= x < 0
            if lost:
                break
    finally:
        detector.close()
    assert len(ids) == 1
    assert lost == list(ids), "the id is lost once, after they left"
    assert published_at_border, "followed while partly out of view"


def test_a_detection_the_pose_model_never_makes_out_stops_costing_crops(
    model: PoseModel, model_cache_dir: Path, bus_image_path: Path
) -> None:
    """A detection on bus.jpg where BlazePose never makes out a person (the top left, above the
    people; bus.jpg's man cut by the right border, once such a case, is now fitted): it is
    counted, and the model stops being asked every frame."""
    image = cv2.imread(str(bus_image_path))
    assert image is not None
    height, width = image.shape[:2]
    detector = MissingDetector(model_cache_dir, phantom=Box(20.0, 40.0, 150.0, 280.0))
    pipeline = PosePipeline(model, PipelineConfig(smoothing=False), detector)
    crops: list[int] = []
    estimate = model.estimate

    def counting(image_bgr: np.ndarray, boxes: Sequence[Box], k: Intrinsics) -> list[Pose25D]:
        crops.append(len(boxes))
        return estimate(image_bgr, boxes, k)

    k = default_intrinsics(width, height)
    frames = 30
    try:
        model.estimate = counting  # type: ignore[method-assign]
        results = [pipeline.process(image, k, t / 10) for t in range(frames)]
    finally:
        del model.estimate
        detector.close()
    fitted = [sum(p.keypoint_source == "pose_model" for p in r.people) for r in results]
    assert fitted[-1] >= 2
    last = results[-1]
    # Everyone the detector finds is published or counted; the phantom has no keypoints to be
    # published by, so it is the one counted as dropped, never a silent loss.
    assert min(detector.found) == len(last.people) + last.counts.dropped
    assert last.counts.dropped == 1
    unmade = [c - f for c, f in zip(crops[3:], fitted[3:], strict=True)]
    # Tried a few times, then once per track_max_age_s (1 s: every 10th frame) at most.
    assert sum(1 for extra in unmade if extra > 0) <= (frames - 3) // 10 + 1, crops


# ------------------------------------------------------------------------------ the node
def test_node_publishes_both_people_of_a_two_person_photo_with_their_markers(
    zidane_image_path: Path,
) -> None:
    from node_harness import NodeHarness, make_camera_info, make_image_msg, wait_for
    from visualization_msgs.msg import Marker

    image = cv2.imread(str(zidane_image_path))
    assert image is not None
    height, width = image.shape[:2]
    with NodeHarness(backend="blazepose", detector="movenet") as h:
        h.start()
        h.info_pub.publish(make_camera_info(width, height, 800.0, 800.0, width / 2, height / 2))
        both = None
        # A new person is published once found track_min_hits times: send frames until then.
        for i in range(30):
            n = len(h.poses)
            h.image_pub.publish(make_image_msg(image, 700.0 + i / 10, frame_id="street_cam"))
            out = h.wait_for_poses(n + 1)[-1]
            if len(out.poses) == 2:
                both = out
                break
        assert both is not None, "the two people were never published together"
        assert both.header.frame_id == "street_cam"
        ids = {pose.id for pose in both.poses}
        assert len(ids) == 2, "distinct ids"
        wanted = {f"body/{person_id}" for person_id in ids}

        def markers_for_both() -> bool:
            with h.lock:
                arrays = list(h.markers)
            return any(
                wanted <= {m.ns for m in array.markers if m.action == Marker.ADD}
                for array in arrays
            )

        assert wait_for(markers_for_both, 20.0), "one skeleton marker set per person"
        assert h.node.snapshot().people_tracked == 2


@pytest.mark.parametrize("fps", [0.5, 0.2])
def test_a_real_person_in_frames_seconds_apart_is_published_from_the_third_frame(
    model: PoseModel, model_cache_dir: Path, person_image_path: Path, fps: float
) -> None:
    photo = cv2.imread(str(person_image_path))
    assert photo is not None
    height, width = photo.shape[:2]
    pipeline = _pipeline(model, model_cache_dir)  # default tracking: 1 s, 2 frames, 3 hits
    counts, ids = [], set()
    try:
        for t in range(6):
            frame = np.roll(photo, 6 * t, axis=1)
            result = pipeline.process(frame, default_intrinsics(width, height), 7.0 + t / fps)
            assert result.lost_ids == []
            counts.append(len(result.people))
            ids |= {p.id for p in result.people}
    finally:
        assert pipeline.detector is not None
        pipeline.detector.close()
    hits = TrackerParams().min_hits
    assert counts == [0] * (hits - 1) + [1] * (6 - hits + 1)
    assert len(ids) == 1
