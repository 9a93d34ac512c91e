"""Bone-length estimation and correction on synthetic skeletons with a known 3D truth."""

from __future__ import annotations

import numpy as np
import pytest

from bodypose3d_ros.core.camera.intrinsics import Intrinsics
from bodypose3d_ros.core.lift.bone_lengths import (
    BONE_KINDS,
    CORRECTED_BONES,
    MAIN_BONES,
    TABLE_LENGTHS_M,
    BoneLengthBank,
    BoneLengthTracker,
    bone_lengths,
    person_scale,
)
from bodypose3d_ros.core.lift.lifting import lift_pose, project
from bodypose3d_ros.core.people.tracking import TrackerParams
from bodypose3d_ros.core.pipeline import PipelineConfig, PosePipeline
from bodypose3d_ros.core.skeleton import BONES, INDEX, KEYPOINT_NAMES, NUM_KEYPOINTS
from bodypose3d_ros.core.types import Box, FloatArray, Pose25D

K = np.array([[600.0, 0.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]])
IMAGE = np.zeros((480, 640, 3), dtype=np.uint8)
INTRINSICS = Intrinsics(fx=600.0, fy=600.0, cx=320.0, cy=240.0, source="test")
PELVIS_NECK_M = 0.4926854  # the table's pelvis-neck: one scale-normalised unit of z_rel
ROOT = np.array([0.25, 0.05, 3.0])
ROW = {(KEYPOINT_NAMES[p], KEYPOINT_NAMES[c]): i for i, (p, c) in enumerate(CORRECTED_BONES)}
KIND = {kind: i for i, kind in enumerate(BONE_KINDS)}

# Directions (x right, y down, z away from the camera) of a runner seen from the side-front: the
# left thigh swings towards the camera, the right shin reaches back, the left forearm points away.
DIRECTIONS = {
    "left_hip": (-1.0, 0.05, 0.1), "right_hip": (1.0, -0.05, -0.1), "torso": (0.02, -1.0, 0.05),
    "neck": (0.02, -1.0, 0.05), "left_knee": (-0.1, 0.6, -0.8), "right_knee": (0.1, 1.0, 0.2),
    "left_ankle": (0.0, 1.0, 0.1), "right_ankle": (0.1, 0.5, 0.85), "nose": (0.0, -1.0, -0.3),
    "left_shoulder": (-1.0, 0.0, 0.1), "right_shoulder": (1.0, 0.0, -0.1),
    "left_elbow": (-0.2, 1.0, 0.3), "right_elbow": (0.3, 1.0, -0.5),
    "left_wrist": (0.1, 0.2, 1.0), "right_wrist": (0.2, -1.0, -0.2),
}  # fmt: skip
SMALL_BONE_M = 0.08  # head, hand and foot bones: not in the limb table


def _on_two_spheres(
    c1: FloatArray, r1: float, c2: FloatArray, r2: float, hint: FloatArray
) -> FloatArray:
    """The point at distance r1 from c1 and r2 from c2 that lies furthest towards ``hint``."""
    axis = (c2 - c1) / np.linalg.norm(c2 - c1)
    d = np.linalg.norm(c2 - c1)
    along = (d * d + r1 * r1 - r2 * r2) / (2.0 * d)
    across = hint - (hint @ axis) * axis
    return np.asarray(
        c1 + along * axis + np.sqrt(r1 * r1 - along * along) * across / np.linalg.norm(across)
    )


def _table(a: str, b: str) -> float:
    row = ROW.get((a, b), ROW.get((b, a), -1))
    if row >= 0:
        return float(TABLE_LENGTHS_M[row])
    assert {a, b} <= {"left_hip", "right_hip", "left_shoulder", "right_shoulder"}
    return {"left": 0.4075836, "right": 0.3916295}[a.split("_")[0]]  # hip-shoulder limb slots


