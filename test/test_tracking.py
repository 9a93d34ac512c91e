"""Person tracking: stable ids through motion and crossings, lost ids, next-frame boxes."""

from __future__ import annotations

import numpy as np
import pytest

from bodypose3d_ros.core.skeleton import NUM_KEYPOINTS
from bodypose3d_ros.core.tracking import PersonTracker, TrackerParams, iou_matrix
from bodypose3d_ros.core.types import Box, Pose25D

# Keypoints spread over a 60 x 180 px body; offsets are relative to the top-left corner.
_rng = np.random.default_rng(7)
_BODY = np.c_[_rng.uniform(0, 60, NUM_KEYPOINTS), _rng.uniform(0, 180, NUM_KEYPOINTS)]
_BODY[0], _BODY[1] = (0.0, 0.0), (60.0, 180.0)  # pin the extent: box is exactly 60 x 180
# Another person in another posture, same extent.
_OTHER_BODY = np.c_[_rng.uniform(0, 60, NUM_KEYPOINTS), _rng.uniform(0, 180, NUM_KEYPOINTS)]
_OTHER_BODY[0], _OTHER_BODY[1] = (60.0, 0.0), (0.0, 180.0)


def person(
    x: float, y: float, confidence: float = 0.9, score: float = 0.9, body: np.ndarray = _BODY
) -> Pose25D:
    """A synthetic pose whose confident keypoints span [x, x+60] x [y, y+180]."""
    uv = body + np.array([x, y])
    return Pose25D(
        uv=uv,
        z_rel=np.zeros(NUM_KEYPOINTS),
        confidence=np.full(NUM_KEYPOINTS, confidence),
        box=Box(x, y, 60.0, 180.0),
        score=score,
    )


def test_no_people_means_full_image_box() -> None:
    tracker = PersonTracker()
    assert tracker.boxes_for_frame(640, 480) == [Box(0.0, 0.0, 640.0, 480.0)]
    tracker.update([person(100, 100)])
    tracker.update([])
    assert tracker.boxes_for_frame(640, 480) == [Box(0.0, 0.0, 640.0, 480.0)]


def test_next_box_is_keypoint_box_with_margin() -> None:
    tracker = PersonTracker(TrackerParams(margin=0.25))
    tracker.update([person(200, 100)])
    (box,) = tracker.boxes_for_frame(640, 480)
    assert box.x == pytest.approx(200 - 0.25 * 60)
    assert box.y == pytest.approx(100 - 0.25 * 180)
    assert box.width == pytest.approx(60 * 1.5)
    assert box.height == pytest.approx(180 * 1.5)


def test_next_box_clipped_to_image() -> None:
    tracker = PersonTracker(TrackerParams(margin=0.5))
    tracker.update([person(-20, 350)])  # partly off the left and bottom edges
    (box,) = tracker.boxes_for_frame(640, 480)
    assert box.x == 0.0
    assert box.y == pytest.approx(350 - 90)
    assert box.x + box.width == pytest.approx(-20 + 60 + 30)
    assert box.y + box.height == 480.0


def test_id_stable_while_moving_smoothly() -> None:
    tracker = PersonTracker()
    ids = {tracker.update([person(100 + 8 * t, 120 + 2 * t)])[0] for t in range(30)}
    assert ids == {"body_1"}
    assert tracker.active_ids == ["body_1"]


def test_two_people_crossing_keep_their_ids() -> None:
    tracker = PersonTracker()
    # A walks right, B walks left; they pass each other around frame 10, overlapping.
    seen: dict[str, set[str]] = {"A": set(), "B": set()}
    for t in range(21):
        a = person(100 + 10 * t, 100)
        b = person(300 - 10 * t, 110, body=_OTHER_BODY)
        poses = [b, a] if t % 2 else [a, b]  # input order must not matter
        ids = tracker.update(poses)
        id_of = dict(zip(("B", "A") if t % 2 else ("A", "B"), ids, strict=True))
        seen["A"].add(id_of["A"])
        seen["B"].add(id_of["B"])
    assert len(seen["A"]) == 1
    assert len(seen["B"]) == 1
    assert seen["A"] != seen["B"]
    assert tracker.lost_ids == []


def test_crossing_needs_global_assignment() -> None:
    # IoU(track 2, new 1) = 0.5 is the single best pair, so "best IoU first" would give new 1
    # to track 2 and leave track 1 without a match (new 2 is 0 IoU from track 1). Matching
    # track 1 -> new 1 (0.395) and track 2 -> new 2 (0.395) is better overall and keeps both.
    tracker = PersonTracker()
    first = tracker.update([person(100, 100), person(146, 100)])
    second = tracker.update([person(126, 100), person(172, 100)])
    assert second == first
    assert tracker.lost_ids == []


def test_lost_then_found_gets_new_id_and_lost_reported_once() -> None:
    tracker = PersonTracker()
    (first,) = tracker.update([person(100, 100)])
    assert tracker.lost_ids == []
    tracker.update([])
    assert tracker.lost_ids == [first]
    assert tracker.active_ids == []
    tracker.update([])
    assert tracker.lost_ids == []  # reported exactly once
    (again,) = tracker.update([person(100, 100)])
    assert again != first
    assert tracker.lost_ids == []


