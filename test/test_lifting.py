"""Lifting must recover a metric skeleton exactly when the body matches the limb tables."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import pytest
from scipy.spatial.transform import Rotation

from bodypose3d_ros.core.lift.lifting import LiftResult, lift_pose, lift_poses, project
from bodypose3d_ros.core.skeleton import INDEX, LIMB_JOINTS, LIMB_LENGTHS_MM, NUM_KEYPOINTS

FloatArray = npt.NDArray[np.float64]


def limb_mm(a: str, b: str) -> float:
    """The table length of the measured limb between joints a and b (either order)."""
    pair = {INDEX[a], INDEX[b]}
    for (i0, i1), length in zip(LIMB_JOINTS, LIMB_LENGTHS_MM, strict=True):
        if {int(i0), int(i1)} == pair:
            return float(length)
    raise KeyError((a, b))


def unit(x: float, y: float, z: float) -> FloatArray:
    v = np.array([x, y, z], dtype=np.float64)
    direction: FloatArray = v / np.linalg.norm(v)
    return direction


def sphere_intersection(
    a: FloatArray, ra: float, b: FloatArray, rb: float, hint: FloatArray
) -> FloatArray:
    """The point at distance ra from a and rb from b, on the side of line ab that hint points to."""
    axis = b - a
    distance = float(np.linalg.norm(axis))
    axis /= distance
    along = (ra**2 - rb**2 + distance**2) / (2.0 * distance)
    side = hint - np.dot(hint, axis) * axis
    side /= np.linalg.norm(side)
    point: FloatArray = a + along * axis + np.sqrt(ra**2 - along**2) * side
    return point


def table_skeleton_mm() -> FloatArray:
    """(34, 3) joints in mm, pelvis at the origin, facing the camera (x right, y down, z away).

    The 17 measured limbs have exactly the lengths of the millimetre table; the unmeasured joints
    (feet, face, hands) are merely plausible.
    """
    p: dict[str, FloatArray] = {"pelvis": np.zeros(3)}
    p["torso"] = p["pelvis"] + limb_mm("pelvis", "torso") * unit(0, -1, 0)
    p["neck"] = p["torso"] + limb_mm("torso", "neck") * unit(0, -1, 0)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        hip = p["pelvis"] + limb_mm(f"{side}_hip", "pelvis") * unit(sign, 0.05, 0.02)
        knee = hip + limb_mm(f"{side}_knee", f"{side}_hip") * unit(sign * 0.05, 1.0, -0.15 * sign)
        ankle = knee + limb_mm(f"{side}_ankle", f"{side}_knee") * unit(0.0, 1.0, 0.12)
        shoulder = sphere_intersection(
            p["neck"],
            limb_mm(f"{side}_shoulder", "neck"),
            hip,
            limb_mm(f"{side}_hip", f"{side}_shoulder"),
            hint=unit(sign, 0.0, 0.1),
        )
        elbow = shoulder + limb_mm(f"{side}_shoulder", f"{side}_elbow") * unit(
            sign * 0.3, 1.0, -0.2
        )
        wrist = elbow + limb_mm(f"{side}_elbow", f"{side}_wrist") * unit(-sign * 0.2, 0.6, -0.8)
        p.update({
            f"{side}_hip": hip, f"{side}_knee": knee, f"{side}_ankle": ankle,
            f"{side}_shoulder": shoulder, f"{side}_elbow": elbow, f"{side}_wrist": wrist,
            f"{side}_big_toe": ankle + np.array([sign * 20.0, 60.0, -180.0]),
            f"{side}_small_toe": ankle + np.array([sign * 60.0, 60.0, -150.0]),
            f"{side}_heel": ankle + np.array([0.0, 70.0, 50.0]),
            f"{side}_eye": p["neck"] + np.array([sign * 32.0, -200.0, -90.0]),
            f"{side}_ear": p["neck"] + np.array([sign * 75.0, -175.0, 0.0]),
            f"{side}_pinky_knuckle": wrist + np.array([sign * 40.0, 70.0, -20.0]),
            f"{side}_middle_tip": wrist + np.array([sign * 10.0, 180.0, -30.0]),
            f"{side}_index_knuckle": wrist + np.array([-sign * 10.0, 85.0, -30.0]),
            f"{side}_thumb_tip": wrist + np.array([-sign * 50.0, 90.0, -60.0]),
        })  # fmt: skip
    p["nose"] = p["neck"] + np.array([0.0, -160.0, -110.0])
    return np.array([p[name] for name in INDEX], dtype=np.float64)


SKELETON_MM = table_skeleton_mm()
# The normalised unit: this skeleton's pelvis-neck distance (the table's 492.6854 mm).
UNIT_MM = float(np.linalg.norm(SKELETON_MM[INDEX["neck"]] - SKELETON_MM[INDEX["pelvis"]]))

ROTATIONS = {
    "facing": Rotation.identity(),
    "yaw_90": Rotation.from_euler("y", 90, degrees=True),
    "yaw_minus_90": Rotation.from_euler("y", -90, degrees=True),
    "yaw_30_lean_forward_20": Rotation.from_euler("yx", [30, 20], degrees=True),
    "back_turned_side_lean": Rotation.from_euler("yz", [160, 15], degrees=True),
}


def intrinsics(fx: float, fy: float, cx: float, cy: float) -> FloatArray:
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


CAMERAS = {  # fx != fy and off-centre principal points on purpose
    "640x480": intrinsics(525.0, 531.0, 318.2, 241.7),
    "1280x720": intrinsics(800.79041, 788.0, 652.0, 351.0),
    "1920x1080": intrinsics(1200.0, 1184.0, 955.5, 546.0),
}


def place(rotation: Rotation, pelvis_depth_m: float) -> FloatArray:
    """The skeleton rotated about its pelvis and put in front of the camera, in metres."""
    offset = np.array([0.12, 0.05, 1.0]) * pelvis_depth_m
    placed: FloatArray = rotation.apply(SKELETON_MM) / 1000.0 + offset
    return placed


def pinhole(xyz: FloatArray, k: FloatArray) -> FloatArray:
    """u = fx x / z + cx, v = fy y / z + cy, written out independently of the code under test."""
    return np.column_stack([
        k[0, 0] * xyz[:, 0] / xyz[:, 2] + k[0, 2],
        k[1, 1] * xyz[:, 1] / xyz[:, 2] + k[1, 2],
    ])  # fmt: skip


def observe(xyz: FloatArray, k: FloatArray) -> tuple[FloatArray, FloatArray]:
    """What a perfect model would report: pixels and pelvis-relative depth in normalised units."""
    z_rel = (xyz[:, 2] - xyz[INDEX["pelvis"], 2]) * 1000.0 / UNIT_MM
    return pinhole(xyz, k), z_rel


def max_error_mm(result: LiftResult, truth_m: FloatArray) -> float:
    return float(np.max(np.linalg.norm(result.xyz - truth_m, axis=1)) * 1000.0)


def assert_finite(result: LiftResult) -> None:
    assert np.all(np.isfinite(result.xyz))
    assert np.all(np.isfinite(result.confidence))


def test_synthetic_skeleton_matches_the_millimetre_table() -> None:
    lengths = np.linalg.norm(
        SKELETON_MM[LIMB_JOINTS[:, 0]] - SKELETON_MM[LIMB_JOINTS[:, 1]], axis=1
    )
    np.testing.assert_allclose(lengths, LIMB_LENGTHS_MM, rtol=0, atol=1e-9)
    assert abs(UNIT_MM - 492.6854) < 1e-4


@pytest.mark.parametrize(
    ("pose", "camera", "depth_m"),
    list(itertools.product(ROTATIONS, CAMERAS, (2.0, 3.5, 6.0))),
)
def test_lift_recovers_every_joint_within_a_millimetre(
    pose: str, camera: str, depth_m: float
) -> None:
    truth = place(ROTATIONS[pose], depth_m)
    k = CAMERAS[camera]
    uv, z_rel = observe(truth, k)
    confidence = np.full(NUM_KEYPOINTS, 0.9)

    result = lift_pose(uv, z_rel, confidence, k)

    assert result.ok
    assert max_error_mm(result, truth) < 1.0
    np.testing.assert_array_equal(result.confidence, confidence)
    # The two tables disagree by up to 0.17 %, so where a limb drops out (side-on hips point along
    # the line of sight) depth and scale shift slightly, in step: joints stay within 1 mm.
    assert result.scale_mm == pytest.approx(UNIT_MM, rel=1e-3)
    assert result.root_depth == pytest.approx(
        truth[INDEX["pelvis"], 2] * 1000.0 / UNIT_MM, rel=1e-3
    )


def test_project_is_the_pinhole_model() -> None:
    truth = place(ROTATIONS["yaw_30_lean_forward_20"], 3.0)
    k = CAMERAS["1280x720"]
    np.testing.assert_allclose(project(truth, k), pinhole(truth, k), atol=1e-9)
    behind = project(np.array([[0.1, 0.2, -1.0], [0.0, 0.0, 0.0]]), k)
    assert np.all(np.isnan(behind))


def test_the_pelvis_relative_depth_of_the_pelvis_is_ignored() -> None:
    truth = place(ROTATIONS["facing"], 3.0)
    k = CAMERAS["640x480"]
    uv, z_rel = observe(truth, k)
    z_rel[INDEX["pelvis"]] = 0.7  # a model could output anything here; the root is 0 by definition
    result = lift_pose(uv, z_rel, np.ones(NUM_KEYPOINTS), k)
    assert result.ok
    assert max_error_mm(result, truth) < 1.0


def test_zero_confidence_joint_is_kept_out_of_the_solution() -> None:
    truth = place(ROTATIONS["yaw_30_lean_forward_20"], 3.0)
    k = CAMERAS["1920x1080"]
    uv, z_rel = observe(truth, k)
    wrist = INDEX["right_wrist"]
    uv[wrist] += (150.0, -90.0)  # a wildly wrong, but finite, detection
    z_rel[wrist] += 0.4
    others = np.arange(NUM_KEYPOINTS) != wrist

    trusted = np.ones(NUM_KEYPOINTS)
    wrong = lift_pose(uv, z_rel, trusted, k)
    assert max_error_mm(wrong, truth) > 1.0  # when trusted, the bad joint does spoil the scale

    distrusted = trusted.copy()
    distrusted[wrist] = 0.0
    result = lift_pose(uv, z_rel, distrusted, k)
    assert result.ok
    assert_finite(result)
    assert np.max(np.linalg.norm(result.xyz[others] - truth[others], axis=1)) * 1000.0 < 1.0


def test_min_confidence_excludes_weak_joints_from_solving() -> None:
    truth = place(ROTATIONS["facing"], 2.5)
    k = CAMERAS["1280x720"]
    uv, z_rel = observe(truth, k)
    wrist = INDEX["right_wrist"]
    uv[wrist] += (120.0, 80.0)
    confidence = np.ones(NUM_KEYPOINTS)
    confidence[wrist] = 0.2
    others = np.arange(NUM_KEYPOINTS) != wrist

    loose = lift_pose(uv, z_rel, confidence, k, min_confidence=0.0)
    strict = lift_pose(uv, z_rel, confidence, k, min_confidence=0.3)

    assert np.max(np.linalg.norm(loose.xyz[others] - truth[others], axis=1)) * 1000.0 > 1.0
    assert np.max(np.linalg.norm(strict.xyz[others] - truth[others], axis=1)) * 1000.0 < 1.0


def test_non_finite_inputs_zero_that_joint_and_nothing_else() -> None:
    truth = place(ROTATIONS["facing"], 3.0)
    k = CAMERAS["640x480"]
    uv, z_rel = observe(truth, k)
    confidence = np.ones(NUM_KEYPOINTS)
    bad = [INDEX["nose"], INDEX["left_big_toe"], INDEX["right_thumb_tip"], INDEX["left_ear"]]
    uv[bad[0], 0] = np.nan
    z_rel[bad[1]] = np.inf
    confidence[bad[2]] = np.nan
    uv[bad[3], 1] = -np.inf

    result = lift_pose(uv, z_rel, confidence, k)

    assert result.ok
    assert_finite(result)
    assert np.all(result.confidence[bad] == 0.0)
    assert np.all(result.xyz[bad] == 0.0)
    good = np.setdiff1d(np.arange(NUM_KEYPOINTS), bad)
    assert np.all(result.confidence[good] == 1.0)
    assert np.max(np.linalg.norm(result.xyz[good] - truth[good], axis=1)) * 1000.0 < 1.0


def test_nan_in_measured_limb_joints_still_gives_finite_output() -> None:
    truth = place(ROTATIONS["yaw_90"], 4.0)
    k = CAMERAS["1280x720"]
    uv, z_rel = observe(truth, k)
    uv[[INDEX["neck"], INDEX["left_knee"]]] = np.nan
    result = lift_pose(uv, z_rel, np.ones(NUM_KEYPOINTS), k)
    assert result.ok
    assert_finite(result)
    assert result.confidence[INDEX["neck"]] == 0.0


def test_impossible_limbs_are_skipped() -> None:
    truth = place(ROTATIONS["facing"], 3.0)
    k = CAMERAS["640x480"]
    uv, z_rel = observe(truth, k)
    # A relative depth difference longer than the limb: no root depth can make it that short,
    # so this limb's quadratic has a negative discriminant.
    z_rel[INDEX["right_wrist"]] = z_rel[INDEX["right_elbow"]] + 3.0

    result = lift_pose(uv, z_rel, np.ones(NUM_KEYPOINTS), k)

    assert result.ok
    assert_finite(result)


def test_every_limb_impossible_fails_cleanly() -> None:
    truth = place(ROTATIONS["facing"], 3.0)
    k = CAMERAS["640x480"]
    uv, _ = observe(truth, k)
    # Every limb's two ends differ in relative depth by >= 3 units, longer than any limb (<= 1).
    z_rel = 3.0 * np.arange(NUM_KEYPOINTS, dtype=np.float64)

    result = lift_pose(uv, z_rel, np.ones(NUM_KEYPOINTS), k)

    assert not result.ok
    assert np.all(result.xyz == 0.0)
    assert np.all(result.confidence == 0.0)
    assert np.isnan(result.root_depth)
    assert np.isnan(result.scale_mm)


def test_coincident_pixels_fail_cleanly() -> None:
    k = CAMERAS["640x480"]
    uv = np.tile([320.0, 240.0], (NUM_KEYPOINTS, 1))
    result = lift_pose(uv, np.zeros(NUM_KEYPOINTS), np.ones(NUM_KEYPOINTS), k)
    assert not result.ok
    assert_finite(result)


def test_all_zero_confidence_fails() -> None:
    truth = place(ROTATIONS["facing"], 3.0)
    k = CAMERAS["640x480"]
    uv, z_rel = observe(truth, k)
    calls: list[float] = []

    def record(depth: float) -> float:
        calls.append(depth)
        return depth

    result = lift_pose(uv, z_rel, np.zeros(NUM_KEYPOINTS), k, root_depth_filter=record)

    assert not result.ok
    assert np.all(result.confidence == 0.0)
    assert np.all(result.xyz == 0.0)
    assert calls == []  # nothing solved, nothing to smooth


def test_singular_intrinsics_fail_cleanly() -> None:
    truth = place(ROTATIONS["facing"], 3.0)
    uv, z_rel = observe(truth, CAMERAS["640x480"])
    for k in (np.zeros((3, 3)), np.full((3, 3), np.nan)):
        result = lift_pose(uv, z_rel, np.ones(NUM_KEYPOINTS), k)
        assert not result.ok
        assert_finite(result)


def test_wrong_shapes_are_rejected() -> None:
    k = CAMERAS["640x480"]
    with pytest.raises(ValueError, match="uv"):
        lift_pose(np.zeros((17, 2)), np.zeros(NUM_KEYPOINTS), np.ones(NUM_KEYPOINTS), k)


def test_root_depth_filter_is_called_and_its_value_used() -> None:
    truth = place(ROTATIONS["yaw_30_lean_forward_20"], 3.0)
    k = CAMERAS["1280x720"]
    uv, z_rel = observe(truth, k)
    solved_depth = truth[INDEX["pelvis"], 2] * 1000.0 / UNIT_MM
    seen: list[float] = []

    def push_back_one_unit(depth: float) -> float:
        seen.append(depth)
        return depth + 1.0

    result = lift_pose(uv, z_rel, np.ones(NUM_KEYPOINTS), k, root_depth_filter=push_back_one_unit)

    assert seen == [pytest.approx(solved_depth)]
    assert result.ok
    assert result.root_depth == pytest.approx(solved_depth + 1.0)
    # Every joint moved along its own ray: same pixels, larger depth by the relation P = r (z + Z).
    np.testing.assert_allclose(pinhole(result.xyz, k), uv, atol=1e-6)
    expected_depths = (z_rel + solved_depth + 1.0) * result.scale_mm / 1000.0
    np.testing.assert_allclose(result.xyz[:, 2], expected_depths, rtol=1e-9)
    assert max_error_mm(result, truth) > 10.0


def test_root_depth_filter_putting_the_body_behind_the_camera_fails() -> None:
    truth = place(ROTATIONS["facing"], 3.0)
    k = CAMERAS["640x480"]
    uv, z_rel = observe(truth, k)
    result = lift_pose(uv, z_rel, np.ones(NUM_KEYPOINTS), k, root_depth_filter=lambda z: -z)
    assert not result.ok
    assert_finite(result)


def test_joints_that_would_be_behind_the_camera_are_dropped() -> None:
    truth = place(ROTATIONS["facing"], 2.0)
    k = CAMERAS["640x480"]
    uv, z_rel = observe(truth, k)
    nose = INDEX["nose"]
    z_rel[nose] = -50.0  # 25 m in front of the pelvis: behind a camera 2 m away
    confidence = np.ones(NUM_KEYPOINTS)
    confidence[nose] = 0.0  # a distrusted outlier: it must not decide the depth either

    result = lift_pose(uv, z_rel, confidence, k)

    assert result.ok
    assert_finite(result)
    assert result.confidence[nose] == 0.0
    assert np.all(result.xyz[nose] == 0.0)
    others = np.arange(NUM_KEYPOINTS) != nose
    assert np.max(np.linalg.norm(result.xyz[others] - truth[others], axis=1)) * 1000.0 < 1.0


def test_closed_form_rays_match_the_general_solve() -> None:
    from bodypose3d_ros.core.lift.lifting import camera_rays

    rng = np.random.default_rng(5)
    uv = rng.uniform(-50, 1500, (34, 2))
    k = np.array([[910.0, 1.5, 641.0], [0.0, 905.0, 359.0], [0.0, 0.0, 1.0]])
    general = np.linalg.solve(k, np.column_stack([uv, np.ones(34)]).T).T
    np.testing.assert_allclose(camera_rays(uv, k), general / general[:, 2:3], rtol=1e-12)
    # A non-pinhole matrix takes the general path and agrees too.
    odd = k.copy()
    odd[2] = [0.001, 0.0, 1.0]
    general = np.linalg.solve(odd, np.column_stack([uv, np.ones(34)]).T).T
    np.testing.assert_allclose(camera_rays(uv, odd), general / general[:, 2:3], rtol=1e-9)


def test_batched_lift_equals_the_lift_person_by_person() -> None:
    k = CAMERAS["1280x720"]
    rng = np.random.default_rng(3)
    cases = []
    for i, (pose, depth) in enumerate(itertools.product(ROTATIONS, (2.0, 4.0))):
        uv, z_rel = observe(place(ROTATIONS[pose], depth), k)
        uv = uv + rng.normal(0.0, 2.0, uv.shape)  # a real model's noise
        confidence = rng.uniform(0.0, 1.0, NUM_KEYPOINTS)
        if i == 1:
            uv[5] = np.nan  # a bad joint
        if i == 2:
            confidence[:] = 0.0  # a person that cannot be lifted
        cases.append((uv, z_rel, confidence))
    uv_all, z_all, conf_all = (np.stack([c[j] for c in cases]) for j in range(3))
    halve = [None if i % 2 else (lambda depth: depth * 0.5) for i in range(len(cases))]

    batched = lift_poses(uv_all, z_all, conf_all, k, halve, min_confidence=0.2)

    assert len(batched) == len(cases)
    for (uv, z_rel, confidence), root_filter, got in zip(cases, halve, batched, strict=True):
        want = lift_pose(uv, z_rel, confidence, k, root_filter, min_confidence=0.2)
        assert got.ok == want.ok
        np.testing.assert_allclose(got.xyz, want.xyz, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(got.confidence, want.confidence)
        if want.ok:
            assert got.root_depth == pytest.approx(want.root_depth, rel=1e-12)
            assert got.scale_mm == pytest.approx(want.scale_mm, rel=1e-12)
    assert not batched[2].ok


def test_batched_lift_of_nobody_and_bad_shapes() -> None:
    k = CAMERAS["640x480"]
    empty = np.zeros((0, NUM_KEYPOINTS))
    assert lift_poses(np.zeros((0, NUM_KEYPOINTS, 2)), empty, empty, k) == []
    with pytest.raises(ValueError, match="uv must have shape"):
        lift_poses(np.zeros((NUM_KEYPOINTS, 2)), empty, empty, k)