def true_skeleton(directions: dict[str, tuple[float, float, float]] = DIRECTIONS) -> FloatArray:
    """A 34-joint skeleton with all 17 of the table's limb lengths, pelvis at ROOT (metres).

    The trunk is built to fit the non-tree limbs too (pelvis-neck, hip-shoulder), so the
    limb-length lift of its exact 2.5D view gives it back exactly.
    """
    xyz = np.zeros((NUM_KEYPOINTS, 3))
    xyz[0] = ROOT
    trunk = {"left_shoulder", "right_shoulder"}
    for parent, child in BONES:
        name = KEYPOINT_NAMES[child]
        if name in trunk:
            side = name.split("_")[0]
            xyz[child] = _on_two_spheres(
                xyz[INDEX["neck"]], _table("neck", name), xyz[INDEX[f"{side}_hip"]],
                _table(f"{side}_hip", name), np.array(directions[name], dtype=np.float64),
            )  # fmt: skip
            continue
        direction = np.array(directions.get(name, (0.3, 0.4, -0.2)), dtype=np.float64)
        row = CORRECTED_BONES.index((parent, child)) if (parent, child) in CORRECTED_BONES else -1
        length = TABLE_LENGTHS_M[row] if row >= 0 else SMALL_BONE_M
        xyz[child] = xyz[parent] + length * direction / np.linalg.norm(direction)
    return xyz


LIMB_JOINTS = {INDEX[n] for n in KEYPOINT_NAMES if n.endswith(("knee", "ankle", "elbow", "wrist"))}


def model_view(truth: FloatArray, limb_depth_factor: float) -> tuple[FloatArray, FloatArray]:
    """What a model reports: the true pixels and pelvis-relative depths (pelvis-neck = 1), with
    the depth difference along every limb bone (thighs, shins, arms) shrunk by the factor."""
    uv = project(truth, K)
    depth = truth[:, 2].copy()
    for parent, child in BONES:
        step = truth[child, 2] - truth[parent, 2]
        depth[child] = depth[parent] + (limb_depth_factor if child in LIMB_JOINTS else 1.0) * step
    return uv, (depth - depth[0]) / PELVIS_NECK_M


def lifted(truth: FloatArray, limb_depth_factor: float) -> tuple[FloatArray, FloatArray]:
    """The limb-length lift of the model's view (all joints fully confident)."""
    uv, z_rel = model_view(truth, limb_depth_factor)
    result = lift_pose(uv, z_rel, np.ones(NUM_KEYPOINTS), K)
    assert result.ok
    return result.xyz, result.confidence


def main_bone_ratios(xyz: FloatArray, reference: FloatArray) -> FloatArray:
    rows = [CORRECTED_BONES.index(b) for b in MAIN_BONES]
    return np.asarray(bone_lengths(xyz, MAIN_BONES) / reference[rows])


# --- the skeleton and its tables ---------------------------------------------------------------


def test_the_twelve_main_bones_are_corrected_with_table_lengths() -> None:
    assert len(MAIN_BONES) == 12
    assert set(MAIN_BONES) <= set(CORRECTED_BONES) <= set(BONES)
    assert np.all(TABLE_LENGTHS_M > 0.1)
    assert np.all(TABLE_LENGTHS_M < 0.6)
    thigh = CORRECTED_BONES.index((INDEX["left_hip"], INDEX["left_knee"]))
    assert TABLE_LENGTHS_M[thigh] == pytest.approx(0.4881824)
    assert "hip-knee" in BONE_KINDS
    assert "left_hip-left_knee" not in BONE_KINDS


def test_person_scale_is_the_lifts_own_fit() -> None:
    xyz, conf = lifted(true_skeleton(), 1.0)
    assert person_scale(xyz, conf) == pytest.approx(1.0, abs=1e-9)
    assert person_scale(0.6 * xyz, conf) == pytest.approx(0.6, abs=1e-9)  # a child, anchored
    assert np.isnan(person_scale(xyz, np.zeros(NUM_KEYPOINTS)))


# --- the correction ----------------------------------------------------------------------------


def test_exact_depths_are_left_as_they_are() -> None:
    truth = true_skeleton()
    xyz, conf = lifted(truth, 1.0)
    np.testing.assert_allclose(xyz, truth, atol=1e-9)  # the lift is exact on exact input
    result = BoneLengthTracker().correct(xyz, conf)
    assert result.corrected
    assert result.unreachable == ()
    np.testing.assert_allclose(result.xyz, truth, atol=1e-9)


