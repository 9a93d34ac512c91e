"""Crowds, whole frames: what a frame of 8 to 30 people costs with the default max_pose_people.

    tools/with-env python -m bench.run --parts crowd

Part ``crowd`` measures the detector (``bench/crowd.py``); this adds the whole frame on the same
1920x1080 crowd frames: ``PosePipeline.process`` with every default (the embedded detector with
its crowd search, BlazePose, ``max_pose_people`` 8, smoothing, bone correction), the people
published (from the pose model, or from the detector's keypoints beyond ``max_pose_people``) and
how many of the pasted people were published exactly once. One pipeline per frame (tracking state
is per stream), each warmed up past ``track_min_hits``, then all measured in one interleaved loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.common import median_ms
from bodypose3d_ros.core.camera.intrinsics import default_intrinsics
from bodypose3d_ros.core.models.factory import create_model
from bodypose3d_ros.core.people.detectors.factory import create_detector
from bodypose3d_ros.core.people.tracking import TrackerParams
from bodypose3d_ros.core.pipeline import DEFAULT_MAX_POSE_PEOPLE, PipelineConfig, PosePipeline
from bodypose3d_ros.core.types import Box, Person3D
from bodypose3d_ros.testing.small_people import SmallPeopleFrame, hits

FRAME_PERIOD_S = 0.1


def keypoint_box(person: Person3D, min_confidence: float = 0.3) -> Box:
    """The box of the person's confident keypoints (where the published person is)."""
    uv = person.uv[person.confidence >= min_confidence]
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    return Box(float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))


def measure_crowd_frames(
    frames: dict[str, SmallPeopleFrame], reps: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Whole-frame medians, people published and published exactly once, keyed as ``frames``."""
    model = create_model("blazepose", None)
    detector = create_detector("movenet")
    assert detector is not None
    k = default_intrinsics(*frames[next(iter(frames))].image.shape[1::-1])
    pipelines = {key: PosePipeline(model, PipelineConfig(), detector) for key in frames}
    times: dict[str, list[float]] = {key: [] for key in frames}
    published: dict[str, int] = {}
    once: dict[str, int] = {}
    from_detector: dict[str, int] = {}
    warmup = TrackerParams().min_hits
    try:
        for i in range(warmup + reps):
            for key, frame in frames.items():  # interleaved: every count in the same state
                t0 = time.perf_counter()
                result = pipelines[key].process(frame.image, k, i * FRAME_PERIOD_S)
                elapsed = time.perf_counter() - t0
                if i >= warmup:
                    times[key].append(elapsed)
                boxes = [keypoint_box(p) for p in result.people]
                published[key] = len(result.people)
                once[key] = sum(1 for h in hits(frame.people, boxes) if h == 1)
                from_detector[key] = result.counts.from_detector
    finally:
        model.close()
        detector.close()
    frame_ms = {key: median_ms(samples) for key, samples in times.items()}
    for key in frames:
        log(f"   {key:>3s} people: whole frame {frame_ms[key]:6.1f} ms, published "
            f"{published[key]} ({once[key]} of {key} exactly once, {from_detector[key]} from "
            f"the detector's keypoints)")  # fmt: skip
    return {
        "max_pose_people": DEFAULT_MAX_POSE_PEOPLE,
        "frame_ms": frame_ms,
        "frame_to_8": {key: ms / frame_ms["8"] for key, ms in frame_ms.items()},
        "published": published,
        "published_once": once,
        "from_detector_keypoints": from_detector,
        "frame_repetitions": reps,
    }
