"""Extra cost of depth fusion per person, measured beside the same pipeline without it.

Synthetic people (the limb table's proportions, exact 2.5D poses replayed, so the model's cost is
out) stand 2-5 m away in a 640x480 frame with a rendered 16UC1 depth image. Every frame runs
twice, interleaved, in two pipelines: one never given depth, one given the depth image; the
difference per person is what anchoring costs. The fusion step alone (``anchor_person``) and
decoding the depth message payload are timed in the same loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.common import median_ms
from bench.replay import ReplayPoseModel
from bodypose3d_ros.core.camera.intrinsics import Intrinsics
from bodypose3d_ros.core.depth.depth_fusion import anchor_person
from bodypose3d_ros.core.depth.depth_image import decode_depth
from bodypose3d_ros.core.pipeline import PipelineConfig, PosePipeline
from bodypose3d_ros.testing.depth_scene import (
    as_pose25d,
    place,
    render_body_depth,
    standing_skeleton,
    to_16uc1,
)

WIDTH, HEIGHT = 640, 480
K = Intrinsics(fx=600.0, fy=600.0, cx=320.0, cy=240.0, source="arguments")
# Up to 8 people side by side at 2-5 m, adults and children.
PLACES = [(-1.9, 0.0, 4.5), (-1.1, 0.1, 3.0), (-0.4, 0.0, 2.2), (0.3, 0.2, 2.6),
          (0.9, 0.0, 3.4), (1.6, 0.1, 4.0), (2.2, 0.0, 5.0), (-2.6, 0.1, 5.0)]  # fmt: skip
SIZES = [1.0, 0.6, 1.05, 0.8, 0.95, 1.1, 0.7, 1.0]


def _scene(people: int) -> tuple[list[Any], np.ndarray]:
    truths = [place(standing_skeleton(s), p) for s, p in zip(SIZES[:people], PLACES, strict=False)]
    depth = np.full((HEIGHT, WIDTH), np.inf, np.float32)
    for i, (truth, size) in enumerate(zip(truths, SIZES, strict=False)):
        body = render_body_depth(truth, size, K, (WIDTH, HEIGHT), rng=np.random.default_rng(i))
        depth = np.where(body > 0, np.minimum(depth, body), depth)
    depth[~np.isfinite(depth)] = 0.0
    return [as_pose25d(t, K) for t in truths], to_16uc1(depth)


def measure_depth_fusion(warmup: int, reps: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Medians [us] of the pipeline with and without depth for 1 and 8 people, and the step."""
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    out: dict[str, Any] = {"resolution": f"{WIDTH}x{HEIGHT}", "depth_encoding": "16UC1"}
    for people in (1, 8):
        poses, depth_mm = _scene(people)
        payload = depth_mm.tobytes()
        # Two pipelines: one never sees depth (a pipeline that had would carry each person's
        # depth ratio over the frames without it, which is part of what depth costs).
        plain = PosePipeline(ReplayPoseModel(poses), PipelineConfig(smoothing=True))
        pipeline = PosePipeline(ReplayPoseModel(poses), PipelineConfig(smoothing=True))
        without: list[float] = []
        with_depth: list[float] = []
        step: list[float] = []
        decode: list[float] = []
        anchored = 0
        for i in range(warmup + reps):
            t0 = time.perf_counter()
            plain.process(image, K, i / 30.0)
            t1 = time.perf_counter()
            depth = decode_depth(payload, WIDTH, HEIGHT, 2 * WIDTH, "16UC1")
            t2 = time.perf_counter()
            result = pipeline.process(image, K, i / 30.0, depth)
            t3 = time.perf_counter()
            for person in result.people:
                anchor_person(person, depth, WIDTH, HEIGHT)
            t4 = time.perf_counter()
            if i >= warmup:
                without.append(t1 - t0)
                decode.append(t2 - t1)
                with_depth.append(t3 - t2)
                step.append((t4 - t3) / max(len(result.people), 1))
                anchored += sum(p.root_depth_source == "depth" for p in result.people)
        us = 1e3  # median_ms gives milliseconds
        row = {
            "pipeline_without_depth_us": median_ms(without) * us,
            "pipeline_with_depth_us": median_ms(with_depth) * us,
            # Paired: each frame's with-depth run minus its own no-depth run, then the median.
            "extra_us_per_person": median_ms(np.subtract(with_depth, without).tolist())
            * us
            / people,
            "anchor_step_us_per_person": median_ms(step) * us,
            "depth_decode_us_per_frame": median_ms(decode) * us,
            "people_anchored_per_frame": anchored / reps,
        }
        out[f"{people}_people" if people > 1 else "1_person"] = row
        log(f"  {people} person(s): +{row['extra_us_per_person']:.0f} us per person "
            f"({row['pipeline_without_depth_us']:.0f} -> {row['pipeline_with_depth_us']:.0f} us "
            f"a frame), anchoring step {row['anchor_step_us_per_person']:.0f} us")  # fmt: skip
    return out
