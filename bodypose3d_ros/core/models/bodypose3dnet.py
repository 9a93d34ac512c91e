"""NVIDIA BodyPose3DNet as a :class:`~bodypose3d_ros.core.pipeline.PoseModel`.

Crops every person, runs the network once for all of them (the engine splits batches larger
than its maximum) and maps the ``pose25d`` output back to image pixels. The network's own
``pose3d`` is not used: the pipeline lifts ``pose25d`` itself, as NVIDIA's app does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from bodypose3d_ros.core.camera.intrinsics import Intrinsics
from bodypose3d_ros.core.engines.base import InferenceEngine, Interruptible
from bodypose3d_ros.core.models.bodypose3dnet_crop import (
    CROP_HEIGHT,
    CROP_WIDTH,
    K_INV_MODES,
    NORMALIZATIONS,
    prepare_batch,
)
from bodypose3d_ros.core.skeleton import BODY_JOINTS, NUM_KEYPOINTS
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
        # Decoded for the whole batch at once (the same arithmetic as ``crop_to_image`` and
        # ``person_score`` person by person); each person then takes rows of these arrays.
        crops = batch.crops
        scale = np.array([[c.width / CROP_WIDTH, c.height / CROP_HEIGHT] for c in crops])
        offset = np.array([[c.x, c.y] for c in crops])
        uv = np.asarray(pose25d[:, :, :2], dtype=np.float64) * scale[:, None] + offset[:, None]
        z_rel = pose25d[:, :, 2].astype(np.float64)
        confidences = np.nan_to_num(np.clip(pose25d[:, :, 3], 0.0, 1.0), nan=0.0).astype(np.float64)
        scores = confidences[:, BODY_JOINTS].mean(axis=1).tolist()
        return [
            Pose25D(uv=uv[i], z_rel=z_rel[i], confidence=confidences[i], box=crop, score=score)
            for i, (crop, score) in enumerate(zip(crops, scores, strict=True))
        ]

    @property
    def description(self) -> str:
        """The engine in use, for logs and diagnostics."""
        return self.engine.description

    @property
    def precision(self) -> str:
        return self.engine.precision

    def reset(self) -> None:
        """Nothing to forget: every call is independent (tracking lives in the pipeline)."""

    def interrupt(self) -> None:
        """End a wait on a remote engine's answer (Triton); a local engine has none."""
        if isinstance(self.engine, Interruptible):
            self.engine.interrupt()

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
