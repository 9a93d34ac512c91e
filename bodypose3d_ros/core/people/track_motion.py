"""A tracked person's state and motion: where they were, where they will be, how a detection fits.

The tracker (:mod:`bodypose3d_ros.core.people.tracking`) decides who is who; this module holds
the per-track arithmetic it runs on: the constant-velocity prediction (capped, so a long gap
between frames cannot carry a person off), the crop that follows a person, the similarity of
every (track, detection) pair for the global assignment, and the update when a person is seen.
Times are the tracker's own clock (seconds, never running backwards).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt

from bodypose3d_ros.core.people.detection import COCO17_TO_SKELETON, Detection
from bodypose3d_ros.core.types import Box, FloatArray

# COCO's per-keypoint OKS constants (nose .. ankles): how far a keypoint may be off, relative
# to the person's size, before it stops counting as the same place.
COCO17_SIGMAS: Final[FloatArray] = (
    np.array([26, 25, 25, 35, 35, 79, 79, 72, 72, 62, 62, 107, 107, 87, 87, 89, 89]) / 1000.0
)
MIN_SHARED_KEYPOINTS: Final = 3  # fewer keypoints seen by both: compare boxes only
_VELOCITY_GAIN: Final = 0.3  # weight of the newest displacement in the velocity estimate
# A body's centre speeds up by at most this many body widths per second, per second: what a
# centre jumps by beyond it is a part of the body being hidden or uncovered, not motion.
_MAX_ACCELERATION: Final = 20.0
# A followed crop with less than this share of its area inside the image is not made.
_MIN_CROP_INSIDE: Final = 0.5
# The constant-velocity prediction moves a track by at most this fraction of its body's size on
# each axis: across a long gap the predicted box still overlaps the last one.
_MAX_SHIFT: Final = 0.5


@dataclass
class Track:
    """One person (or candidate) the tracker follows, with what it last knew of them."""

    key: int
    box: FloatArray  # x0, y0, x1, y1 where it was last seen: its detection box when detected
    seen_at: float  # tracker clock of that sighting
    velocity: FloatArray = field(default_factory=lambda: np.zeros(2))  # body centre, px / s
    id: str = ""  # given on confirmation
    hits: int = 0
    score: float = 0.0
    seen_frame: int = -1
    uv: FloatArray | None = None  # (34, 2) last pose
    confident: npt.NDArray[np.bool_] | None = None  # (34,)
    keypoint_box: FloatArray | None = None  # box of the last pose's confident keypoints
    centre: FloatArray | None = None  # median of the last pose's confident keypoints
    pose_seen_at: float = 0.0  # tracker clock of the last pose
    barren: int = 0  # detection crops in a row that gave no person-like pose
    next_try: float = -math.inf  # tracker clock before which a barren track gets no crop


class Keypoints(NamedTuple):
    """What the tracker reads of one pose: its pixels, which are confident, how many, their box
    and their centre (the median of the confident keypoints)."""

    uv: FloatArray  # (K, 2)
    mask: npt.NDArray[np.bool_]  # (K,)
    confident: int  # how many keypoints are confident
    box: FloatArray  # x0, y0, x1, y1 of the confident keypoints
    centre: FloatArray  # (2,)


def corners(box: Box) -> FloatArray:
    return np.array([box.x, box.y, box.x + box.width, box.y + box.height], dtype=np.float64)


def iou_corners(ca: FloatArray, cb: FloatArray) -> FloatArray:
    """(len(ca), len(cb)) intersection over union of boxes given as x0, y0, x1, y1 rows."""
    lo = np.maximum(ca[:, None, :2], cb[None, :, :2])
    hi = np.minimum(ca[:, None, 2:], cb[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=2)
    area_a = np.prod(np.clip(ca[:, 2:] - ca[:, :2], 0.0, None), axis=1)
    area_b = np.prod(np.clip(cb[:, 2:] - cb[:, :2], 0.0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    iou: FloatArray = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return iou


def shift(track: Track, clock: float, since: float, max_age_s: float) -> FloatArray:
    """How far the track has moved since the clock read ``since`` (constant velocity),
    capped at ``max_age_s`` of motion and ``_MAX_SHIFT`` of the body's size per axis."""
    moved = track.velocity * min(clock - since, max_age_s)
    body = track.keypoint_box if track.keypoint_box is not None else track.box
    limit = _MAX_SHIFT * np.maximum(body[2:] - body[:2], 0.0)
    capped: FloatArray = np.clip(moved, -limit, limit)
    return capped


def predicted_keypoint_box(track: Track, clock: float, max_age_s: float) -> FloatArray | None:
    """The box of the track's last confident keypoints, moved to where they are now."""
    if track.keypoint_box is None:
        return None
    step = shift(track, clock, track.pose_seen_at, max_age_s)
    predicted: FloatArray = track.keypoint_box + np.concatenate([step, step])
    return predicted


