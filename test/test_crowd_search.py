"""Crowds beyond one detector call: MoveNet returns at most 6 people a call; the crowd search
looks again (two tiles, the found painted over) when a pass comes back full.

The crowds are composed from real people cut out of the real photos
(:mod:`bodypose3d_ros.testing.small_people`), 1920x1080, upright, 300-500 px tall.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from bodypose3d_ros.core.people.detectors.crowd_search import CrowdSearchParams, Pass
from bodypose3d_ros.core.people.detectors.factory import create_detector
from bodypose3d_ros.core.people.detectors.movenet import MAX_PEOPLE_PER_CALL, MoveNetDetector
from bodypose3d_ros.testing.small_people import SmallPeopleComposer, hits

WIDTH, HEIGHT = 1920, 1080
# (rows, people per row, heights from the back row to the front row): 16 and 30 people.
CROWDS = {16: (4, 4, (300, 500)), 30: (5, 6, (300, 360))}


@pytest.fixture(scope="module")
def detector(model_cache_dir: Path) -> Iterator[MoveNetDetector]:
    found = create_detector("movenet", cache_dir=model_cache_dir)
    assert isinstance(found, MoveNetDetector)
    yield found
    found.close()


@pytest.fixture(scope="module")
def composer(bus_image_path: Path, person_image_path: Path) -> SmallPeopleComposer:
    return SmallPeopleComposer({"bus.jpg": bus_image_path, "person.jpg": person_image_path})


class _Counted:
    """The detector's own one-pass call, counted."""

    def __init__(self, detector: MoveNetDetector) -> None:
        self.detector, self.calls = detector, 0
        self._one_pass = detector.one_pass

    def __call__(self, rgb: np.ndarray, input_size: int) -> Pass:
        self.calls += 1
        return self._one_pass(rgb, input_size)


@pytest.mark.parametrize(("count", "least"), [(16, 15), (30, 27)])
@pytest.mark.parametrize("seed", [1, 2])
def test_a_crowd_is_found_each_person_exactly_once(
    detector: MoveNetDetector, composer: SmallPeopleComposer, count: int, least: int, seed: int
) -> None:
    rows, per_row, heights = CROWDS[count]
    frame = composer.crowd(WIDTH, HEIGHT, rows, per_row, heights, seed)
    assert len(frame.people) == count
    people = detector.detect(frame.image, 0.0)
    per_person = hits(frame.people, [p.box for p in people])
    assert max(per_person) == 1, f"someone found twice: {per_person}"
    assert sum(per_person) == len(people), "a box on nobody"
    assert sum(per_person) >= least, f"found {sum(per_person)} of {count}"
    assert [p.score for p in people] == sorted((p.score for p in people), reverse=True)
    # A person cut by a tile's edge is kept from the tile that sees them whole (a box may lose
    # some of the legs to the paint over a found person in the row in front).
    for person in frame.people:
        boxes = [p.box for p in people if hits((person,), [p.box]) == [1]]
        for box in boxes:
            assert box.width >= 0.6 * person.width, (person, box)
            assert box.height >= 0.6 * person.height, (person, box)


def test_the_search_runs_only_after_a_full_pass_and_is_bounded(
    detector: MoveNetDetector, composer: SmallPeopleComposer, zidane_image_path: Path
) -> None:
    counted = _Counted(detector)
    detector.one_pass = counted  # type: ignore[method-assign]
    try:
        image = cv2.imread(str(zidane_image_path))
        assert image is not None
        assert len(detector.detect(image, 0.0)) == 2
        assert counted.calls == 1, "two people: one pass, nothing more"
        counted.calls = 0
        rows, per_row, heights = CROWDS[30]
        frame = composer.crowd(WIDTH, HEIGHT, rows, per_row, heights, 1)
        found = detector.detect(frame.image, 0.0)
        limit = 1 + 2 * detector.params.crowd.max_passes_per_tile
        assert 1 < counted.calls <= limit
        # Every call finds at most 6: 30 people need at least 5 calls.
        assert counted.calls >= -(-len(found) // MAX_PEOPLE_PER_CALL)
    finally:
        del detector.one_pass


def test_without_the_search_one_pass_returns_at_most_six(
    detector: MoveNetDetector, composer: SmallPeopleComposer
) -> None:
    rows, per_row, heights = CROWDS[16]
    frame = composer.crowd(WIDTH, HEIGHT, rows, per_row, heights, 1)
    searched = detector.detect(frame.image, 0.0)
    original = detector.params
    detector.params = replace(original, crowd=CrowdSearchParams(max_passes_per_tile=0))
    try:
        plain = detector.detect(frame.image, 0.0)
    finally:
        detector.params = original
    assert len(plain) == MAX_PEOPLE_PER_CALL
    assert len(searched) > 2 * len(plain)
