"""One definition of a person's score for every backend: the mean confidence of the body joints
the lift depends on."""

from __future__ import annotations

import numpy as np
import pytest

from bodypose3d_ros.core import skeleton
from bodypose3d_ros.core.skeleton import BODY_JOINTS, person_score

K = skeleton.INDEX


def test_body_joints_are_the_joints_of_the_limb_tables() -> None:
    names = {skeleton.KEYPOINT_NAMES[i] for i in BODY_JOINTS}
    expected = {"pelvis", "torso", "neck"} | {
        f"{side}_{joint}"
        for side in ("left", "right")
        for joint in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")
    }
    assert names == expected
    assert set(BODY_JOINTS) == set(skeleton.LIMB_JOINTS.ravel())


def test_score_is_the_body_mean_and_ignores_face_feet_and_hands() -> None:
    confidence = np.zeros(skeleton.NUM_KEYPOINTS)
    confidence[BODY_JOINTS] = 0.8
    assert person_score(confidence) == pytest.approx(0.8)
    confidence[[K["nose"], K["left_big_toe"], K["right_thumb_tip"]]] = 1.0
    assert person_score(confidence) == pytest.approx(0.8)
    confidence[K["left_knee"]] = 0.2  # one of 15 body joints drops by 0.6
    assert person_score(confidence) == pytest.approx(0.8 - 0.6 / 15)


def test_score_is_clipped_and_nan_counts_as_unseen() -> None:
    confidence = np.full(skeleton.NUM_KEYPOINTS, 1.5)
    confidence[K["pelvis"]] = np.nan
    assert person_score(confidence) == pytest.approx(14 / 15)
    with pytest.raises(ValueError, match="34 confidences"):
        person_score(np.ones(33))


def test_blazepose_scores_its_mapped_pose_with_it() -> None:
    from bodypose3d_ros.core.models.blazepose import NUM_BLAZEPOSE_LANDMARKS, landmarks_to_pose25d

    rng = np.random.default_rng(3)
    image = np.column_stack(
        (
            rng.uniform(0.2, 0.8, (NUM_BLAZEPOSE_LANDMARKS, 2)),
            rng.uniform(0, 1, NUM_BLAZEPOSE_LANDMARKS),
        )
    )
    world = rng.normal(0, 0.3, (NUM_BLAZEPOSE_LANDMARKS, 3))
    pose = landmarks_to_pose25d(image, world, 640, 480)
    assert pose is not None
    assert pose.score == pytest.approx(float(pose.confidence[BODY_JOINTS].mean()))
    assert pose.score != pytest.approx(float(pose.confidence.mean()))
