"""NVIDIA BodyPose3DNet as a :class:`~bodypose3d_ros.core.pipeline.PoseModel`.

Crops every person, runs the network once for all of them (the engine splits batches larger
than its maximum) and maps the ``pose25d`` output back to image pixels. The network's own
``pose3d`` is not used: the pipeline lifts ``pose25d`` itself, as NVIDIA's app does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from bodypose3d_ros.core.crop import K_INV_MODES, NORMALIZATIONS, crop_to_image, prepare_batch
from bodypose3d_ros.core.engines.base import InferenceEngine
from bodypose3d_ros.core.intrinsics import Intrinsics
from bodypose3d_ros.core.skeleton import NUM_KEYPOINTS, person_score
from bodypose3d_ros.core.types import Box, Pose25D

POSE25D: str = "pose25d"


class ModelOutputError(RuntimeError):
    """The engine returned outputs that are not BodyPose3DNet's (wrong model or engine)."""


class BodyPose3DNetModel:
    """Person boxes + image -> one :class:`Pose25D` per box, keypoints in image pixels."""

    name: str = "bodypose3dnet"

    def __init__(
        self,
        engine: InferenceEngine,
        normalization: str = "bgr_unit",
        k_inv_mode: str = "crop_camera",
    ) -> None:
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"unknown normalization {normalization!r}; valid: {', '.join(NORMALIZATIONS)}"
            )
        if k_inv_mode not in K_INV_MODES:
            raise ValueError(f"unknown k_inv_mode {k_inv_mode!r}; valid: {', '.join(K_INV_MODES)}")
        self.engine = engine
        self.normalization = normalization
        self.k_inv_mode = k_inv_mode
        # The raw outputs of the latest call, for diagnostics and tests.
        self.last_outputs: dict[str, npt.NDArray[np.float32]] = {}

    def estimate(
        self, image_bgr: np.ndarray, boxes: Sequence[Box], intrinsics: Intrinsics
    ) -> list[Pose25D]:
        """2.5D keypoints for every box; ``box`` of each result is the crop the model saw."""
        if not boxes:
            self.last_outputs = {}
            return []
        batch = prepare_batch(
            image_bgr, boxes, intrinsics.k, self.normalization, k_inv_mode=self.k_inv_mode
        )
        outputs = self.engine.run(batch.feeds())
        self.last_outputs = outputs
        pose25d = _checked_pose25d(outputs, len(batch))
        poses = []
        for row, crop in zip(pose25d, batch.crops, strict=True):
            confidence = np.nan_to_num(np.clip(row[:, 3], 0.0, 1.0), nan=0.0).astype(np.float64)
            poses.append(
                Pose25D(
                    uv=crop_to_image(row[:, :2], crop),
                    z_rel=row[:, 2].astype(np.float64),
                    confidence=confidence,
                    box=crop,
                    score=person_score(confidence),
                )
            )
        return poses

    @property
    def description(self) -> str:
        """The engine in use, for logs and diagnostics."""
        return self.engine.description

    @property
    def precision(self) -> str:
        return self.engine.precision

    def reset(self) -> None:
        """Nothing to forget: every call is independent (tracking lives in the pipeline)."""

    def close(self) -> None:
        self.engine.close()


def _checked_pose25d(
    outputs: dict[str, npt.NDArray[np.float32]], rows: int
) -> npt.NDArray[np.float32]:
    """The ``pose25d`` output as (rows, 34, 4), or a ModelOutputError saying what came back."""
    if POSE25D not in outputs:
        raise ModelOutputError(
            f"the engine returned no {POSE25D!r} output (got: {', '.join(outputs) or 'nothing'}); "
            "model_path must point to a BodyPose3DNet model"
        )
    pose25d = np.asarray(outputs[POSE25D], dtype=np.float32)
    expected = (rows, NUM_KEYPOINTS, 4)
    if pose25d.shape != expected:
        raise ModelOutputError(
            f"the engine's {POSE25D!r} output has shape {pose25d.shape}, expected {expected} "
            "(rows, keypoints, [x, y, zRel, confidence]); model_path must point to a "
            "BodyPose3DNet model"
        )
    return pose25d