def test_foreshortened_bones_get_their_length_back_on_the_same_rays() -> None:
    truth = true_skeleton()
    xyz, conf = lifted(truth, 0.4)  # the model shrinks the limbs' depth differences
    before = main_bone_ratios(xyz, TABLE_LENGTHS_M)
    assert before.min() < 0.75  # the left thigh, reaching towards the camera, comes out short

    result = BoneLengthTracker().correct(xyz, conf, learn=False)
    assert result.corrected
    np.testing.assert_allclose(result.lengths, result.scale * TABLE_LENGTHS_M)
    # The shrunk limbs also put the lift's root too far, so the trunk comes out a few % long
    # in the image alone: those bones cannot be shortened and take their rays' closest point.
    reached = [i for i, b in enumerate(CORRECTED_BONES) if b not in result.unreachable]
    assert len(reached) >= 5
    np.testing.assert_allclose(
        bone_lengths(result.xyz)[reached], result.lengths[reached], rtol=1e-9
    )
    for parent, child in result.unreachable:
        bone = result.xyz[child] - result.xyz[parent]
        assert bone @ result.xyz[child] == pytest.approx(0.0, abs=1e-9)
    assert main_bone_ratios(result.xyz, result.lengths).max() < 1.1
    # Every joint on its own ray: the image is unchanged to 1e-6 px.
    np.testing.assert_allclose(project(result.xyz, K), project(xyz, K), rtol=0, atol=1e-6)
    np.testing.assert_allclose(result.xyz[0], xyz[0], rtol=1e-15)  # the pelvis does not move
    # The body's shape comes closer to the truth's (at the lift's root depth: same rays).
    seen = truth * (xyz[0, 2] / truth[0, 2])
    error_before = np.linalg.norm(xyz - seen, axis=1).mean()
    error_after = np.linalg.norm(result.xyz - seen, axis=1).mean()
    assert error_after < 0.75 * error_before
    # Frames of the same view teach the tracker that the trunk is longer than the table says.
    tracker = BoneLengthTracker()
    for _ in range(40):
        learned = tracker.correct(xyz, conf)
    assert np.linalg.norm(learned.xyz - seen, axis=1).mean() < 0.5 * error_before
    assert len(learned.unreachable) < len(result.unreachable)


def test_nearer_or_farther_comes_from_the_model() -> None:
    truth = true_skeleton()
    xyz, conf = lifted(truth, 0.4)
    corrected = BoneLengthTracker().correct(xyz, conf, learn=False).xyz
    bones = [("left_hip", "left_knee"), ("right_knee", "right_ankle"),
             ("left_elbow", "left_wrist"), ("right_shoulder", "right_elbow")]  # fmt: skip
    for parent, child in bones:
        true_step = truth[INDEX[child], 2] - truth[INDEX[parent], 2]
        new_step = corrected[INDEX[child], 2] - corrected[INDEX[parent], 2]
        assert np.sign(new_step) == np.sign(true_step), (parent, child)
        assert abs(new_step) > abs(xyz[INDEX[child], 2] - xyz[INDEX[parent], 2])


def test_an_ambiguous_model_keeps_last_frames_side() -> None:
    tracker = BoneLengthTracker()
    xyz, conf = lifted(true_skeleton(), 0.4)
    first = tracker.correct(xyz, conf, learn=False).xyz
    hip, knee = INDEX["left_hip"], INDEX["left_knee"]
    ray = xyz[knee] / xyz[knee, 2]
    nearest = ray @ first[hip] / (ray @ ray)  # the knee ray's point nearest the corrected hip
    assert first[knee, 2] < nearest - 0.1  # the thigh reaches towards the camera
    # Next frame the model puts the knee 2 mm behind that point: it no longer says which side.
    wobbly = xyz.copy()
    wobbly[knee] = ray * (nearest + 0.002 - (first[hip, 2] - xyz[hip, 2]))
    again = tracker.correct(wobbly, conf, learn=False).xyz
    assert again[knee, 2] < nearest - 0.1  # still nearer, as last frame
    assert again[knee, 2] == pytest.approx(first[knee, 2], abs=0.01)
    fresh = BoneLengthTracker().correct(wobbly, conf, learn=False).xyz
    assert fresh[knee, 2] > nearest + 0.1  # with no history the model's side is taken


