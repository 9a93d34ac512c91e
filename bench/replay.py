"""ReplayPoseModel: a PoseModel that replays precomputed results, so only our code is timed.

It is not a model. It hands back 2.5D poses that a real model produced earlier on the same frame,
which makes ``PosePipeline.process`` time exactly the pipeline's own work (tracking, One-Euro
smoothing, lifting) with the network's cost taken out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bodypose3d_ros.core.camera.intrinsics import Intrinsics
from bodypose3d_ros.core.people.detection import Detection
from bodypose3d_ros.core.types import Box, Pose25D


class ReplayPoseModel:
    """Returns the same precomputed poses on every call (the pipeline never modifies them)."""

    name = "replay"
    description = "replay of precomputed poses (no network)"
    precision = "n/a"

    def __init__(self, poses: Sequence[Pose25D]) -> None:
        self._poses = list(poses)
        self.calls = 0

    def estimate(
        self, image_bgr: np.ndarray, boxes: Sequence[Box], intrinsics: Intrinsics
    ) -> list[Pose25D]:
        self.calls += 1
        return list(self._poses)

    def reset(self) -> None:
        """Nothing to forget."""

    def close(self) -> None:
        """Nothing to release."""


class ReplayDetector:
    """A PersonDetector that returns the same boxes on every call (the people's known boxes).

    It is not a detector either: it stands for a detector's output, so the pipeline's own work
    for N people can be timed apart from a detector's cost (which does not grow with N).
    """

    name = "replay"
    description = "replay of known person boxes (no network)"

    def __init__(self, boxes: Sequence[Box], score: float = 0.9) -> None:
        self._detections = [Detection(box, score, None) for box in boxes]
        self.calls = 0

    def detect(self, image_bgr: np.ndarray, stamp: float) -> list[Detection]:
        self.calls += 1
        return list(self._detections)

    def close(self) -> None:
        """Nothing to release."""
