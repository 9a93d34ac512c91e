"""A person's distance across frames with and without depth: no jump when the source switches.

The real pipeline (tracking, smoothing, lift, fusion) is fed by an ideal pose model of a 0.6x
person standing still 2.07 m away: limb lengths put them 1/0.6 too far (3.45 m), the rendered
depth image at the truth. Frames without depth must neither jump back to 3.45 m nor stay on the
depth distance forever.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from test_depth_fusion import HEIGHT, WIDTH, K, ScriptedModel

from bodypose3d_ros.core.depth.depth_continuity import DEFAULT_BLEND_S, DEFAULT_HOLD_S
from bodypose3d_ros.core.depth.depth_fusion import CAUSE_FEW_PIXELS, measure_anchor
from bodypose3d_ros.core.depth.depth_image import DepthImage, depth_from_array
from bodypose3d_ros.core.people.tracking import TrackerParams
from bodypose3d_ros.core.pipeline import PipelineConfig, PosePipeline
from bodypose3d_ros.core.skeleton import INDEX
from bodypose3d_ros.testing.depth_scene import (
    as_pose25d,
    place,
    render_body_depth,
    standing_skeleton,
)

PELVIS = INDEX["pelvis"]
SIZE, DISTANCE_M = 0.6, 2.07
FRAME_S = 0.1  # 10 Hz, the rate the field measurement ran at
STEP_LIMIT = 0.10  # the pelvis distance may change by at most 10% between consecutive frames


def _still_scene(
    has_depth: list[bool], config: PipelineConfig | None = None
) -> tuple[list[float], list[str]]:
    """The pelvis distance and its source for each frame; frame i has depth iff has_depth[i]."""
    truth = place(standing_skeleton(SIZE), (0.1, 0.0, DISTANCE_M))
    rng = np.random.default_rng(3)
    model = ScriptedModel()
    model.poses = [as_pose25d(truth, K)]
    pipeline = PosePipeline(model, config or PipelineConfig(tracker=TrackerParams(min_hits=1)))
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    distances, sources = [], []
    for i, with_depth in enumerate(has_depth):
        depth: DepthImage | None = None
        if with_depth:  # a fresh noise draw per frame, as a sensor gives
            values = render_body_depth(truth, SIZE, K, (WIDTH, HEIGHT), rng=rng)
            depth = depth_from_array(values, "32FC1")
        (person,) = pipeline.process(image, K, i * FRAME_S, depth).people
        distances.append(float(person.xyz[PELVIS, 2]))
        sources.append(person.root_depth_source)
    return distances, sources


def _largest_step(distances: list[float]) -> float:
    return max(abs(b / a - 1.0) for a, b in itertools.pairwise(distances))


def test_one_depth_frame_in_three_missing_keeps_the_distance_still() -> None:
    pattern = [i % 3 != 2 for i in range(30)]
    distances, sources = _still_scene(pattern)
    assert _largest_step(distances) <= STEP_LIMIT
    # And it is the depth image's distance all along (within 5 cm), held on the missing frames.
    assert max(abs(d - DISTANCE_M) for d in distances) <= 0.05
    assert set(sources) == {"depth"}
    # What this guards against: without the carried ratio the distance jumps to limb lengths.
    old, old_sources = _still_scene(
        pattern,
        PipelineConfig(tracker=TrackerParams(min_hits=1), depth_hold_s=0.0, depth_blend_s=0.0),
    )
    assert _largest_step(old) > 0.4
    assert "limb_lengths" in old_sources


def test_depth_arriving_late_fades_in_and_ends_at_the_depth_distance() -> None:
    """A person first seen on limb lengths (depth not there yet) moves to the depth distance
    gradually, never by more than the fade allows per frame, and ends on it."""
    distances, sources = _still_scene([False] * 5 + [True] * 25)
    limb = distances[0]
    assert limb == pytest.approx(DISTANCE_M / SIZE, rel=0.02)
    assert sources[:5] == ["limb_lengths"] * 5
    assert set(sources[5:]) == {"depth"}
    per_frame = abs(math.log(DISTANCE_M / limb)) * (1.0 - math.exp(-FRAME_S / DEFAULT_BLEND_S))
    assert _largest_step(distances) <= math.exp(per_frame + 0.01) - 1.0
    assert abs(distances[-1] - DISTANCE_M) <= 0.05


def test_depth_gone_for_longer_than_the_hold_returns_to_limb_lengths_smoothly() -> None:
    held_frames = round(DEFAULT_HOLD_S / FRAME_S)
    distances, sources = _still_scene([True] * 5 + [False] * (held_frames + 30))
    assert set(sources[5 : 6 + held_frames - 1]) == {"depth"}  # carried for hold_s
    assert sources[-1] == "limb_lengths"  # then says so
    assert max(abs(d - DISTANCE_M) for d in distances[: 5 + held_frames]) <= 0.05
    assert distances[-1] == pytest.approx(DISTANCE_M / SIZE, rel=0.02)
    per_frame = abs(math.log(SIZE)) * (1.0 - math.exp(-FRAME_S / DEFAULT_BLEND_S))
    assert _largest_step(distances) <= math.exp(per_frame + 0.01) - 1.0


def test_a_depth_image_of_a_few_pixels_anchors_nobody() -> None:
    """A 3x2 depth image has the colour image's aspect ratio but too few pixels to measure a
    person: every window reads the same handful of pixels."""
    truth = place(standing_skeleton(SIZE), (0.1, 0.0, DISTANCE_M))
    pose = as_pose25d(truth, K)
    tiny = depth_from_array(np.full((2, 3), DISTANCE_M - 0.06, np.float32), "32FC1")
    anchor = measure_anchor(pose.uv, truth, pose.confidence, tiny, WIDTH, HEIGHT)
    assert not anchor.ok
    assert anchor.cause == CAUSE_FEW_PIXELS
    assert "3x2" in anchor.reason
    model = ScriptedModel()
    model.poses = [pose]
    pipeline = PosePipeline(model, PipelineConfig(tracker=TrackerParams(min_hits=1)))
    result = pipeline.process(np.zeros((HEIGHT, WIDTH, 3), np.uint8), K, 0.0, tiny)
    (person,) = result.people
    assert person.root_depth_source == "limb_lengths"
    assert [a.cause for a in result.depth_fallbacks] == [CAUSE_FEW_PIXELS]
    # The same scene at a quarter of the colour resolution still anchors: coarse is fine.
    quarter = render_body_depth(truth, SIZE, K, (WIDTH, HEIGHT), depth_size=(160, 120))
    coarse = measure_anchor(
        pose.uv, truth, pose.confidence, depth_from_array(quarter, "32FC1"), WIDTH, HEIGHT
    )
    assert coarse.ok