def follow_box(
    predicted: FloatArray | None, margin: float, width: int, height: int, mostly_inside: bool
) -> Box | None:
    """A predicted keypoint box grown by ``margin`` and cut to the image; None when nothing of
    it is left or, with ``mostly_inside``, when most of it lies outside the image (the person
    is leaving through the border)."""
    if predicted is None:
        return None
    m = margin
    x0, y0, x1, y1 = predicted.tolist()
    w, h = x1 - x0, y1 - y0
    x0, y0, x1, y1 = x0 - m * w, y0 - m * h, x1 + m * w, y1 + m * h
    area = max(x1 - x0, 0.0) * max(y1 - y0, 0.0)
    x0, y0 = max(0.0, x0), max(0.0, y0)
    x1, y1 = min(float(width), x1), min(float(height), y1)
    if x1 < x0 or y1 < y0 or max(x1 - x0, y1 - y0) < 1.0:
        return None
    if mostly_inside and area > 0.0 and (x1 - x0) * (y1 - y0) < _MIN_CROP_INSIDE * area:
        return None
    return Box(x0, y0, x1 - x0, y1 - y0)


def association_similarity(
    tracks: list[Track],
    detections: Sequence[Detection],
    clock: float,
    max_age_s: float,
    min_keypoint_confidence: float,
) -> FloatArray:
    """(tracks, detections): mean of IoU and OKS where both have keypoints, else the IoU.

    The IoU is the better of the track's last box and its last pose's keypoint box, each
    moved to now: a detection box that took in two people during a crossing then does not
    outweigh where the person's own keypoints put them.
    """
    boxes = np.array([corners(d.box) for d in detections])
    shifts = np.array([shift(t, clock, t.seen_at, max_age_s) for t in tracks])
    predicted = np.array([t.box for t in tracks]) + np.concatenate([shifts, shifts], axis=1)
    iou = iou_corners(predicted, boxes)
    pose_shifts = np.array([shift(t, clock, t.pose_seen_at, max_age_s) for t in tracks])
    with_box = [r for r, t in enumerate(tracks) if t.keypoint_box is not None]
    if with_box:
        kp = np.array([tracks[r].keypoint_box for r in with_box])
        kp += np.concatenate([pose_shifts[with_box], pose_shifts[with_box]], axis=1)
        iou[with_box] = np.maximum(iou[with_box], iou_corners(kp, boxes))
    with_pose = [r for r, t in enumerate(tracks) if t.uv is not None]
    with_points = [c for c, d in enumerate(detections) if d.keypoints is not None]
    if not with_pose or not with_points:
        return iou
    # OKS of every (track, detection) pair at once: (T, 17) against (D, 17).
    rows = np.array(with_pose)
    uv = np.array([tracks[r].uv for r in with_pose])[:, COCO17_TO_SKELETON]
    uv += pose_shifts[rows, None, :]
    seen = np.array([tracks[r].confident for r in with_pose])[:, COCO17_TO_SKELETON]
    points = np.array([detections[c].keypoints for c in with_points], dtype=np.float64)
    sure = (points[:, :, 2] >= min_keypoint_confidence) & np.all(
        np.isfinite(points[:, :, :2]), axis=2
    )
    shared = seen[:, None, :] & sure[None, :, :]  # (T, D, 17)
    d2 = np.sum((uv[:, None] - points[None, :, :, :2]) ** 2, axis=3)
    d2 = np.where(shared, d2, 0.0)
    area = np.prod(np.clip(predicted[rows, 2:] - predicted[rows, :2], 1.0, None), axis=1)
    k2 = (2.0 * COCO17_SIGMAS) ** 2
    terms = np.where(shared, np.exp(-d2 / (2.0 * area[:, None, None] * k2)), 0.0)
    count = shared.sum(axis=2)
    oks = terms.sum(axis=2) / np.maximum(count, 1)
    similarity: FloatArray = iou.copy()
    block = similarity[np.ix_(rows, np.array(with_points))]
    similarity[np.ix_(rows, np.array(with_points))] = np.where(
        count >= MIN_SHARED_KEYPOINTS, 0.5 * (block + oks), block
    )
    return similarity


def record_sighting(
    track: Track,
    clock: float,
    frame: int,
    box: FloatArray,
    score: float,
    keypoints: Keypoints | None = None,
) -> None:
    """Record where a track was seen now (``keypoints``: the pose it was seen with).

    The velocity follows the body centre (the median of the confident keypoints) from pose
    to pose: detection boxes grow and shrink as people overlap, a body's keypoints do not.
    """
    track.box = box
    track.seen_at = clock
    track.seen_frame = frame
    track.score = score
    if keypoints is None:
        return  # seen by the detector only: the pose state stays (and is predicted on)
    centre = keypoints.centre
    dt = clock - track.pose_seen_at
    if track.centre is not None and dt > 0.0:
        step = (centre - track.centre) / dt
        if track.hits > 1:  # a sudden change of pace is more often occlusion than a sprint
            width = float(keypoints.box[2] - keypoints.box[0]) + 1.0
            limit = _MAX_ACCELERATION * width * dt
            step = track.velocity + np.clip(step - track.velocity, -limit, limit)
        track.velocity = track.velocity + _VELOCITY_GAIN * (step - track.velocity)
    track.uv, track.confident, track.keypoint_box = keypoints.uv, keypoints.mask, keypoints.box
    track.centre, track.pose_seen_at = centre, clock
