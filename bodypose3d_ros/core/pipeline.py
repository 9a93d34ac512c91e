"""The one-way pipeline: image -> detector -> tracker -> crops -> model -> smoothing -> 3D lift.

Both backends plug in as a :class:`PoseModel` and every detector as a
:class:`~bodypose3d_ros.core.people.detection.PersonDetector`, so BodyPose3DNet and BlazePose
produce the same kind of metric camera-frame skeletons through the same tracking, lifting and
smoothing code. Each frame makes one ``estimate`` call for everyone tracked (BodyPose3DNet
batches them; the engine splits batches larger than its maximum) and one batched lift.

Without a detector the model itself finds the person: it looks at the whole image until someone
is seen, then at the crop that follows their keypoints (one person, close range). With one, the
detector runs every ``detection_interval``-th frame; the frames between follow the tracked
people's predicted crops, and any frame with nobody followed runs the detector again. On a
detector frame, a published person the detector missed is also looked for in their followed crop
(the tracker takes that pose only when it is provably them).

Everyone the detector reports and the tracker confirms is published. At most ``max_pose_people``
crops a frame go to the model (``pose_budget``: published people, then the nearest, first); a
person beyond that, or one the model finds nobody in, is published from the detector's own
keypoints (``detector_keypoints``, ``keypoint_source`` "detector"), under the same id. Those
poses have their own smoothing filters and distance continuity and never feed the bone-length
estimates: their flat, depth-less skeletons would drag the model's values. A frame after one that
published such a person, or with more people to follow than ``max_pose_people``, runs the
detector whatever ``detection_interval`` says: only the detector sees those people.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

import numpy as np
from scipy.optimize import linear_sum_assignment

from bodypose3d_ros.core.camera.intrinsics import Intrinsics
from bodypose3d_ros.core.depth.depth_continuity import (
    DEFAULT_BLEND_S,
    DEFAULT_HOLD_S,
    DepthContinuity,
)
from bodypose3d_ros.core.depth.depth_fusion import DepthAnchor, DepthFusionConfig, measure_anchor
from bodypose3d_ros.core.depth.depth_image import DepthImage
from bodypose3d_ros.core.engines.base import Interruptible
from bodypose3d_ros.core.image.image_decode import check_size
from bodypose3d_ros.core.lift.bone_lengths import BoneLengthBank
from bodypose3d_ros.core.lift.lifting import lift_poses
from bodypose3d_ros.core.lift.smoothing import (
    ROOT_DEPTH_PARAMS,
    UV_PARAMS,
    Z_REL_PARAMS,
    OneEuroParams,
    PersonSmoother,
    SmootherBank,
)
from bodypose3d_ros.core.people.detection import Detection, PersonDetector
from bodypose3d_ros.core.people.pose_budget import box_distance, budget_pose_model
from bodypose3d_ros.core.people.tracking import PersonTracker, Target, TrackerParams, iou_matrix
from bodypose3d_ros.core.skeleton import NUM_KEYPOINTS
from bodypose3d_ros.core.types import (
    KEYPOINT_SOURCE_DETECTOR,
    Box,
    FloatArray,
    HintedBox,
    PeopleCounts,
    Person3D,
    Pose25D,
)

# How much the overlap of a pose's keypoint box with a crop counts beside the share of its
# keypoints inside that crop, when poses are paired with crops: enough to decide between nested
# crops that both hold all of a pose, too little to outweigh where its keypoints are.
_BOX_FIT_WEIGHT: Final = 0.1
# People per frame given the full pose model by default. 8 keeps a crowd frame's cost near an
# 8-person frame's (the rest cost a lift each, no model crop) and fits one BodyPose3DNet batch.
DEFAULT_MAX_POSE_PEOPLE: Final = 8
# Its bounds: 0 publishes everyone from the detector's keypoints; more than 64 full skeletons a
# frame is beyond any CPU or GPU budget this package runs in.
MAX_POSE_PEOPLE_RANGE: Final = (0, 64)


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
    """Everything that shapes the pipeline besides the model and the detector themselves."""

    smoothing: bool = True
    uv_filter: OneEuroParams = UV_PARAMS
    z_rel_filter: OneEuroParams = Z_REL_PARAMS
    root_depth_filter: OneEuroParams = ROOT_DEPTH_PARAMS
    tracker: TrackerParams = field(default_factory=TrackerParams)
    min_lift_confidence: float = 0.0
    depth_fusion: DepthFusionConfig = field(default_factory=DepthFusionConfig)
    depth_hold_s: float = DEFAULT_HOLD_S
    depth_blend_s: float = DEFAULT_BLEND_S
    bone_length_correction: bool = True
    detection_interval: int = 1
    max_pose_people: int = DEFAULT_MAX_POSE_PEOPLE


@dataclass
class FrameResult:
    """What one image produced: the people seen, the ids that just left, and stage timings.

    ``timings_ms`` has ``detector`` (0 when it did not run), ``model`` and ``lift`` (tracking,
    smoothing and lifting); ``tracked`` is how many published people are being tracked (seen
    now or coasting). ``lift_failures`` counts people the model found but the lift could not
    place in 3D (absurd keypoints or intrinsics): they are left out of ``people`` rather than
    published as zeros. ``depth_fallbacks`` are the depth measurements of this frame that failed
    (each says why), one per person the depth image could not anchor. ``counts`` says how many
    people were detected, fitted by the model, published from detector keypoints and dropped.
    """

    people: list[Person3D]
    lost_ids: list[str]
    timings_ms: dict[str, float]
    tracked: int = 0
    detector_ran: bool = False
    lift_failures: int = 0
    depth_fallbacks: list[DepthAnchor] = field(default_factory=list)
    counts: PeopleCounts = field(default_factory=PeopleCounts)


class PosePipeline:
    """Stateful per-stream pipeline: tracking and smoothing carry over from frame to frame."""

    def __init__(
        self,
        model: PoseModel,
        config: PipelineConfig | None = None,
        detector: PersonDetector | None = None,
    ) -> None:
        self.model = model
        self.detector = detector
        self.config = config or PipelineConfig()
        if self.config.detection_interval < 1:
            raise ValueError(
                f"detection_interval must be >= 1, got {self.config.detection_interval}"
            )
        low, high = MAX_POSE_PEOPLE_RANGE
        if not low <= self.config.max_pose_people <= high:
            raise ValueError(
                f"max_pose_people must be within {low}..{high}, got {self.config.max_pose_people}"
            )
        self._tracker = PersonTracker(self.config.tracker)
        self._tracker.hits_when_following = detector is None
        self._smoothers = self._new_smoother_bank()
        self._detector_smoothers = self._new_smoother_bank()  # for detector-keypoint poses
        self._bones = BoneLengthBank(enabled=self.config.bone_length_correction)
        self._distances = DepthContinuity(self.config.depth_hold_s, self.config.depth_blend_s)
        # The depth-to-limb-length ratio is the lift's: detector-keypoint poses carry their own.
        self._detector_distances = DepthContinuity(
            self.config.depth_hold_s, self.config.depth_blend_s
        )
        self._frames_since_detection = 0
        self._only_detector_sees = False  # the last frame published someone from its keypoints
        model.reset()  # a model's own memory of people (BlazePose's) belongs to one stream

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
        """Run one image through the pipeline; ``stamp`` (seconds) drives tracking and smoothing.

        With a ``depth`` image registered to ``image_bgr``, each person is anchored at the measured
        distance (``depth_fusion``); without one, or where it has too little on a person, a
        person measured within ``depth_hold_s`` keeps their depth-to-limb-length ratio and anyone
        else the limb-length lift's distance, with a cross-fade at each switch
        (``depth_continuity``).

        Raises ImageDecodeError (a ValueError) for an image no model may see: a side of 32767 px
        or more aborts the process inside the model, whatever read the image (CLI, demo, node).
        """
        height, width = image_bgr.shape[:2]
        check_size(width, height, max_pixels=width * height)  # sides only: callers cap the area
        tracker = self._tracker
        t0 = time.perf_counter()
        tracker.begin_frame(stamp)
        detected = False
        if self.detector is None:
            targets = tracker.follow(width, height) if tracker.following else []
            targets = targets or tracker.search(width, height)
        elif (
            tracker.following
            and self._frames_since_detection < self.config.detection_interval
            and not self._only_detector_sees
        ):
            targets = tracker.follow(width, height)
            if len(targets) > self.config.max_pose_people:
                targets = []  # more than the model may see: the detector sees them all
        else:
            targets = []
        detections = 0
        found: list[Detection] = []
        if self.detector is not None and not targets:
            found = self.detector.detect(image_bgr, stamp)
            detections = len(found)
            targets = tracker.match(found, width, height)
            detected = True
            self._frames_since_detection = 0
        self._frames_since_detection += 1
        if self.detector is not None:
            targets = budget_pose_model(
                targets,
                self.config.max_pose_people,
                tracker.is_published,
                lambda box: box_distance(box, intrinsics.fy, depth, (width, height)),
            )
        t1 = time.perf_counter()
        modelled = [target for target in targets if target.pose_model]
        boxes = hinted_boxes(modelled, found)
        poses = self.model.estimate(image_bgr, boxes, intrinsics) if boxes else []
        published = _observe(tracker, targets, poses)
        if self.detector is None and not tracker.seen_now and targets[0].track is not None:
            # The crop that followed the person lost them (they turned, or left it): look at the
            # whole image in this same frame, as the first frame did.
            targets = tracker.search(width, height)
            poses = self.model.estimate(image_bgr, [targets[0].box], intrinsics)
            published = _observe(tracker, targets, poses)
        t2 = time.perf_counter()
        people = self._lift(published, intrinsics, stamp)
        active_ids = tracker.active_ids
        self._smoothers.retain(active_ids)
        self._detector_smoothers.retain(active_ids)
        self._bones.retain(active_ids)
        t3 = time.perf_counter()
        from_detector = sum(1 for p in people if p.keypoint_source == KEYPOINT_SOURCE_DETECTOR)
        self._only_detector_sees = from_detector > 0
        counts = PeopleCounts(
            detected=detections,
            fitted=len(people) - from_detector,
            from_detector=from_detector,
            dropped=tracker.dropped,
        )
        lift_failures = len(published) - len(people)
        timings = {
            "detector": (t1 - t0) * 1e3 if detected else 0.0,
            "model": (t2 - t1) * 1e3,
            "lift": (t3 - t2) * 1e3,
        }
        fallbacks: list[DepthAnchor] = []
        # Every person goes through the distance continuity, depth image or not: a person first
        # seen before depth arrives must fade into it, not jump (a few float operations each).
        anchored = []
        for person in people:
            anchor = None
            if depth is not None:
                anchor = measure_anchor(
                    person.uv,
                    person.xyz,
                    person.confidence,
                    depth,
                    width,
                    height,
                    self.config.depth_fusion,
                )
                if not anchor.ok:
                    fallbacks.append(anchor)
            flat = person.keypoint_source == KEYPOINT_SOURCE_DETECTOR
            distances = self._detector_distances if flat else self._distances
            anchored.append(distances.apply(person, anchor, stamp))
        people = anchored
        self._distances.retain(active_ids)
        self._detector_distances.retain(active_ids)
        if depth is not None:
            timings["depth"] = (time.perf_counter() - t3) * 1e3
        return FrameResult(
            people=people,
            lost_ids=tracker.lost_ids,
            timings_ms=timings,
            tracked=len(active_ids),
            detector_ran=detected,
            lift_failures=lift_failures,
            depth_fallbacks=fallbacks,
            counts=counts,
        )

    def _lift(
        self, published: Sequence[tuple[str, Pose25D]], intrinsics: Intrinsics, stamp: float
    ) -> list[Person3D]:
        """Smooth each person's keypoints, then lift everyone in one batched call.

        A person whose lift fails is left out (never published as an all-zero skeleton).
        """
        if not published:
            return []
        n = len(published)
        uv = np.empty((n, NUM_KEYPOINTS, 2))
        z_rel = np.empty((n, NUM_KEYPOINTS))
        confidence = np.empty((n, NUM_KEYPOINTS))
        for i, (_, pose) in enumerate(published):
            uv[i], z_rel[i], confidence[i] = pose.uv, pose.z_rel, pose.confidence
        root_filters: list[Callable[[float], float] | None] = [None] * n
        if self._smoothers.enabled:  # everyone's keypoints in one batched filter step per bank
            for bank, rows in self._smoothing_groups(published):
                active = [s for s in (bank.get(published[i][0]) for i in rows) if s is not None]
                at = slice(None) if len(rows) == n else rows  # everyone (the usual case): no copy
                uv[at], z_rel[at] = PersonSmoother.smooth_many(active, uv[at], z_rel[at], stamp)
                for i, smoother in zip(rows, active, strict=True):
                    root_filters[i] = smoother.root_depth_filter(stamp)
        lifted = lift_poses(
            uv,
            z_rel,
            confidence,
            intrinsics.k,
            root_filters,
            self.config.min_lift_confidence,
            distortion=intrinsics.distortion,
        )
        people = [
            Person3D(
                id=person_id,
                score=pose.score,
                box=pose.box,
                uv=uv[i],
                xyz=result.xyz,
                confidence=result.confidence,
                root_depth=result.root_depth,
                keypoint_source=pose.source,
            )
            for i, ((person_id, pose), result) in enumerate(zip(published, lifted, strict=True))
            if result.ok
        ]
        self._correct_bones(people)
        return people

    def _smoothing_groups(
        self, published: Sequence[tuple[str, Pose25D]]
    ) -> list[tuple[SmootherBank, list[int]]]:
        """The rows of ``published`` by the bank that smooths them: the pose model's poses and
        the detector-keypoint poses never share filters (one's depths are not the other's)."""
        model = [
            i for i, (_, pose) in enumerate(published) if pose.source != KEYPOINT_SOURCE_DETECTOR
        ]
        detector = [
            i for i, (_, pose) in enumerate(published) if pose.source == KEYPOINT_SOURCE_DETECTOR
        ]
        groups = ((self._smoothers, model), (self._detector_smoothers, detector))
        return [(bank, rows) for bank, rows in groups if rows]

    def _correct_bones(self, people: Sequence[Person3D]) -> None:
        """Give everyone's bones their estimated lengths (joints stay on their rays), in one
        batched call. Detector-keypoint people are left as lifted: their flat skeletons' bone
        lengths are not measurements, and corrected lengths would invent depths for them."""
        people = [p for p in people if p.keypoint_source != KEYPOINT_SOURCE_DETECTOR]
        if not people or not self._bones.enabled:
            return
        corrections = self._bones.correct_many(
            [p.id for p in people], [p.xyz for p in people], [p.confidence for p in people]
        )
        for person, correction in zip(people, corrections, strict=True):
            if correction is not None and correction.corrected:
                person.xyz = correction.xyz
                person.extras["bones_unreachable"] = float(len(correction.unreachable))

    def bone_lengths(self, person_id: str) -> FloatArray | None:
        """The person's estimated bone lengths (m, ``bone_lengths.CORRECTED_BONES`` order)."""
        tracker = self._bones.get(person_id)
        return None if tracker is None else tracker.lengths.copy()

    @property
    def tracked_ids(self) -> list[str]:
        """Ids of the published people still tracked (seen now or coasting), oldest first."""
        return self._tracker.active_ids

    def reset(self) -> None:
        """Forget every tracked person (e.g. after the camera stream changed)."""
        self._tracker.reset()
        self._smoothers = self._new_smoother_bank()
        self._detector_smoothers = self._new_smoother_bank()
        self._bones.retain(())
        self._distances.retain(())
        self._detector_distances.retain(())
        self._frames_since_detection = 0
        self._only_detector_sees = False
        self.model.reset()

    def interrupt(self) -> None:
        """End a wait on a remote model's answer now (the caller is stopping): that frame fails,
        the next one works. Models that only compute locally have nothing to interrupt."""
        if isinstance(self.model, Interruptible):
            self.model.interrupt()

    def close(self) -> None:
        self.model.close()
        if self.detector is not None:
            self.detector.close()