def test_a_bone_longer_than_its_estimate_in_the_image_takes_the_closest_point() -> None:
    truth = true_skeleton()
    wrist = INDEX["left_wrist"]
    # A wrong wrist detection far out in the image: no depth makes the forearm 0.25 m long.
    truth[wrist] = truth[INDEX["left_elbow"]] + (-0.6, 0.0, 0.0)
    xyz, conf = lifted(truth, 1.0)
    result = BoneLengthTracker().correct(xyz, conf, learn=False)
    assert result.unreachable == ((INDEX["left_elbow"], wrist),)
    forearm = result.xyz[wrist] - result.xyz[INDEX["left_elbow"]]
    assert forearm @ result.xyz[wrist] == pytest.approx(0.0, abs=1e-9)  # perpendicular to ray
    assert np.linalg.norm(forearm) > result.lengths[ROW["left_elbow", "left_wrist"]]
    np.testing.assert_allclose(project(result.xyz, K), project(xyz, K), atol=1e-6)


def test_a_depth_anchored_skeleton_keeps_its_own_scale() -> None:
    xyz, conf = lifted(true_skeleton(), 0.4)
    child = 0.6 * xyz  # scaled about the camera centre, as depth anchoring does
    result = BoneLengthTracker().correct(child, conf, learn=False)
    assert result.scale == pytest.approx(0.6 * person_scale(xyz, conf))
    np.testing.assert_allclose(bone_lengths(result.xyz), 0.6 * bone_lengths(
        BoneLengthTracker().correct(xyz, conf, learn=False).xyz
    ), rtol=1e-9)  # fmt: skip
    np.testing.assert_array_equal(result.xyz[0], child[0])


def test_bad_joints_never_give_nan() -> None:
    rng = np.random.default_rng(7)
    xyz, conf = lifted(true_skeleton(), 0.4)
    tracker = BoneLengthTracker()
    for _ in range(50):
        points, confidence = xyz.copy(), conf.copy()
        bad = rng.choice(NUM_KEYPOINTS, size=6, replace=False)
        points[bad[:2]] = np.nan
        points[bad[2], 2] = -1.0  # behind the camera
        points[bad[3]] = 0.0  # not lifted
        confidence[bad[4]] = 0.0
        points[bad[5]] += rng.normal(0.0, 0.5, 3)  # wildly wrong
        result = tracker.correct(points, confidence)
        good = np.isfinite(points).all(axis=1)
        assert np.isfinite(result.xyz[good]).all()
        np.testing.assert_array_equal(result.xyz[~good], points[~good])  # passed through
        assert np.isfinite(tracker.ratios).all()
    # A failed lift (all zeros) is returned unchanged, not corrected.
    empty = tracker.correct(np.zeros((NUM_KEYPOINTS, 3)), np.zeros(NUM_KEYPOINTS))
    assert not empty.corrected
    np.testing.assert_array_equal(empty.xyz, 0.0)


# --- the estimate over time --------------------------------------------------------------------


def side_on_skeleton(thigh_ratio: float) -> tuple[FloatArray, FloatArray]:
    """A person seen side-on (no depth differences) whose thighs are thigh_ratio x the table."""
    flat = {name: (d[0], d[1], 0.0) for name, d in DIRECTIONS.items()}
    flat.update(left_knee=(-0.1, 1.0, 0.0), right_knee=(0.1, 1.0, 0.0))
    truth = true_skeleton(flat)
    for side in ("left", "right"):
        hip, knee = INDEX[f"{side}_hip"], INDEX[f"{side}_knee"]
        below = [INDEX[f"{side}_{n}"] for n in ("ankle", "big_toe", "small_toe", "heel")]
        shift = (thigh_ratio - 1.0) * (truth[knee] - truth[hip])
        truth[[knee, *below]] += shift
    return truth, np.full(NUM_KEYPOINTS, 0.9)


def thigh_estimate(tracker: BoneLengthTracker) -> float:
    return float(tracker.ratios[KIND["hip-knee"]])


def test_a_steady_sequence_converges_smoothly_to_the_persons_length() -> None:
    truth, conf = side_on_skeleton(0.85)
    tracker = BoneLengthTracker()
    estimates, lengths = [], []
    for _ in range(120):
        result = tracker.correct(truth, conf)
        estimates.append(thigh_estimate(tracker) * result.scale)
        lengths.append(bone_lengths(result.xyz, MAIN_BONES))
    thigh = bone_lengths(truth, [(INDEX["left_hip"], INDEX["left_knee"])])[0]
    final = estimates[-1] * TABLE_LENGTHS_M[ROW["left_hip", "left_knee"]]
    assert final == pytest.approx(thigh, rel=0.02)
    changes = np.abs(np.diff(np.array(lengths), axis=0)) / np.array(lengths[:-1])
    assert changes.max() < 0.05  # no frame-to-frame jump while it learns
    assert result.unreachable == ()


