"""Part 3: BodyPose3DNet's path at batch 1 vs batch 8 through ONNX Runtime, per person.

The network is the contract TEST FIXTURE (``bodypose3d_ros.testing.contract_model``): a tiny
graph with BodyPose3DNet's exact inputs and outputs, NOT a pose model (the real weights are not
redistributable). Its own compute is small, so these numbers show what batching saves in our
plumbing (crop + normalise, the engine call, mapping keypoints back) and in per-call runtime
overhead, not the real network's speed. Each timing is a full ``BodyPose3DNetModel.estimate``
call; crop and engine are also timed on their own in the same loop.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import Frame, crowd, median_ms, resized, resolution_key
from bodypose3d_ros.core.camera.intrinsics import default_intrinsics
from bodypose3d_ros.core.engines.onnxruntime_engine import OnnxRuntimeEngine
from bodypose3d_ros.core.models.blazepose import BlazePoseModel
from bodypose3d_ros.core.models.bodypose3dnet import BodyPose3DNetModel
from bodypose3d_ros.core.models.bodypose3dnet_crop import prepare_batch
from bodypose3d_ros.core.types import Box
from bodypose3d_ros.testing.contract_model import write_contract_model

BATCH_SIZES = (1, 8)
SIZE = (1280, 720)


def _person_boxes(frame: Frame, count: int) -> list[Box]:
    """Boxes around the photo's person (found by BlazePose), repeated side by side."""
    model = BlazePoseModel()
    try:
        intrinsics = default_intrinsics(frame.shape[1], frame.shape[0])
        poses = model.estimate(frame, [], intrinsics)
    finally:
        model.close()
    if not poses:
        raise SystemExit("BlazePose found nobody in the photo: batching needs a person box")
    return [p.box for p in crowd(poses[0], count, frame.shape[1])]


def measure_batching(
    photo: Frame, warmup: int, reps: int, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Per-call and per-person medians (ms) at each batch size, interleaved in one loop."""
    frame = resized(photo, SIZE)
    intrinsics = default_intrinsics(*SIZE)
    boxes = _person_boxes(frame, max(BATCH_SIZES))
    with tempfile.TemporaryDirectory(prefix="bodypose3d_bench_") as tmp:
        path = write_contract_model(Path(tmp) / "contract_fixture.onnx")
        engine = OnnxRuntimeEngine(path, max_batch_size=max(BATCH_SIZES))
        model = BodyPose3DNetModel(engine)
        log(f"  batching: {engine.description}, batches {BATCH_SIZES}, {reps} calls each")
        samples: dict[int, dict[str, list[float]]] = {
            n: {"call": [], "crop": [], "engine": []} for n in BATCH_SIZES
        }
        for i in range(warmup + reps):
            for n in BATCH_SIZES:  # interleaved: both batch sizes see the same machine state
                chosen = boxes[:n]
                t0 = time.perf_counter()
                poses = model.estimate(frame, chosen, intrinsics)
                t1 = time.perf_counter()
                batch = prepare_batch(frame, chosen, intrinsics.k)
                t2 = time.perf_counter()
                engine.run(batch.feeds())
                t3 = time.perf_counter()
                if len(poses) != n:
                    raise RuntimeError(f"batch of {n} returned {len(poses)} poses")
                if i >= warmup:
                    samples[n]["call"].append(t1 - t0)
                    samples[n]["crop"].append(t2 - t1)
                    samples[n]["engine"].append(t3 - t2)
        description = engine.description
        model.close()
    results: dict[str, Any] = {
        "network": "contract TEST FIXTURE (BodyPose3DNet's I/O, not a pose model)",
        "engine": description,
        "resolution": resolution_key(SIZE),
    }
    for n in BATCH_SIZES:
        call_ms = median_ms(samples[n]["call"])
        results[f"batch{n}"] = {
            "call_ms": call_ms,
            "per_person_ms": call_ms / n,
            "crop_ms": median_ms(samples[n]["crop"]),
            "engine_ms": median_ms(samples[n]["engine"]),
        }
    return results