def hinted_boxes(targets: Sequence[Target], detections: Sequence[Detection]) -> list[Box]:
    """Each target's box, with its track and, where it is a detection's box, the detector's
    keypoints: what a model that aligns its crop on the person needs (BlazePose)."""
    keypoints = {d.box: d.keypoints for d in detections if d.keypoints is not None}
    return [
        HintedBox(t.box.x, t.box.y, t.box.width, t.box.height, t.track, keypoints.get(t.box))
        for t in targets
    ]


def _observe(
    tracker: PersonTracker, targets: Sequence[Target], poses: Sequence[Pose25D]
) -> list[tuple[str, Pose25D]]:
    """Hand the model's poses to the tracker: all of them for a whole-image search (the model
    may find several people there), else paired with the crops they came from (None for the
    crops the model was not run on: the tracker falls back on their detections' keypoints)."""
    if len(targets) == 1 and targets[0].track is None:
        return tracker.observe([targets[0]] * len(poses), poses)
    modelled = [target for target in targets if target.pose_model]
    paired = iter(pair_poses(modelled, poses))
    return tracker.observe(
        targets, [next(paired) if target.pose_model else None for target in targets]
    )


def pair_poses(targets: Sequence[Target], poses: Sequence[Pose25D]) -> list[Pose25D | None]:
    """The pose the model returned for each target, or None where it found nobody.

    A model returns one pose per box in order (BodyPose3DNet), or may leave out crops where it
    found nobody: then each pose goes to the crop holding most of its confident keypoints
    (a global assignment), so a missing pose never shifts the others onto the wrong person.
    Where crops nest (someone standing behind another, whose box holds them both), a pose lies
    inside both: the crop whose box best overlaps the pose's own keypoint box takes it
    (``_BOX_FIT_WEIGHT``), not whichever crop came first.
    """
    if len(poses) == len(targets):
        return list(poses)
    paired: list[Pose25D | None] = [None] * len(targets)
    if not poses or not targets:
        return paired
    inside = np.zeros((len(poses), len(targets)))
    fit = np.zeros((len(poses), len(targets)))
    target_boxes = [target.box for target in targets]
    for i, pose in enumerate(poses):
        uv = np.asarray(pose.uv, dtype=np.float64).reshape(-1, 2)
        conf = np.asarray(pose.confidence, dtype=np.float64).reshape(-1)
        weight = np.where(np.isfinite(conf), conf, 0.0)
        total = max(float(weight.sum()), 1e-9)
        for j, target in enumerate(targets):
            b = target.box
            x, y = uv[:, 0], uv[:, 1]
            within = (x >= b.x) & (x <= b.x + b.width) & (y >= b.y) & (y <= b.y + b.height)
            inside[i, j] = float(weight[within].sum()) / total
        seen = (weight > 0.0) & np.all(np.isfinite(uv), axis=1)
        if seen.any():
            lo, hi = uv[seen].min(axis=0), uv[seen].max(axis=0)
            own = Box(float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))
            fit[i] = iou_matrix([own], target_boxes)[0]
    rows, cols = linear_sum_assignment(inside + _BOX_FIT_WEIGHT * fit, maximize=True)
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        if inside[r, c] >= 0.5:
            paired[c] = poses[r]
    return paired