def test_one_bad_frame_does_not_pull_the_estimate() -> None:
    truth, conf = side_on_skeleton(1.0)
    tracker = BoneLengthTracker()
    for _ in range(60):
        tracker.correct(truth, conf)
    settled = thigh_estimate(tracker)
    for outlier_ratio in (1.45, 0.7, 3.0):
        bad, _ = side_on_skeleton(outlier_ratio)
        tracker.correct(bad, conf)
        assert thigh_estimate(tracker) == pytest.approx(settled, rel=0.021)
        for _ in range(60):
            tracker.correct(truth, conf)


def test_a_foreshortened_thigh_the_model_takes_for_side_on_is_not_learned() -> None:
    # The running person's thigh: 0.55 of its length, with no depth difference from the model.
    truth, conf = side_on_skeleton(0.55)
    tracker = BoneLengthTracker()
    for _ in range(100):
        result = tracker.correct(truth, conf)
    assert thigh_estimate(tracker) == pytest.approx(1.0, abs=0.03)
    thigh = bone_lengths(result.xyz, [(INDEX["left_hip"], INDEX["left_knee"])])[0]
    assert thigh == pytest.approx(result.lengths[ROW["left_hip", "left_knee"]], rel=1e-9)


def test_a_bone_proven_longer_raises_its_estimate() -> None:
    truth, conf = side_on_skeleton(1.0)
    hands = [INDEX[n] for n in KEYPOINT_NAMES if n.startswith("left_") and n.endswith(
        ("wrist", "knuckle", "tip"))]  # fmt: skip
    elbow = truth[INDEX["left_elbow"]]
    # The left forearm is 1.3 x the table across the image, and the model also tilts it
    # 0.2 m away: never side-on, yet no depth can make it shorter than its image says.
    truth[hands] += 0.3 * (truth[INDEX["left_wrist"]] - elbow) + (0.0, 0.0, 0.2)
    tracker = BoneLengthTracker()
    first = tracker.correct(truth, conf)
    assert (INDEX["left_elbow"], INDEX["left_wrist"]) in first.unreachable
    for _ in range(40):
        result = tracker.correct(truth, conf)
    assert tracker.ratios[KIND["elbow-wrist"]] > 1.1
    assert result.unreachable == ()


# --- per person --------------------------------------------------------------------------------


def test_each_person_has_their_own_state_freed_with_their_id() -> None:
    bank = BoneLengthBank()
    short, conf = side_on_skeleton(0.85)
    tall, _ = side_on_skeleton(1.15)
    for _ in range(60):
        bank.correct("body_1", short, conf)
        bank.correct("body_2", tall, conf)
    one, two = bank.get("body_1"), bank.get("body_2")
    assert one is not None
    assert two is not None
    assert thigh_estimate(one) < 0.9 < 1.1 < thigh_estimate(two)
    assert sorted(bank.retain(["body_2", "body_9"])) == ["body_1"]
    assert "body_1" not in bank
    assert "body_2" in bank
    assert len(bank) == 1
    bank.correct("body_1", short, conf)  # seen again: starts from the prior
    fresh = bank.get("body_1")
    assert fresh is not None
    assert thigh_estimate(fresh) > 0.97
    assert sorted(bank.retain([])) == ["body_1", "body_2"]
    assert len(bank) == 0


def test_a_disabled_bank_changes_nothing_and_keeps_no_state() -> None:
    bank = BoneLengthBank(enabled=False)
    xyz, conf = lifted(true_skeleton(), 0.4)
    assert bank.correct("body_1", xyz, conf) is None
    assert len(bank) == 0
    assert bank.retain([]) == []


# --- in the pipeline ---------------------------------------------------------------------------


