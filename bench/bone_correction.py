"""Metric 3D: what the bone-length correction adds per person, side by side with it off.

BlazePose's 2.5D pose of the photo's person is replayed (:class:`~bench.replay.ReplayPoseModel`)
through two pipelines that differ only in ``bone_length_correction``. Their ``process`` calls
alternate (which one goes first alternates too), so both run in the same machine state, and the
difference of their medians is what the correction costs per person and frame: estimating the
lengths, walking the tree and solving each bone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.common import Frame, median_ms
from bench.replay import ReplayPoseModel
from bodypose3d_ros.core.camera.intrinsics import default_intrinsics
from bodypose3d_ros.core.models.blazepose import BlazePoseModel
from bodypose3d_ros.core.pipeline import PipelineConfig, PosePipeline

FRAME_PERIOD_S = 1.0 / 30.0


def measure_bone_correction(
    photo: Frame, warmup: int, reps: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Median pipeline time (tracking + smoothing + lift) without and with bone correction."""
    height, width = photo.shape[:2]
    intrinsics = default_intrinsics(width, height)
    model = BlazePoseModel()
    try:
        poses = []
        for _ in range(3):  # the first call detects, later ones track: keep a tracked result
            poses = model.estimate(photo, [], intrinsics)
    finally:
        model.close()
    if not poses:
        raise SystemExit("BlazePose found nobody in the photo: bone correction needs one person")
    pipelines = {
        on: PosePipeline(ReplayPoseModel(poses[:1]), PipelineConfig(bone_length_correction=on))
        for on in (False, True)
    }
    samples: dict[bool, list[float]] = {False: [], True: []}
    for i in range(warmup + reps):
        for on in (False, True) if i % 2 else (True, False):
            start = time.perf_counter()
            pipelines[on].process(photo, intrinsics, i * FRAME_PERIOD_S)
            if i >= warmup:
                samples[on].append(time.perf_counter() - start)
    off_ms, on_ms = median_ms(samples[False]), median_ms(samples[True])
    log(f"  pipeline without / with bone correction: {off_ms * 1e3:.0f} / {on_ms * 1e3:.0f} us")
    return {
        "pipeline_us_without_bone_correction": off_ms * 1e3,
        "pipeline_us_with_bone_correction": on_ms * 1e3,
        "bone_correction_us_per_person": (on_ms - off_ms) * 1e3,
    }
