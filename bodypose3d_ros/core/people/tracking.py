"""Multi-person tracking: ids that survive misses and crossings, and no one-frame ghosts.

The tracker sits between the person finder (a detector, or the pose model itself on the whole
image when there is no detector) and the pose model, and decides where the model looks:

* ``match`` assigns this frame's detections to the tracks with one global assignment
  (``scipy.optimize.linear_sum_assignment``) on box overlap and keypoint similarity (an OKS on
  the detector's COCO keypoints against the track's last pose), so two people passing each other
  keep their own ids; every matched or new track gets one crop: its detection box;
* ``follow`` gives the crops of the people seen in the previous frame without a detector run: the
  box of their last confident keypoints, moved by their velocity (constant-velocity prediction)
  and grown by a margin;
* ``match`` also follows a published person the detector missed this frame but who was seen in
  the previous one (detectors miss people who are in plain view now and then). Such a pose is
  taken only when it proves to be that person: enough confident keypoints inside the image, in
  the place the track predicts (box overlap and keypoint similarity), and no duplicate of a pose
  or detection of this frame. It never starts a track and never confirms one. Such a crop that
  would lie mostly outside the image is not made: that person is leaving through the border,
  and their track coasts and expires;
* ``observe`` takes the model's poses for those crops. A track is a person only while its pose
  has enough confident keypoints; a new track is published only once it was found ``min_hits``
  times (a one-frame false detection never is), and its id (``body_<n>``, never reused) is given
  then. A track that is not seen coasts on its prediction and is reported lost exactly once, when
  it expires: once unseen for ``max_age_s`` *and* for ``max_missed_frames`` processed frames.

Time is counted in frames as well as seconds, because frames can be far apart: a camera
throttled to 1 Hz, a CPU busy with a crowd, frames lost on the way, a time-lapse. A person seen in
the previous processed frame is always matched before anything can expire them, whatever the
stamp gap, and ``min_hits`` counts processed frames, so such a stream still publishes people. The
constant-velocity prediction is capped (at most ``max_age_s`` of motion, and at most half the
body's size on each axis), so across a long gap the predicted place stays next to the last one
and a person who stood still is still matched.

A detected person the pose model gives no person-like pose for (cut off by the border,
back-turned, side-on), or whose crop the pipeline did not give the model (``pose_model`` False:
beyond ``max_pose_people``), is still seen: their pose is made from the detector's own keypoints
(:func:`~bodypose3d_ros.core.people.detector_keypoints.detection_pose`, ``source="detector"``),
counts towards confirmation like any find and is published under the same id the pose model's
poses get before and after. Only a detection without enough confident keypoints to track is
not seen; it is counted in :attr:`PersonTracker.dropped`.

A track whose detection crops gave no person-like pose ``_BARREN_LIMIT`` times in a row (someone
the detector sees but the pose model does not make out) stops costing the model a crop: it goes
on from the detector's keypoints, and the model is asked again once every ``max_age_s`` in case
the person became visible.

Time comes from the frames' stamps. A stamp that repeats or goes back (a bag played in a loop,
a restarted driver) advances the tracker's own clock by the typical frame period instead, so
tracks still age and predictions never run backwards.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from bodypose3d_ros.core.people.detection import COCO17_TO_SKELETON, Detection
from bodypose3d_ros.core.people.detector_keypoints import detection_pose
from bodypose3d_ros.core.people.track_motion import (
    COCO17_SIGMAS,
    MIN_SHARED_KEYPOINTS,
    Keypoints,
    Track,
    association_similarity,
    corners,
    follow_box,
    iou_corners,
    predicted_keypoint_box,
    record_sighting,
    shift,
)
from bodypose3d_ros.core.types import KEYPOINT_SOURCE_DETECTOR, Box, FloatArray, Pose25D

ID_PREFIX: Final = "body_"
_INITIAL_FRAME_PERIOD_S: Final = 1.0 / 30.0
# Two views of one person have nearly the same keypoint box; below this IoU they are two people.
_DUPLICATE_MIN_IOU: Final = 0.3
# A pose from a crop that followed a missed person must be this similar to the track's
# prediction (mean of keypoint-box IoU and keypoint OKS, as in matching, but stricter).
_FOLLOW_MIN_SIMILARITY: Final = 0.4
# A detection box holding this share of a followed pose's confident keypoints claims that pose.
_CLAIMED_SHARE: Final = 0.5
# Detection crops in a row without a person-like pose before an unconfirmed track is suppressed.
_BARREN_LIMIT: Final = 3


@dataclass(frozen=True)
class TrackerParams:
    """Thresholds for accepting, matching, confirming and forgetting people.

    A pose is a person only with at least ``min_confident_keypoints`` keypoints of confidence
    >= ``min_keypoint_confidence``. A track is published after ``min_hits`` finds (in as many
    processed frames) and forgotten once unseen for both ``max_age_s`` seconds and
    ``max_missed_frames`` processed frames (>= 1: a person seen in the previous frame is always
    matched first). A detection continues a track when their similarity
    (mean of box IoU and keypoint OKS, or the IoU alone without keypoints) is >= ``min_match``.
    ``margin`` grows a followed crop by that fraction of the keypoint box on every side. At most
    ``max_people`` crops are made per frame (published people first, then by score): by
    default more than the detector's crowd search can return (54), so nobody found is dropped.
    A pose whose keypoints lie within ``duplicate_distance`` x body size of a better one's is the
    same person seen through two crops and is dropped.
    """

    max_age_s: float = 1.0
    max_missed_frames: int = 2
    min_hits: int = 3
    max_people: int = 64
    min_keypoint_confidence: float = 0.3
    min_confident_keypoints: int = 6
    min_match: float = 0.2
    margin: float = 0.15
    duplicate_distance: float = 0.05


@dataclass(frozen=True)
class Target:
    """One crop for the model: which track it is for (None: a whole-image search) and where.

    ``found`` says the crop comes from a finder (a detection, or a search): a good pose in it
    counts towards the track's confirmation. ``verify`` marks a crop that follows a published
    person the detector missed: its pose must prove to be that person before it is taken.
    ``detection`` is the detector's find the crop came from (its keypoints stand in when the
    model gives no pose); ``pose_model`` False means the model is not run on this crop.
    """

    track: int | None
    box: Box
    found: bool
    verify: bool = False
    detection: Detection | None = None
    pose_model: bool = True


def _box(corners: FloatArray) -> Box:
    x0, y0, x1, y1 = corners.tolist()
    return Box(x0, y0, x1 - x0, y1 - y0)


def iou_matrix(a: Sequence[Box], b: Sequence[Box]) -> FloatArray:
    """(len(a), len(b)) intersection over union of every pair of boxes."""
    ca = np.array([corners(x) for x in a], dtype=np.float64).reshape(-1, 4)
    cb = np.array([corners(x) for x in b], dtype=np.float64).reshape(-1, 4)
    return iou_corners(ca, cb)


def _iou_pair(a: FloatArray, b: FloatArray) -> float:
    """``iou_corners`` of two single boxes in plain floats (the same operations in the same
    order, so the same value): NumPy's per-call cost would be most of it."""
    ax0, ay0, ax1, ay1 = a.tolist()
    bx0, by0, bx1, by1 = b.tolist()
    if not all(map(math.isfinite, (ax0, ay0, ax1, ay1, bx0, by0, bx1, by1))):
        return float(iou_corners(a[None], b[None])[0, 0])
    inter = max(min(ax1, bx1) - max(ax0, bx0), 0.0) * max(min(ay1, by1) - max(ay0, by0), 0.0)
    union = max(ax1 - ax0, 0.0) * max(ay1 - ay0, 0.0) + max(bx1 - bx0, 0.0) * max(by1 - by0, 0.0)
    union -= inter
    return inter / union if union > 0 else 0.0


