"""Slow and lossy streams over real DDS: people are published and deleted by frames, not only by
stamps. The real node with its defaults (MoveNet, tracking, BlazePose) and the real photo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from node_harness import NodeHarness, make_camera_info, make_image_msg, wait_for
from visualization_msgs.msg import Marker

from bodypose3d_ros.core.people.tracking import TrackerParams


@pytest.fixture(scope="module")
def photo(person_image_path: Path) -> np.ndarray:
    image = cv2.imread(str(person_image_path))
    assert image is not None
    return image


@pytest.fixture(scope="module")
def harness(photo: np.ndarray) -> Iterator[NodeHarness]:
    with NodeHarness(backend="blazepose") as h:  # every tracking parameter at its default
        h.start()
        h.send_camera_info(make_camera_info(photo.shape[1], photo.shape[0], 530, 530, 320, 212))
        yield h


def _answer(h: NodeHarness, image: np.ndarray, stamp: float) -> list[str]:
    """Send one frame and wait for its answer: the ids published for it."""
    h.image_pub.publish(make_image_msg(image, stamp))
    return [pose.id for pose in h.wait_for_output(stamp, timeout_s=60.0).poses]


def _walked(photo: np.ndarray, dx: int) -> np.ndarray:
    """The photo moved ``dx`` px right, the uncovered part black: someone walking out."""
    moved = np.zeros_like(photo)
    if dx < photo.shape[1]:
        moved[:, dx:] = photo[:, : photo.shape[1] - dx]
    return moved


def test_stamps_1_s_apart_with_two_of_three_frames_lost_publish_the_person(
    harness: NodeHarness, photo: np.ndarray
) -> None:
    # The camera stamps a frame every second; two of every three never arrive (they are simply
    # not sent), so the node sees frames 3 s apart, three times track_max_age_s.
    arrived = [stamp for stamp in range(100, 124) if stamp % 3 == 1]
    answers = [_answer(harness, np.roll(photo, 2 * i, axis=1), float(stamp))
               for i, stamp in enumerate(arrived)]  # fmt: skip
    hits = TrackerParams().min_hits
    assert [len(ids) for ids in answers] == [0] * (hits - 1) + [1] * (len(arrived) - hits + 1)
    assert len({person for ids in answers for person in ids}) == 1


def test_a_person_who_walks_out_is_deleted_from_the_markers(
    harness: NodeHarness, photo: np.ndarray
) -> None:
    n_markers = len(harness.markers)
    stamp = 500.0
    ids: list[str] = []
    for _ in range(TrackerParams().min_hits + 1):
        stamp += 1.0
        ids = _answer(harness, photo, stamp)
    assert len(ids) == 1
    assert wait_for(lambda: len(harness.markers) > n_markers, 10.0)
    shown = {m.ns for m in harness.markers[-1].markers if m.action == Marker.ADD}
    assert shown

    def deleted() -> set[str]:
        with harness.lock:
            arrays = harness.markers[n_markers:]
        return {
            m.ns for a in arrays for m in a.markers if m.action in (Marker.DELETE, Marker.DELETEALL)
        }

    # Walking out through the right border, then gone; one frame a second.
    for dx in (150, 300, 450, 600, 640, 640, 640, 640):
        stamp += 1.0
        _answer(harness, _walked(photo, dx), stamp)
        if shown <= deleted():
            break
    assert wait_for(lambda: shown <= deleted(), 10.0), (shown, deleted())
    assert _answer(harness, _walked(photo, 640), stamp + 1.0) == []
