"""Draw docs/images/crowd_overlay.jpg: a 1920x1080 crowd of 30 real people, as the node sees it.

    tools/with-env python tools/draw_crowd_frame.py [--people N] [--out FILE.jpg]

The frame is the benchmark's crowd (``bench.crowd``: people cut from the real photos standing in
rows). It runs through the default pipeline (MoveNet with its crowd search, the tracker,
BlazePose for the ``max_pose_people`` nearest, everyone else from the detector's keypoints) for
three frames, so everyone is confirmed, and the last frame's overlay is written, halved.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import cv2

from bench.crowd import crowd_frames
from bodypose3d_ros.core.camera.intrinsics import default_intrinsics
from bodypose3d_ros.core.models.factory import create_model
from bodypose3d_ros.core.output.drawing import draw_overlay
from bodypose3d_ros.core.people.detectors.factory import create_detector
from bodypose3d_ros.core.pipeline import PipelineConfig, PosePipeline

FRAMES = 3  # the tracker's default min_hits: everyone is published from the third frame


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", default="30", choices=["8", "12", "24", "30"])
    parser.add_argument("--out", type=Path, default=Path("docs/images/crowd_overlay.jpg"))
    args = parser.parse_args(argv)
    frame = crowd_frames()[args.people]
    height, width = frame.image.shape[:2]
    k = default_intrinsics(width, height)
    pipeline = PosePipeline(create_model("blazepose"), PipelineConfig(), create_detector("movenet"))
    try:
        for i in range(FRAMES):
            result = pipeline.process(frame.image, k, i / 10)
    finally:
        pipeline.close()
    overlay = draw_overlay(frame.image, result.people)
    small = cv2.resize(overlay, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), small, [cv2.IMWRITE_JPEG_QUALITY, 85])
    sources = [person.keypoint_source for person in result.people]
    print(
        f"{args.out}: {len(sources)} of {args.people} people published, "
        f"{sources.count('pose_model')} by the pose model, "
        f"{sources.count('detector')} from the detector's keypoints"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
