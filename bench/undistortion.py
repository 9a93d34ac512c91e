"""Part metric_3d (undistortion): what lens distortion adds to lifting one person.

BlazePose's keypoints on the photo are lifted over and over, in one interleaved loop, through
the closed-form pinhole rays (no distortion, today's path) and through each distortion model
(OpenCV's iterative undistortion). The extra cost per person is the difference of the medians.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bodypose3d_ros.core.camera.distortion import Distortion
from bodypose3d_ros.core.camera.intrinsics import default_intrinsics
from bodypose3d_ros.core.lift.lifting import lift_pose

# Realistic wide-angle calibrations (the ones the tests use).
LENSES: dict[str, Distortion | None] = {
    "none": None,
    "plumb_bob": Distortion("plumb_bob", (-0.2916, 0.0845, 0.0005, -0.0003, -0.0102)),
    "rational_polynomial": Distortion(
        "rational_polynomial", (0.4718, -0.0263, 0.0004, -0.0001, -0.0046, 0.8117, 0.0574, -0.0121)
    ),
    "equidistant": Distortion("equidistant", (-0.0074, 0.0436, -0.0415, 0.0077)),
}


def measure_undistortion(
    photo: np.ndarray, warmup: int, reps: int, log: Callable[[str], None]
) -> dict[str, Any]:
    from bodypose3d_ros.core.models.factory import create_model

    h, w = photo.shape[:2]
    intrinsics = default_intrinsics(w, h)
    model = create_model("blazepose", None)
    try:
        poses = model.estimate(photo, [], intrinsics)
    finally:
        model.close()
    if not poses:
        raise SystemExit("no person found on the benchmark photo")
    pose = poses[0]
    k = intrinsics.k
    calls = reps * 10  # a lift is ~0.1 ms: many calls for stable medians
    times: dict[str, list[float]] = {name: [] for name in LENSES}
    for i in range(warmup + calls):
        for name, lens in LENSES.items():
            t0 = time.perf_counter()
            lift_pose(pose.uv, pose.z_rel, pose.confidence, k, distortion=lens)
            elapsed = time.perf_counter() - t0
            if i >= warmup:
                times[name].append(elapsed * 1e6)
    lift_us = {name: float(np.median(values)) for name, values in times.items()}
    extra = {name: lift_us[name] - lift_us["none"] for name in LENSES if name != "none"}
    log(
        "   lift per person [us]: "
        + ", ".join(f"{name} {value:.1f}" for name, value in lift_us.items())
    )
    return {
        "undistortion_us_per_person": extra["plumb_bob"],
        "undistortion_us_per_person_by_model": extra,
        "lift_us_per_person_by_distortion": lift_us,
        "undistortion_calls": calls,
    }
