"""Crowds reach the planner: 1920x1080 frames of 16 and 30 upright real people, default
parameters, every person found published exactly once with distinct ids, in the CLI and the node.

The crowds are real people cut out of the real photos (:mod:`bodypose3d_ros.testing.small_people`,
as in ``test_crowd_search``). With the default ``max_pose_people`` (8) the pose model fits 8 of
them; everyone else is published from the detector's keypoints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from bodypose3d_ros.core.pipeline import DEFAULT_MAX_POSE_PEOPLE
from bodypose3d_ros.core.types import Box
from bodypose3d_ros.testing.small_people import SmallPeopleComposer, SmallPeopleFrame, hits

REPO_ROOT = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT = 1920, 1080
# people -> (rows, people per row, heights back to front [px]), and the fewest to publish.
CROWDS = {16: ((4, 4, (300, 500)), 15), 30: ((5, 6, (300, 360)), 27)}
SEED = 1


@pytest.fixture(scope="module")
def crowds(bus_image_path: Path, person_image_path: Path) -> dict[int, SmallPeopleFrame]:
    composer = SmallPeopleComposer({"bus.jpg": bus_image_path, "person.jpg": person_image_path})
    return {
        count: composer.crowd(WIDTH, HEIGHT, *layout, SEED) for count, (layout, _) in CROWDS.items()
    }


def _keypoint_box(uv: npt.NDArray[np.float64], confidence: npt.NDArray[np.float64]) -> Box:
    points = uv[confidence >= 0.3]
    lo, hi = points.min(axis=0), points.max(axis=0)
    return Box(float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))


def _check_exactly_once(
    frame: SmallPeopleFrame, boxes: list[Box], ids: list[str], least: int
) -> None:
    per_person = hits(frame.people, boxes)
    assert sum(1 for h in per_person if h == 1) >= least, per_person
    assert all(h <= 1 for h in per_person), f"someone published twice: {per_person}"
    assert sum(per_person) == len(boxes), "a published person who is not in the crowd"
    assert len(set(ids)) == len(ids), "distinct ids"


def test_cli_publishes_everyone_in_crowds_of_16_and_30_exactly_once(
    crowds: dict[int, SmallPeopleFrame], tmp_path: Path
) -> None:
    inputs = []
    for count, frame in crowds.items():
        path = tmp_path / f"crowd_{count}.png"
        assert cv2.imwrite(str(path), frame.image)
        inputs.append(str(path))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bodypose3d_ros.infer", "--out", str(tmp_path / "out"), *inputs],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for count, frame in crowds.items():
        record = json.loads((tmp_path / "out" / f"crowd_{count}.json").read_text())
        people = record["people"]
        boxes = [
            _keypoint_box(
                np.array([(k["u"], k["v"]) for k in p["keypoints"]]),
                np.array([k["confidence"] for k in p["keypoints"]]),
            )
            for p in people
        ]
        _check_exactly_once(frame, boxes, [p["id"] for p in people], CROWDS[count][1])
        sources = [p["keypoint_source"] for p in people]
        assert sources.count("pose_model") <= DEFAULT_MAX_POSE_PEOPLE
        assert sources.count("detector") >= len(people) - DEFAULT_MAX_POSE_PEOPLE


def test_node_publishes_everyone_in_crowds_of_16_and_30_exactly_once(
    crowds: dict[int, SmallPeopleFrame],
) -> None:
    from bodypose3d_ros.msg import Pose3D
    from node_harness import NodeHarness, make_camera_info, make_image_msg

    with NodeHarness(backend="blazepose", detector="movenet") as h:
        h.start()
        h.info_pub.publish(make_camera_info(WIDTH, HEIGHT, 1200.0, 1200.0, WIDTH / 2, HEIGHT / 2))
        stamp = 500.0
        for count, frame in crowds.items():
            least = CROWDS[count][1]
            answer = None
            for _ in range(12):  # published once found track_min_hits (3) times
                n = len(h.poses)
                stamp += 0.5
                h.image_pub.publish(make_image_msg(frame.image, stamp, frame_id="crowd_cam"))
                out = h.wait_for_poses(n + 1, timeout_s=120.0)[-1]
                if len(out.poses) >= least:
                    answer = out
                    break
            assert answer is not None, f"{count} people: never {least} published"
            boxes = [
                _keypoint_box(
                    np.array([(k.u, k.v) for k in pose.keypoints], dtype=np.float64),
                    np.array([k.confidence for k in pose.keypoints], dtype=np.float64),
                )
                for pose in answer.poses
            ]
            _check_exactly_once(frame, boxes, [pose.id for pose in answer.poses], least)
            fitted = [
                p for p in answer.poses if p.keypoint_source == Pose3D.KEYPOINT_SOURCE_POSE_MODEL
            ]
            assert len(fitted) <= DEFAULT_MAX_POSE_PEOPLE
