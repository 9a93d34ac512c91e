"""Depth fusion in the core: synthetic people of known size and distance, rendered depth images.

An ideal pose model (exact pixels and relative depths of a skeleton with the limb table's
proportions) feeds the real pipeline; the depth image is rendered from the same 3D truth with
noise, holes and a far background. The limb-length lift is exact for the table's adult and off by
the size ratio for anyone else; the depth image fixes that.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from bodypose3d_ros.core.camera.intrinsics import Intrinsics
from bodypose3d_ros.core.depth.depth_fusion import (
    CAUSES,
    TORSO_HALF_DEPTH_M,
    DepthFusionConfig,
    anchor_person,
    measure_anchor,
)
from bodypose3d_ros.core.depth.depth_image import DepthImage, depth_from_array
from bodypose3d_ros.core.lift.lifting import project
from bodypose3d_ros.core.people.tracking import TrackerParams
from bodypose3d_ros.core.pipeline import PipelineConfig, PosePipeline
from bodypose3d_ros.core.skeleton import INDEX
from bodypose3d_ros.core.types import Box, Pose25D
from bodypose3d_ros.testing.depth_scene import (
    as_pose25d,
    place,
    render_body_depth,
    standing_skeleton,
    to_16uc1,
)

WIDTH, HEIGHT = 640, 480
K = Intrinsics(fx=610.0, fy=605.0, cx=318.0, cy=243.0, source="arguments")
PELVIS = INDEX["pelvis"]
ADULT, CHILD = 1.0, 0.6
TOLERANCE_M = 0.05


# One frame per test: a person counts from the first sighting.
ONE_FRAME = PipelineConfig(smoothing=False, tracker=TrackerParams(min_hits=1))


class ScriptedModel:
    """A pose model that reports given 2.5D poses: the pipeline around it runs for real."""

    name = "scripted"
    description = "scripted poses"
    precision = "fp64"

    def __init__(self) -> None:
        self.poses: list[Pose25D] = []

    def estimate(self, image_bgr: np.ndarray, boxes: Sequence[Box], k: Intrinsics) -> list[Pose25D]:
        return list(self.poses)

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


def _scene(size: float, distance: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The true skeleton (pelvis ``distance`` m away, a little off-centre) and its depth image."""
    truth = place(standing_skeleton(size), (0.12, -0.05, distance))
    depth = render_body_depth(truth, size, K, (WIDTH, HEIGHT), rng=np.random.default_rng(seed))
    return truth, depth


def _run(truth: np.ndarray, depth: DepthImage | None) -> tuple[np.ndarray, str]:
    model = ScriptedModel()
    model.poses = [as_pose25d(truth, K)]
    pipeline = PosePipeline(model, ONE_FRAME)
    result = pipeline.process(np.zeros((HEIGHT, WIDTH, 3), np.uint8), K, 0.0, depth)
    (person,) = result.people
    return person.xyz, person.root_depth_source


@pytest.mark.parametrize("distance", [1.5, 3.0, 5.0])
@pytest.mark.parametrize("size", [ADULT, CHILD])
@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_depth_puts_the_pelvis_at_the_true_distance_where_limb_lengths_cannot(
    size: float, distance: float, encoding: str
) -> None:
    truth, depth_m = _scene(size, distance)
    values = to_16uc1(depth_m) if encoding == "16UC1" else depth_m
    lifted, lifted_source = _run(truth, None)
    fused, fused_source = _run(truth, depth_from_array(values, encoding))
    assert (lifted_source, fused_source) == ("limb_lengths", "depth")
    true_z = truth[PELVIS, 2]
    # The limb-length lift assumes the table's adult: right for the adult, 1/size too far else.
    assert lifted[PELVIS, 2] / true_z == pytest.approx(1.0 / size, rel=1e-6)
    # The depth image puts the pelvis within 5 cm of the truth: the surface seen is the front of
    # the torso, about TORSO_HALF_DEPTH_M x size in front of the joints, and that is accounted for.
    assert abs(fused[PELVIS, 2] - true_z) <= TOLERANCE_M
    # The shape is the model's: the whole skeleton scales, every joint within 5 cm of the truth.
    assert np.abs(fused - truth).max() <= TOLERANCE_M
    # Scaled about the camera centre: every joint reprojects onto the same pixel.
    np.testing.assert_allclose(project(fused, K.k), project(lifted, K.k), atol=1e-6)


def test_without_the_surface_offset_the_pelvis_would_sit_on_the_skin() -> None:
    """The surface offset matters: set to zero, the pelvis lands on the body's front surface."""
    truth, depth_m = _scene(ADULT, 3.0)
    pose = as_pose25d(truth, K)
    depth = depth_from_array(depth_m, "32FC1")
    on_skin = measure_anchor(
        pose.uv, truth, pose.confidence, depth, WIDTH, HEIGHT,
        DepthFusionConfig(surface_to_joint_m=0.0),
    )  # fmt: skip
    inside = measure_anchor(pose.uv, truth, pose.confidence, depth, WIDTH, HEIGHT)
    assert on_skin.ok
    assert inside.ok
    assert truth[PELVIS, 2] - on_skin.pelvis_depth_m > 0.6 * TORSO_HALF_DEPTH_M
    assert abs(inside.pelvis_depth_m - truth[PELVIS, 2]) <= 0.02


