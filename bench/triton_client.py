"""One benchmark client process for the Triton part: the BodyPose3DNet path in a tight loop.

Loads the engine, warms up, prints ``ready``, waits for ``go`` on stdin (so every client starts
together), runs for ``--seconds`` and prints ``{"frames": N, "seconds": S}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.triton import SIZE, make_engine, people_boxes
from bodypose3d_ros.core.camera.intrinsics import default_intrinsics
from bodypose3d_ros.core.models.bodypose3dnet import BodyPose3DNetModel


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", required=True)
    parser.add_argument("--onnx", required=True, type=Path)
    parser.add_argument("--url", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--people", type=int, default=1)
    args = parser.parse_args(argv)
    frame = np.full((SIZE[1], SIZE[0], 3), 60, np.uint8)
    intrinsics = default_intrinsics(*SIZE)
    boxes = people_boxes(args.people)
    model = BodyPose3DNetModel(make_engine(args.engine, args.onnx, args.url))
    try:
        for _ in range(5):
            model.estimate(frame, boxes, intrinsics)
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            return 1
        frames = 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < args.seconds:
            model.estimate(frame, boxes, intrinsics)
            frames += 1
        print(json.dumps({"frames": frames, "seconds": elapsed}), flush=True)
    finally:
        model.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