class _Replay:
    """A pose source that hands back a given 2.5D pose (or nobody): a test fixture, no model."""

    name = "replay"
    description = "replayed synthetic pose"
    precision = "n/a"

    def __init__(self, poses: list[Pose25D]) -> None:
        self.poses = poses

    def estimate(self, image_bgr: np.ndarray, boxes: object, intrinsics: object) -> list[Pose25D]:
        return list(self.poses)

    def reset(self) -> None:
        """Nothing to forget."""

    def close(self) -> None:
        """Nothing to release."""


def _pipeline(correction: bool) -> tuple[PosePipeline, _Replay, Pose25D]:
    uv, z_rel = model_view(true_skeleton(), 0.4)
    pose = Pose25D(uv, z_rel, np.ones(NUM_KEYPOINTS), Box(100, 20, 300, 440), 0.9)
    source = _Replay([pose])
    # Published from the first sighting (min_hits 1): each test starts with one frame.
    config = PipelineConfig(
        smoothing=False, bone_length_correction=correction, tracker=TrackerParams(min_hits=1)
    )
    return PosePipeline(source, config), source, pose


def test_pipeline_without_correction_publishes_the_plain_lift() -> None:
    pipeline, _, pose = _pipeline(correction=False)
    (person,) = pipeline.process(IMAGE, INTRINSICS, 0.0).people
    plain = lift_pose(pose.uv, pose.z_rel, pose.confidence, K)
    np.testing.assert_array_equal(person.xyz, plain.xyz)
    assert "bones_unreachable" not in person.extras
    assert pipeline.bone_lengths(person.id) is None


def test_pipeline_corrects_each_tracked_person_and_frees_them_when_lost() -> None:
    pipeline, source, pose = _pipeline(correction=True)
    (person,) = pipeline.process(IMAGE, INTRINSICS, 0.0).people
    plain = lift_pose(pose.uv, pose.z_rel, pose.confidence, K)
    assert np.abs(person.xyz - plain.xyz).max() > 0.05  # the foreshortened limbs moved
    np.testing.assert_allclose(project(person.xyz, K), pose.uv, atol=1e-6)
    np.testing.assert_array_equal(person.uv, pose.uv)
    assert person.extras["bones_unreachable"] >= 0
    assert pipeline.bone_lengths(person.id) is not None
    source.poses = []
    lost: list[str] = []
    for frame in range(1, 100):  # bounds a failure only: the tracker lets go when it decides
        lost += pipeline.process(IMAGE, INTRINSICS, frame / 30.0).lost_ids
        if person.id in lost:
            break
    assert person.id in lost
    assert pipeline.bone_lengths(person.id) is None


def test_everyone_at_once_equals_person_by_person() -> None:
    """The bank's batched correction (one array pass for everyone) gives bit for bit what each
    person's own tracker gives, learning included, with people failing, coming and going."""
    rng = np.random.default_rng(3)
    xyz, conf = lifted(true_skeleton(), 0.4)
    one_by_one, batched = BoneLengthBank(), BoneLengthBank()
    for frame in range(60):
        ids = [f"body_{i}" for i in range(6) if (frame // 10 + i) % 4]
        points = np.array([xyz + rng.normal(0.0, 0.02, xyz.shape) for _ in ids])
        confidence = np.array([np.clip(conf - rng.uniform(0, 0.5, conf.shape), 0, 1) for _ in ids])
        if frame % 7 == 0:
            points[0, 3] = np.nan  # a joint that could not be lifted
        if frame % 9 == 0:
            confidence[-1, 0] = 0.0  # pelvis unseen: that person is not corrected
        expected = [
            one_by_one.correct(i, p, c) for i, p, c in zip(ids, points, confidence, strict=True)
        ]
        got = batched.correct_many(ids, points, confidence)
        assert len(got) == len(expected)
        for want, have in zip(expected, got, strict=True):
            assert want is not None
            assert have is not None
            assert have.corrected == want.corrected
            np.testing.assert_array_equal(have.xyz, want.xyz)
            np.testing.assert_array_equal(have.lengths, want.lengths)
            assert have.unreachable == want.unreachable
            np.testing.assert_array_equal(have.scale, want.scale)
        for person_id in ids:
            a, b = one_by_one.get(person_id), batched.get(person_id)
            assert a is not None
            assert b is not None
            np.testing.assert_array_equal(b.ratios, a.ratios)
        one_by_one.retain(ids)
        batched.retain(ids)
    assert not BoneLengthBank(enabled=False).correct_many(["a"], xyz[None], conf[None])[0]