def test_depth_image_of_another_resolution_is_scaled_to_the_keypoints() -> None:
    truth, _ = _scene(CHILD, 3.0)
    half = render_body_depth(
        truth, CHILD, K, (WIDTH, HEIGHT), (WIDTH // 2, HEIGHT // 2), np.random.default_rng(3)
    )
    fused, source = _run(truth, depth_from_array(to_16uc1(half), "16UC1"))
    assert source == "depth"
    assert abs(fused[PELVIS, 2] - truth[PELVIS, 2]) <= TOLERANCE_M


def test_background_behind_the_silhouette_and_an_arm_in_front_are_rejected() -> None:
    """Windows on the hips and shoulders see past the body's edge; a forearm crosses the belly."""
    truth, depth_m = _scene(ADULT, 3.0, seed=5)
    pose = as_pose25d(truth, K)
    u, v = pose.uv[PELVIS]
    depth_m[int(v) - 4 : int(v) + 5, int(u) - 40 : int(u) + 40] = truth[PELVIS, 2] - 0.35
    anchor = measure_anchor(
        pose.uv, truth, pose.confidence, depth_from_array(depth_m, "32FC1"), WIDTH, HEIGHT
    )
    assert anchor.ok
    assert anchor.kept_samples < anchor.valid_samples  # background and arm were dropped
    assert abs(anchor.pelvis_depth_m - truth[PELVIS, 2]) <= TOLERANCE_M


@pytest.mark.parametrize(
    "damage", ["all holes", "nan", "far wall only", "torso unseen", "not a person"]
)
def test_too_little_valid_depth_falls_back_to_the_limb_lengths(damage: str) -> None:
    truth, depth_m = _scene(CHILD, 1.5)
    pose = as_pose25d(truth, K)
    if damage == "all holes":
        values = np.zeros_like(to_16uc1(depth_m))
        depth = depth_from_array(values, "16UC1")
    elif damage == "nan":
        depth = depth_from_array(np.full_like(depth_m, np.nan), "32FC1")
    elif damage == "far wall only":  # 30 m: past the sensor's range, no measurement
        depth = depth_from_array(np.full_like(depth_m, 30.0), "32FC1")
    elif damage == "torso unseen":  # the torso keypoints are not confident
        pose.confidence[[0, 1, 2, 3, 20, 21]] = 0.1
        depth = depth_from_array(depth_m, "32FC1")
    else:  # a wall 0.2 m away: a "person" 0.13x the table's size is no person
        depth = depth_from_array(np.full_like(depth_m, 0.2), "32FC1")
    model = ScriptedModel()
    model.poses = [pose]
    pipeline = PosePipeline(model, ONE_FRAME)
    result = pipeline.process(np.zeros((HEIGHT, WIDTH, 3), np.uint8), K, 0.0, depth)
    (person,) = result.people
    assert person.root_depth_source == "limb_lengths"
    assert person.xyz[PELVIS, 2] == pytest.approx(truth[PELVIS, 2] / CHILD, rel=1e-6)
    anchored, anchor = anchor_person(person, depth, WIDTH, HEIGHT)
    assert anchored is person
    assert not anchor.ok
    assert anchor.reason
    assert anchor.cause in CAUSES
    assert [a.cause for a in result.depth_fallbacks] == [anchor.cause]


def test_two_people_each_get_their_own_distance() -> None:
    adult = place(standing_skeleton(ADULT), (-0.8, 0.0, 4.0))
    child = place(standing_skeleton(CHILD), (0.5, 0.3, 2.0))
    depth = np.minimum(
        render_body_depth(adult, ADULT, K, (WIDTH, HEIGHT), rng=np.random.default_rng(1)),
        render_body_depth(child, CHILD, K, (WIDTH, HEIGHT), rng=np.random.default_rng(2)),
    )
    model = ScriptedModel()
    model.poses = [as_pose25d(adult, K), as_pose25d(child, K)]
    pipeline = PosePipeline(model, ONE_FRAME)
    result = pipeline.process(
        np.zeros((HEIGHT, WIDTH, 3), np.uint8), K, 0.0, depth_from_array(depth, "32FC1")
    )
    assert len(result.people) == 2
    assert "depth" in result.timings_ms
    by_x = sorted(result.people, key=lambda p: p.xyz[PELVIS, 0])
    for person, truth in zip(by_x, (adult, child), strict=True):
        assert person.root_depth_source == "depth"
        assert abs(person.xyz[PELVIS, 2] - truth[PELVIS, 2]) <= TOLERANCE_M


@pytest.mark.parametrize("size", [ADULT, CHILD])
def test_the_synthetic_person_has_the_limb_tables_proportions_times_its_size(size: float) -> None:
    from bodypose3d_ros.core.skeleton import LIMB_JOINTS, LIMB_LENGTHS_MM

    xyz = standing_skeleton(size)
    lengths = np.linalg.norm(xyz[LIMB_JOINTS[:, 0]] - xyz[LIMB_JOINTS[:, 1]], axis=1)
    np.testing.assert_allclose(lengths, size * LIMB_LENGTHS_MM / 1000.0, rtol=1e-5)