def test_jump_is_a_new_person_and_old_one_lost() -> None:
    tracker = PersonTracker()
    (first,) = tracker.update([person(50, 50)])
    (second,) = tracker.update([person(400, 250)])  # no overlap at all
    assert second != first
    assert tracker.lost_ids == [first]
    assert tracker.active_ids == [second]


def test_low_confidence_poses_are_rejected() -> None:
    tracker = PersonTracker(TrackerParams(min_keypoint_confidence=0.3, min_confident_keypoints=6))
    weak = person(100, 100, confidence=0.2)
    few = person(300, 100)
    few.confidence = np.zeros(NUM_KEYPOINTS)
    few.confidence[:5] = 0.9  # one short of six
    enough = person(450, 100)
    enough.confidence = np.zeros(NUM_KEYPOINTS)
    enough.confidence[:6] = 0.9
    ids = tracker.update([weak, few, enough])
    assert ids[0] == ""
    assert ids[1] == ""
    assert ids[2].startswith("body_")
    assert tracker.active_ids == [ids[2]]


def test_rejected_keypoints_do_not_widen_the_box() -> None:
    pose = person(100, 100)
    pose.uv = pose.uv.copy()
    pose.uv[5] = (600.0, 450.0)  # far-off keypoint with low confidence
    pose.confidence = pose.confidence.copy()
    pose.confidence[5] = 0.05
    tracker = PersonTracker(TrackerParams(margin=0.0))
    tracker.update([pose])
    (box,) = tracker.boxes_for_frame(640, 480)
    assert box.x + box.width <= 160.0 + 1e-9


def test_duplicates_from_overlapping_crops_get_one_id() -> None:
    # Two crops saw the same person: nearly identical keypoints, the better score wins.
    tracker = PersonTracker()
    ids = tracker.update([person(100, 100, score=0.5), person(102, 101, score=0.8)])
    assert ids[0] == ""
    assert ids[1] != ""
    assert len(tracker.active_ids) == 1


def test_overlapping_people_in_different_postures_are_not_duplicates() -> None:
    tracker = PersonTracker()
    ids = tracker.update([person(100, 100), person(100, 100, body=_OTHER_BODY)])
    assert ids[0]
    assert ids[1]
    assert ids[0] != ids[1]


def test_max_people_keeps_best_scores() -> None:
    tracker = PersonTracker(TrackerParams(max_people=2))
    poses = [person(100 * i, 50, score=s) for i, s in enumerate([0.5, 0.9, 0.7])]
    ids = tracker.update(poses)
    assert ids[0] == ""
    assert ids[1]
    assert ids[2]
    assert len(tracker.boxes_for_frame(640, 480)) == 2


def test_ids_never_reused_and_reset_reports_forgotten() -> None:
    tracker = PersonTracker()
    a, b = tracker.update([person(50, 50), person(300, 50)])
    assert (a, b) == ("body_1", "body_2")
    tracker.reset()
    assert tracker.active_ids == []
    assert tracker.boxes_for_frame(640, 480) == [Box.full_image(640, 480)]
    (c,) = tracker.update([person(50, 50)])
    assert c not in (a, b)
    assert sorted(tracker.lost_ids) == sorted([a, b])
    tracker.update([person(50, 50)])
    assert tracker.lost_ids == []


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


def test_whole_image_is_searched_periodically_for_newcomers() -> None:
    tracker = PersonTracker(TrackerParams(discovery_interval=3))
    full = Box.full_image(640, 480)
    assert tracker.boxes_for_frame(640, 480) == [full]  # frame 1: nobody tracked yet
    (first,) = tracker.update([person(100, 100)])
    assert full not in tracker.boxes_for_frame(640, 480)  # frame 2: follow the known person
    boxes = tracker.boxes_for_frame(640, 480)  # frame 3: and look everywhere once
    assert len(boxes) == 2
    assert boxes[-1] == full
    # The whole-image crop found the known person again (a duplicate) and a newcomer.
    ids = tracker.update(
        [
            person(101, 100, score=0.95),
            person(100, 101, score=0.8),
            person(400, 200, body=_OTHER_BODY),
        ]
    )
    assert first in ids
    assert ids.count(first) == 1  # the duplicate view of the same person is not a second person
    newcomer = ids[2]
    assert newcomer not in ("", first)
    assert sorted(tracker.active_ids) == sorted([first, newcomer])
    assert len(tracker.boxes_for_frame(640, 480)) == 2  # frame 4: both followed, no full image


def test_discovery_can_be_switched_off() -> None:
    tracker = PersonTracker(TrackerParams(discovery_interval=0))
    tracker.boxes_for_frame(640, 480)
    tracker.update([person(100, 100)])
    for _ in range(40):
        assert len(tracker.boxes_for_frame(640, 480)) == 1
