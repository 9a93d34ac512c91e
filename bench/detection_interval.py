"""What ``detection_interval`` costs and saves: two real people crossing, detected every N frames.

    tools/with-env python -m bench.detection_interval [N ...]      (default: 1 2 3 5)

The sequence: bus.jpg's two full people (cut out, 560 px tall) walk towards each other across a
blurred 1280x720 background at 30 Hz, the second passing in front of the first, which is hidden
for several frames (``bodypose3d_ros.testing.walkers``). For each interval the embedded MoveNet
and BlazePose run the sequence twice; printed: the median frame time, how often the detector
ran, on how many frames where the two are apart both were published, and the ids each one got
(one id per person per pass is right; a second pass starts after a time jump, so new ids).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from bodypose3d_ros.core.camera.intrinsics import default_intrinsics
from bodypose3d_ros.core.models.factory import create_model
from bodypose3d_ros.core.people.detectors.factory import create_detector
from bodypose3d_ros.core.pipeline import PipelineConfig, PosePipeline
from bodypose3d_ros.testing.walkers import SIZE, owner, scene, walkers

PHOTO = Path(__file__).resolve().parent.parent / ".cache" / "data" / "bus.jpg"
STEPS = 60
PASSES = 2


def main(argv: Sequence[str] | None = None) -> int:
    intervals = [int(v) for v in (sys.argv[1:] if argv is None else argv)] or [1, 2, 3, 5]
    photo = cv2.imread(str(PHOTO))
    if photo is None:
        raise SystemExit(f"{PHOTO} missing: tools/setup-env fetches it")
    a, b, background = walkers(np.asarray(photo, dtype=np.uint8))
    frames = []
    for t in range(STEPS):
        xa, xb = 150.0 + t * 700.0 / STEPS, 950.0 - t * 700.0 / STEPS
        places = {"a": (a, xa), "b": (b, xb)}
        apart = abs(xa - xb) > max(a.width, b.width)
        frames.append((scene(background, [(a, xa), (b, xb)]), places, apart))
    model = create_model("blazepose", None)
    detector = create_detector("movenet")
    assert detector is not None
    k = default_intrinsics(*SIZE)
    try:
        for interval in intervals:
            pipeline = PosePipeline(model, PipelineConfig(detection_interval=interval), detector)
            ids: dict[str, set[str]] = {"a": set(), "b": set()}
            frame_s, detector_ms = [], []
            both = apart_frames = 0
            for run in range(PASSES):
                for i, (image, places, apart) in enumerate(frames):
                    t0 = time.perf_counter()
                    result = pipeline.process(image, k, 100.0 * run + i / 30.0)
                    frame_s.append(time.perf_counter() - t0)
                    if result.detector_ran:
                        detector_ms.append(result.timings_ms["detector"])
                    if apart and i >= 9:  # confirmed by then at any interval measured
                        apart_frames += 1
                        both += len(result.people) == 2
                        for person in result.people:
                            name = owner(person.uv[person.confidence >= 0.5], places)
                            if name is not None:
                                ids[name].add(person.id)
            print(
                f"detection_interval {interval}: frame {np.median(frame_s) * 1e3:.1f} ms "
                f"(median), detector {np.median(detector_ms):.1f} ms x {len(detector_ms)} runs, "
                f"both published on {both}/{apart_frames} frames apart, "
                f"ids a {sorted(ids['a'])} b {sorted(ids['b'])}",
                flush=True,
            )
    finally:
        model.close()
        detector.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
