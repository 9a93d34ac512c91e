"""The one-way pipeline: image -> person boxes -> model (2.5D) -> smoothing -> 3D lift -> people.

Both backends plug in as a :class:`PoseModel`, so BodyPose3DNet and BlazePose produce the same
kind of metric camera-frame skeleton through the same lifting and smoothing code.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from bodypose3d_ros.core.bone_lengths import BoneLengthBank
from bodypose3d_ros.core.depth_fusion import DepthFusionConfig, anchor_person
from bodypose3d_ros.core.depth_image import DepthImage
from bodypose3d_ros.core.image_decode import check_size
from bodypose3d_ros.core.intrinsics import Intrinsics
from bodypose3d_ros.core.lifting import lift_pose
from bodypose3d_ros.core.smoothing import (
    ROOT_DEPTH_PARAMS,
    UV_PARAMS,
    Z_REL_PARAMS,
    OneEuroParams,
    SmootherBank,
)
from bodypose3d_ros.core.tracking import PersonTracker, TrackerParams
from bodypose3d_ros.core.types import Box, FloatArray, Person3D, Pose25D


class PoseModel(Protocol):
    """A model that turns an image (and where to look) into 2.5D keypoints in image pixels."""

    name: str

    @property
    def description(self) -> str:
        """What runs the model (engine, providers, version), for logs and diagnostics."""

    @property
    def precision(self) -> str:
        """Numeric precision the model runs at (fp32, fp16)."""

    def estimate(
        self, image_bgr: np.ndarray, boxes: Sequence[Box], intrinsics: Intrinsics
    ) -> list[Pose25D]: ...

    def reset(self) -> None:
        """Forget any state carried between frames (a model's own person tracking)."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class PipelineConfig:
    """Everything that shapes the pipeline besides the model itself."""

    smoothing: bool = True
    uv_filter: OneEuroParams = UV_PARAMS
    z_rel_filter: OneEuroParams = Z_REL_PARAMS
    root_depth_filter: OneEuroParams = ROOT_DEPTH_PARAMS
    tracker: TrackerParams = field(default_factory=TrackerParams)
    min_lift_confidence: float = 0.0
    depth_fusion: DepthFusionConfig = field(default_factory=DepthFusionConfig)
    bone_length_correction: bool = True


@dataclass
class FrameResult:
    """What one image produced: the people seen, the ids that just left, and stage timings.

    ``lift_failures`` counts people the model found but the lift could not place in 3D (absurd
    keypoints or intrinsics): they are left out of ``people`` rather than published as zeros.
    """

    people: list[Person3D]
    lost_ids: list[str]
    timings_ms: dict[str, float]
    lift_failures: int = 0


class PosePipeline:
    """Stateful per-stream pipeline: tracking and smoothing carry over from frame to frame."""

    def __init__(self, model: PoseModel, config: PipelineConfig | None = None) -> None:
        self.model = model
        self.config = config or PipelineConfig()
        self._tracker = PersonTracker(self.config.tracker)
        self._smoothers = self._new_smoother_bank()
        self._bones = BoneLengthBank(enabled=self.config.bone_length_correction)

    def _new_smoother_bank(self) -> SmootherBank:
        c = self.config
        return SmootherBank(
            uv=c.uv_filter, z_rel=c.z_rel_filter, root=c.root_depth_filter, enabled=c.smoothing
        )

    def process(
        self,
        image_bgr: np.ndarray,
        intrinsics: Intrinsics,
        stamp: float,
        depth: DepthImage | None = None,
    ) -> FrameResult:
        """Run one image through the pipeline; ``stamp`` (seconds) drives the smoothing filters.

        With a ``depth`` image registered to ``image_bgr``, each person is anchored at the measured
        distance (``depth_fusion``); without one, or where it has too little on a person, the
        limb-length lift's distance stays.

        Raises ImageDecodeError (a ValueError) for an image no model may see: a side of 32767 px
        or more aborts the process inside the model, whatever read the image (CLI, demo, node).
        """
        height, width = image_bgr.shape[:2]
        check_size(width, height, max_pixels=width * height)  # sides only: callers cap the area
        t0 = time.perf_counter()
        boxes = self._tracker.boxes_for_frame(width, height)
        poses = self.model.estimate(image_bgr, boxes, intrinsics)
        t1 = time.perf_counter()
        ids = self._tracker.update(poses)
        people: list[Person3D] = []
        lift_failures = 0
        for pose, person_id in zip(poses, ids, strict=True):
            if person_id:
                person = self._lift(pose, person_id, intrinsics, stamp)
                if person is None:
                    lift_failures += 1
                else:
                    people.append(person)
        lost = self._tracker.lost_ids
        self._smoothers.retain(self._tracker.active_ids)
        self._bones.retain(self._tracker.active_ids)
        t2 = time.perf_counter()
        timings = {"model": (t1 - t0) * 1e3, "lift": (t2 - t1) * 1e3}
        if depth is not None:
            people = [
                anchor_person(p, depth, width, height, self.config.depth_fusion)[0] for p in people
            ]
            timings["depth"] = (time.perf_counter() - t2) * 1e3
        return FrameResult(
            people=people, lost_ids=list(lost), timings_ms=timings, lift_failures=lift_failures
        )

    def _lift(
        self, pose: Pose25D, person_id: str, intrinsics: Intrinsics, stamp: float
    ) -> Person3D | None:
        """The person in metres, or None when the lift fails (never an all-zero skeleton)."""
        uv, z_rel = pose.uv, pose.z_rel
        smoother = self._smoothers.get(person_id)
        root_filter = None
        if smoother is not None:
            uv, z_rel = smoother.smooth_keypoints(uv, z_rel, stamp)
            root_filter = smoother.root_depth_filter(stamp)
        lifted = lift_pose(
            uv,
            z_rel,
            pose.confidence,
            intrinsics.k,
            root_depth_filter=root_filter,
            min_confidence=self.config.min_lift_confidence,
            distortion=intrinsics.distortion,
        )
        if not lifted.ok:
            return None
        person = Person3D(
            id=person_id,
            score=pose.score,
            box=pose.box,
            uv=np.asarray(uv, dtype=np.float64),
            xyz=lifted.xyz,
            confidence=lifted.confidence,
            root_depth=lifted.root_depth,
        )
        self._correct_bones(person)
        return person

    def _correct_bones(self, person: Person3D) -> None:
        """Give the person's bones their estimated lengths (joints stay on their rays)."""
        correction = self._bones.correct(person.id, person.xyz, person.confidence)
        if correction is not None and correction.corrected:
            person.xyz = correction.xyz
            person.extras["bones_unreachable"] = float(len(correction.unreachable))

    def bone_lengths(self, person_id: str) -> FloatArray | None:
        """The person's estimated bone lengths (m, ``bone_lengths.CORRECTED_BONES`` order)."""
        tracker = self._bones.get(person_id)
        return None if tracker is None else tracker.lengths.copy()

    def reset(self) -> None:
        """Forget every tracked person (e.g. after the camera stream changed)."""
        self._tracker.reset()
        self._smoothers = self._new_smoother_bank()
        self._bones.retain(())
        self.model.reset()

    def close(self) -> None:
        self.model.close()