def confident_mask(pose: Pose25D, min_confidence: float) -> npt.NDArray[np.bool_]:
    """Keypoints with confidence >= ``min_confidence`` and finite pixels."""
    uv = np.asarray(pose.uv, dtype=np.float64).reshape(-1, 2)
    conf = np.asarray(pose.confidence, dtype=np.float64).reshape(-1)
    mask: npt.NDArray[np.bool_] = (conf >= min_confidence) & np.all(np.isfinite(uv), axis=1)
    return mask


def _keypoint_tables(poses: Sequence[Pose25D], min_confidence: float) -> list[Keypoints]:
    """:class:`Keypoints` of every pose, in one NumPy pass for all of them (the same values as
    ``confident_mask``, a min/max of the confident keypoints and their ``np.median``)."""
    if not poses:
        return []
    shapes = {(np.shape(p.uv), np.shape(p.confidence)) for p in poses}
    if len(shapes) > 1:  # poses of different models: one at a time
        return [_keypoint_tables([pose], min_confidence)[0] for pose in poses]
    k = len(poses)
    uv = np.array([p.uv for p in poses], dtype=np.float64).reshape(k, -1, 2)
    confidence = np.array([p.confidence for p in poses], dtype=np.float64).reshape(k, -1)
    mask = (confidence >= min_confidence) & np.all(np.isfinite(uv), axis=2)
    counts = np.count_nonzero(mask, axis=1)
    low_first = np.sort(np.where(mask[..., None], uv, np.inf), axis=1)  # per column
    rows = np.arange(k)
    lower = low_first[rows, np.maximum(counts - 1, 0) // 2]
    upper = low_first[rows, np.minimum(counts // 2, uv.shape[1] - 1)]
    centres = np.where(counts[:, None] > 0, (lower + upper) / 2.0, np.nan)
    boxes = np.concatenate(
        [low_first[:, 0], np.max(np.where(mask[..., None], uv, -np.inf), axis=1)], axis=1
    )
    return [
        Keypoints(uv[i], mask[i], count, boxes[i], centres[i])
        for i, count in enumerate(counts.tolist())
    ]


def confident_keypoint_box(pose: Pose25D, min_confidence: float) -> tuple[Box, int]:
    """Bounding box of the keypoints with confidence >= min_confidence, and how many there were."""
    keep = confident_mask(pose, min_confidence)
    count = int(np.count_nonzero(keep))
    if count == 0:
        return Box(0.0, 0.0, 0.0, 0.0), 0
    pts = np.asarray(pose.uv, dtype=np.float64).reshape(-1, 2)[keep]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return Box(float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])), count


def pose_to_detection(pose: Pose25D, min_confidence: float) -> Detection:
    """A pose seen by a whole-image search, as the detection a detector would have given."""
    box, _ = confident_keypoint_box(pose, min_confidence)
    uv = np.asarray(pose.uv, dtype=np.float64)[COCO17_TO_SKELETON]
    conf = np.asarray(pose.confidence, dtype=np.float64)[COCO17_TO_SKELETON]
    return Detection(box=box, score=float(pose.score), keypoints=np.column_stack([uv, conf]))


def keypoint_similarity(
    detected: FloatArray, track_uv: FloatArray, track_confident: npt.NDArray[np.bool_],
    area: float, min_confidence: float,
) -> float:  # fmt: skip
    """OKS of a detection's COCO keypoints (17, 3) against a track's pose; NaN if too few shared.

    Only keypoints confident in both count; ``area`` (px^2) sets the scale.
    """
    uv = track_uv[COCO17_TO_SKELETON]
    shared = track_confident[COCO17_TO_SKELETON] & (detected[:, 2] >= min_confidence)
    shared &= np.all(np.isfinite(detected[:, :2]), axis=1)
    if int(np.count_nonzero(shared)) < MIN_SHARED_KEYPOINTS or area <= 0.0:
        return float("nan")
    d2 = np.sum((detected[shared, :2] - uv[shared]) ** 2, axis=1)
    k2 = (2.0 * COCO17_SIGMAS[shared]) ** 2
    return float(np.mean(np.exp(-d2 / (2.0 * area * k2))))


class PersonTracker:
    """Keeps people's ids through time; see the module docstring for the frame protocol.

    Per frame: :meth:`begin_frame`, then one of :meth:`match` (detections), :meth:`follow` or
    :meth:`search`, the model on the targets' boxes, then :meth:`observe` with its poses.
    """

    def __init__(self, params: TrackerParams = TrackerParams()) -> None:
        self.params = params
        self._tracks: dict[int, Track] = {}
        self._next_key = 0
        self._next_number = 1
        self._clock = 0.0
        self._last_stamp: float | None = None
        self._period = _INITIAL_FRAME_PERIOD_S
        self._frame = 0
        self._lost: list[str] = []
        self._lost_pending: list[str] = []  # forgotten by reset(), reported at the next frame
        self.hits_when_following = False  # with no detector, following is the only finding
        self._size = (0, 0)  # width, height of the current frame (known once targets are made)
        self._detections: FloatArray = np.zeros((0, 4))  # this frame's detection boxes
        self.dropped = 0  # this frame's detections neither tracked nor seen (see the module doc)

    # ------------------------------------------------------------------------------ state
    @property
    def lost_ids(self) -> list[str]:
        """Published ids that expired at the last :meth:`begin_frame` (each reported once)."""
        return list(self._lost)

    @property
    def active_ids(self) -> list[str]:
        """Ids of the published (confirmed) people not yet expired, oldest first."""
        ids = [t.id for t in self._tracks.values() if t.id]
        return sorted(ids, key=_id_number)

    def is_published(self, key: int) -> bool:
        """Whether the track ``key`` (a :class:`Target`'s ``track``) is a published person."""
        track = self._tracks.get(key)
        return track is not None and bool(track.id)

    @property
    def seen_now(self) -> bool:
        """Whether anyone (published or not) was seen in the current frame."""
        return any(t.seen_frame == self._frame for t in self._tracks.values())

    @property
    def following(self) -> bool:
        """Whether someone was seen in the previous frame (so :meth:`follow` has crops)."""
        return any(self._followed(t) for t in self._tracks.values())

    def reset(self) -> None:
        """Forget everyone; their ids are reported lost at the next frame, never reused."""
        self._lost_pending += [t.id for t in self._tracks.values() if t.id]
        self._tracks.clear()
        self._last_stamp = None

    # ------------------------------------------------------------------------------ time
    def begin_frame(self, stamp: float) -> None:
        """Advance the clock to a new frame and expire the tracks not seen for ``max_age_s``."""
        if not math.isfinite(stamp):
            raise ValueError(f"frame stamp must be finite, got {stamp}")
        if self._last_stamp is not None:
            dt = stamp - self._last_stamp
            if dt > 0.0:
                self._clock += dt
                if dt < self.params.max_age_s:
                    self._period += 0.2 * (dt - self._period)
            else:  # repeated or older stamp: a new frame all the same
                self._clock += self._period
        self._last_stamp = stamp
        self._frame += 1
        self.dropped = 0
        lost, self._lost_pending = self._lost_pending, []
        for key, track in list(self._tracks.items()):
            if self._expired(track):
                if track.id:
                    lost.append(track.id)
                del self._tracks[key]
        self._lost = lost

    def _expired(self, track: Track) -> bool:
        """Unseen for ``max_age_s`` and in the last ``max_missed_frames`` processed frames."""
        missed = self._frame - 1 - track.seen_frame  # processed frames since, without them
        return (
            self._clock - track.seen_at > self.params.max_age_s
            and missed >= self.params.max_missed_frames
        )

    def _followed(self, track: Track) -> bool:
        return track.seen_frame == self._frame - 1 and track.keypoint_box is not None

    def _follow_box(self, track: Track, width: int, height: int, inside: bool) -> Box | None:
        predicted = predicted_keypoint_box(track, self._clock, self.params.max_age_s)
        return follow_box(predicted, self.params.margin, width, height, inside)

    # ------------------------------------------------------------------------------ where to look
    def search(self, width: int, height: int) -> list[Target]:
        """One whole-image crop (no detector): what the model finds there is matched later."""
        return [Target(None, Box.full_image(width, height), True)]

    def follow(self, width: int, height: int) -> list[Target]:
        """Crops for the people seen in the previous frame, at their predicted place."""
        self._size = (width, height)
        self._detections = np.zeros((0, 4))
        targets: list[tuple[tuple[bool, float], Target]] = []
        for track in self._tracks.values():
            box = self._follow_box(track, width, height, False) if self._followed(track) else None
            if box is not None:
                targets.append(((not track.id, -track.score), Target(track.key, box, False)))
        return self._capped(targets)

    def match(
        self, detections: Sequence[Detection], width: int = 0, height: int = 0
    ) -> list[Target]:
        """Assign detections to tracks (new tracks for the rest); one crop per detection.

        With the image size, a published person seen in the previous frame whose detection is
        missing now gets a crop that follows them (``verify``), as :meth:`follow` would make.
        An unconfirmed track whose crops keep giving no pose gets none (see the module doc).
        """
        self._size = (width, height)
        self._detections = np.array([corners(d.box) for d in detections]).reshape(-1, 4)
        keys = self._associate(detections)
        targets: list[tuple[tuple[bool, float], Target]] = []
        for key, det in zip(keys, detections, strict=True):
            track = self._tracks[key]
            barren = self._clock < track.next_try  # the model is not asked for now
            target = Target(key, det.box, True, detection=det, pose_model=not barren)
            targets.append(((not track.id, -float(det.score)), target))
        if width > 0 and height > 0:
            matched = set(keys)
            for track in self._tracks.values():
                if not track.id or track.key in matched or not self._followed(track):
                    continue
                box = self._follow_box(track, width, height, True)
                if box is not None:
                    target = Target(track.key, box, False, verify=True)
                    targets.append(((False, -track.score), target))
        capped = self._capped(targets)
        self.dropped += len(detections) - sum(1 for t in capped if t.detection is not None)
        return capped

    def _capped(self, ranked: list[tuple[tuple[bool, float], Target]]) -> list[Target]:
        ranked.sort(key=lambda item: item[0])
        return [target for _, target in ranked[: self.params.max_people]]

    def _associate(self, detections: Sequence[Detection]) -> list[int]:
        """The track key of every detection: a matched track, else a new tentative one."""
        tracks = list(self._tracks.values())
        keys: list[int | None] = [None] * len(detections)
        if tracks and detections:
            p = self.params
            similarity = association_similarity(
                tracks, detections, self._clock, p.max_age_s, p.min_keypoint_confidence
            )
            rows, cols = linear_sum_assignment(similarity, maximize=True)
            for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
                if similarity[r, c] >= self.params.min_match:
                    keys[c] = tracks[r].key
        result: list[int] = []
        for key, det in zip(keys, detections, strict=True):
            if key is None:
                key = self._next_key
                self._next_key += 1
                self._tracks[key] = Track(key=key, box=corners(det.box), seen_at=self._clock)
            result.append(key)
        return result

    # ------------------------------------------------------------------------------ results
    def observe(
        self, targets: Sequence[Target], poses: Sequence[Pose25D | None]
    ) -> list[tuple[str, Pose25D]]:
        """Take the model's pose for each target (None: nobody there); return who is published.

        Returns (id, pose) for every confirmed person seen in this frame, oldest id first.
        """
        p = self.params
        seen: list[_Seen] = []
        searched: list[tuple[Pose25D, Keypoints]] = []
        given = [pose for pose in poses if pose is not None]
        tables = iter(_keypoint_tables(given, p.min_keypoint_confidence))
        for target, pose in zip(targets, poses, strict=True):
            keypoints = None if pose is None else next(tables)
            person = keypoints is not None and keypoints.confident >= p.min_confident_keypoints
            if not person and target.detection is not None and target.track in self._tracks:
                if target.pose_model:
                    self._barren(self._tracks[target.track])
                pose, keypoints = self._detector_pose(target.detection)
                person = keypoints is not None
                if not person:
                    self.dropped += 1
            if target.track is None:
                if pose is not None and keypoints is not None and person:
                    searched.append((pose, keypoints))
                continue
            track = self._tracks.get(target.track)
            if track is None:
                continue
            detected = corners(target.box) if target.found else None
            if pose is not None and keypoints is not None and person:
                item = _Seen(track, pose, keypoints, target.found, detected, corners(target.box))
                item.verify, item.detection = target.verify, target.detection
                if target.verify and not self._proves_followed_person(item):
                    continue  # not provably the person followed: they coast instead
                seen.append(item)
                if pose.source != KEYPOINT_SOURCE_DETECTOR:
                    track.barren = 0
            elif detected is not None:  # seen by the detector, too little of them to track
                record_sighting(track, self._clock, self._frame, detected, track.score)
        if searched:
            detections = [
                pose_to_detection(pose, p.min_keypoint_confidence) for pose, _ in searched
            ]
            for key, (pose, keypoints) in zip(self._associate(detections), searched, strict=True):
                seen.append(_Seen(self._tracks[key], pose, keypoints, True, None, None))
        published: list[tuple[str, Pose25D]] = []
        confirmed: list[Track] = []
        poses_of: dict[int, Pose25D] = {}
        for item in self._distinct(seen):
            track, pose = item.track, item.pose
            poses_of[track.key] = pose
            box = item.detected if item.detected is not None else item.keypoint_box
            record_sighting(track, self._clock, self._frame, box, float(pose.score), item.keypoints)
            if not track.id and track.hits >= p.min_hits:
                confirmed.append(track)
            elif track.id:
                published.append((track.id, pose))
        for track in sorted(confirmed, key=lambda t: t.key):  # ids in order of first sighting
            track.id = f"{ID_PREFIX}{self._next_number}"
            self._next_number += 1
            published.append((track.id, poses_of[track.key]))
        published.sort(key=lambda item: _id_number(item[0]))
        return published

    def _barren(self, track: Track) -> None:
        """The model gave no person-like pose for a detection of ``track`` (see the module doc)."""
        track.barren += 1
        if track.barren >= _BARREN_LIMIT:
            track.next_try = self._clock + self.params.max_age_s

    def _detector_pose(self, detection: Detection) -> tuple[Pose25D | None, Keypoints | None]:
        """The detection's own keypoints as a pose, with what the tracker reads of it; None
        when fewer than ``MIN_SHARED_KEYPOINTS`` of them are confident (too little to follow
        or match the person by)."""
        pose = detection_pose(detection)
        if pose is None:
            return None, None
        keypoints = _keypoint_tables([pose], self.params.min_keypoint_confidence)[0]
        if keypoints.confident < MIN_SHARED_KEYPOINTS:
            return None, None
        return pose, keypoints

    def _proves_followed_person(self, item: _Seen) -> bool:
        track, max_age_s = item.track, self.params.max_age_s
        predicted = predicted_keypoint_box(track, self._clock, max_age_s)
        if predicted is None:
            return False
        moved = shift(track, self._clock, track.pose_seen_at, max_age_s)
        return is_followed_person(item, predicted, moved, self._size, self._detections, self.params)

    def _distinct(self, seen: list[_Seen]) -> list[_Seen]:
        """One pose per person and per track.

        When two crops return the same person (one person in front of another: both crops show
        the one in front), the pose goes to the published track whose crop it fits best, so
        the person behind does not take the front person's id. Only people whose keypoint boxes
        largely overlap can be one person seen twice: the keypoint comparison runs for those
        pairs alone.
        """
        seen = sorted(
            seen,
            key=lambda s: (s.verify, not s.track.id, -s.fit, -s.track.hits, -float(s.pose.score)),
        )
        same = _same_people(seen, self.params)
        kept: list[int] = []
        used: set[int] = set()
        for i, item in enumerate(seen):
            if item.track.key in used or any(same[i, j] for j in kept):
                continue
            used.add(item.track.key)
            if item.found or (self.hits_when_following and not item.verify):
                item.track.hits += 1
            kept.append(i)
        distinct = [seen[i] for i in kept]
        for i, item in enumerate(seen):
            if i not in kept and item.track.key not in used:
                stand_in = self._stand_in(item, distinct)
                if stand_in is not None:
                    used.add(item.track.key)
                    item.track.hits += 1
                    distinct.append(stand_in)
        return distinct

    def _stand_in(self, item: _Seen, distinct: list[_Seen]) -> _Seen | None:
        """A detected person whose crop gave the pose of someone already seen (the model fitted
        a neighbour instead: the person behind is hidden, cut off, or small) is seen through the
        detector's own keypoints, unless those too are someone already seen (one person found
        twice). Without this the person would silently vanish from the frame."""
        if item.detection is None or item.pose.source == KEYPOINT_SOURCE_DETECTOR:
            return None
        pose, keypoints = self._detector_pose(item.detection)
        if pose is None or keypoints is None:
            return None
        stand_in = _Seen(item.track, pose, keypoints, item.found, item.detected, item.crop)
        stand_in.detection = item.detection
        if _same_people([*distinct, stand_in], self.params)[-1].any():
            return None
        return stand_in


@dataclass
class _Seen:
    """A track's person-like pose in this frame, with where the detector put it (if it did)."""

    track: Track
    pose: Pose25D
    keypoints: Keypoints
    found: bool
    detected: FloatArray | None
    crop: FloatArray | None  # the box the model was asked to look at (None: a search)
    fit: float = field(init=False)  # IoU of the pose's keypoint box with ``crop``
    verify: bool = False  # from a crop that followed a person the detector missed
    detection: Detection | None = None  # the detector's find the crop came from

    def __post_init__(self) -> None:
        self.fit = _iou_pair(self.keypoint_box, self.crop) if self.crop is not None else 0.0

    @property
    def uv(self) -> FloatArray:
        return self.keypoints.uv

    @property
    def mask(self) -> npt.NDArray[np.bool_]:
        return self.keypoints.mask

    @property
    def keypoint_box(self) -> FloatArray:
        return self.keypoints.box


def is_followed_person(
    item: _Seen,
    predicted: FloatArray,
    moved: FloatArray,
    size: tuple[int, int],
    detections: FloatArray,
    p: TrackerParams,
) -> bool:
    """Whether a pose from a crop that followed a missed person is really that person.

    It must have enough confident keypoints inside the ``size`` (width, height) image, lie
    where the track predicts them (``predicted`` keypoint box, poses ``moved`` since: box
    overlap and keypoint similarity, as in matching, but stricter), and not sit in one of this
    frame's ``detections`` (that person was found, and given to another track).
    """
    width, height = size
    uv = item.uv
    inside = (uv[:, 0] >= 0) & (uv[:, 0] <= width) & (uv[:, 1] >= 0) & (uv[:, 1] <= height)
    if int(np.count_nonzero(item.mask & inside)) < p.min_confident_keypoints:
        return False
    track = item.track
    if track.uv is None or track.confident is None:
        return False
    iou = float(iou_corners(item.keypoint_box[None], predicted[None])[0, 0])
    area = float(np.prod(np.clip(predicted[2:] - predicted[:2], 1.0, None)))
    confidence = np.asarray(item.pose.confidence, dtype=np.float64).reshape(-1)
    coco = np.column_stack([uv[COCO17_TO_SKELETON], confidence[COCO17_TO_SKELETON]])
    oks = keypoint_similarity(
        coco, track.uv + moved, track.confident, area, p.min_keypoint_confidence
    )
    similarity = iou if math.isnan(oks) else 0.5 * (iou + oks)
    if similarity < _FOLLOW_MIN_SIMILARITY:
        return False
    points = uv[item.mask]
    for x0, y0, x1, y1 in detections.tolist():
        within = (points[:, 0] >= x0) & (points[:, 0] <= x1)
        within &= (points[:, 1] >= y0) & (points[:, 1] <= y1)
        if float(within.mean()) >= _CLAIMED_SHARE:
            return False
    return True


def _same_people(seen: Sequence[_Seen], params: TrackerParams) -> npt.NDArray[np.bool_]:
    """(S, S): whether two poses put their shared confident keypoints in (nearly) the same
    places: the median gap between them at most ``duplicate_distance`` x the size of the two
    keypoint boxes together, over at least ``min_confident_keypoints`` shared keypoints.

    Only people whose keypoint boxes largely overlap can be one person seen twice: every such
    pair is compared in one pass of array operations, whatever the number of people.
    """
    count = len(seen)
    same = np.zeros((count, count), dtype=bool)
    if count < 2:
        return same
    boxes = np.array([s.keypoint_box for s in seen]).reshape(-1, 4)
    first, second = np.nonzero(np.triu(iou_corners(boxes, boxes) > _DUPLICATE_MIN_IOU, 1))
    if first.size == 0:
        return same
    masks = np.array([s.mask for s in seen])
    uv = np.array([s.uv for s in seen])
    shared = masks[first] & masks[second]  # (P, 34)
    a, b = boxes[first], boxes[second]
    span = np.maximum(a, b)[:, 2:] - np.minimum(a, b)[:, :2]  # the two boxes together
    size = np.maximum(np.max(span, axis=1), 1.0)
    diff = uv[first] - uv[second]
    squared = np.sort(np.where(shared, np.einsum("pij,pij->pi", diff, diff), np.inf), axis=1)
    n = np.count_nonzero(shared, axis=1)
    rows = np.arange(first.size)
    half = n // 2
    # The middle gap, or the mean of the middle two (at (n - 1) // 2 and n // 2; n = 0: no).
    median = (np.sqrt(squared[rows, (n - 1) // 2]) + np.sqrt(squared[rows, half])) / 2.0
    duplicate = (n >= max(params.min_confident_keypoints, 1)) & (
        median <= params.duplicate_distance * size
    )
    same[first, second] = duplicate
    same[second, first] = duplicate
    return same


def _id_number(track_id: str) -> int:
    return int(track_id[len(ID_PREFIX) :])
