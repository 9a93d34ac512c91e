"""Frame-to-frame person tracking: where to crop next, and ids that survive crossings.

The model looks at crops, so each tracked person's next crop comes from their keypoints in the
previous frame. Ids come from matching this frame's keypoint boxes to the last frame's with a
global IoU assignment (not greedy), so two people passing each other keep their own ids.
A track that is not matched is dropped at once; a person who comes back gets a new id (ids are
never reused, so stale markers can never be mistaken for a new person's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from bodypose3d_ros.core.types import Box, Pose25D

ID_PREFIX = "body_"


@dataclass(frozen=True)
class TrackerParams:
    """Thresholds for accepting, matching and cropping people.

    A pose is a person only with at least ``min_confident_keypoints`` keypoints of confidence
    >= ``min_keypoint_confidence``. ``margin`` grows the next crop's box by that fraction of its
    size on every side. At most ``max_people`` are tracked (highest scores first). A pose whose
    keypoints lie within ``duplicate_distance`` x body size (median over the keypoints confident
    in both) of a better-scored pose is the same person seen through two crops and is dropped;
    otherwise two tracks whose crops converge would follow one person forever.
    While people are tracked, every ``discovery_interval``-th frame also looks at the whole image
    so that someone who walks in is found (0 = never; with no detector, crops that follow known
    people would never see a newcomer).
    """

    min_keypoint_confidence: float = 0.3
    min_confident_keypoints: int = 6
    margin: float = 0.15
    max_people: int = 8
    match_iou: float = 0.2
    duplicate_distance: float = 0.05
    discovery_interval: int = 15


def _corners(box: Box) -> tuple[float, float, float, float]:
    return (box.x, box.y, box.x + box.width, box.y + box.height)


def iou_matrix(a: Sequence[Box], b: Sequence[Box]) -> npt.NDArray[np.float64]:
    """(len(a), len(b)) intersection over union of every pair of boxes."""
    ca = np.array([_corners(x) for x in a], dtype=np.float64).reshape(-1, 4)
    cb = np.array([_corners(x) for x in b], dtype=np.float64).reshape(-1, 4)
    lo = np.maximum(ca[:, None, :2], cb[None, :, :2])
    hi = np.minimum(ca[:, None, 2:], cb[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=2)
    area_a = np.prod(ca[:, 2:] - ca[:, :2], axis=1)
    area_b = np.prod(cb[:, 2:] - cb[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    result: npt.NDArray[np.float64] = iou
    return result


@dataclass(frozen=True)
class _Candidate:
    """An accepted pose: its index, confident keypoints and their bounding box."""

    index: int
    uv: npt.NDArray[np.float64]
    confident: npt.NDArray[np.bool_]
    box: Box


def _confident_mask(pose: Pose25D, min_confidence: float) -> npt.NDArray[np.bool_]:
    uv = np.asarray(pose.uv, dtype=np.float64).reshape(-1, 2)
    conf = np.asarray(pose.confidence, dtype=np.float64).reshape(-1)
    mask: npt.NDArray[np.bool_] = (conf >= min_confidence) & np.all(np.isfinite(uv), axis=1)
    return mask


def confident_keypoint_box(pose: Pose25D, min_confidence: float) -> tuple[Box, int]:
    """Bounding box of the keypoints with confidence >= min_confidence, and how many there were."""
    keep = _confident_mask(pose, min_confidence)
    count = int(np.count_nonzero(keep))
    if count == 0:
        return Box(0.0, 0.0, 0.0, 0.0), 0
    pts = np.asarray(pose.uv, dtype=np.float64).reshape(-1, 2)[keep]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return Box(float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])), count


def _same_person(a: _Candidate, b: _Candidate, max_distance: float, min_shared: int) -> bool:
    """Whether two poses put their shared confident keypoints in (nearly) the same places."""
    shared = a.confident & b.confident
    if np.count_nonzero(shared) < min_shared:
        return False
    size = max(a.box.width, a.box.height, b.box.width, b.box.height, 1.0)
    gaps = np.linalg.norm(a.uv[shared] - b.uv[shared], axis=1)
    return float(np.median(gaps)) <= max_distance * size


class PersonTracker:
    """Keeps each visible person's id and last keypoint box from one frame to the next."""

    def __init__(self, params: TrackerParams = TrackerParams()) -> None:
        self.params = params
        self._tracks: dict[str, Box] = {}  # id -> last keypoint box, in creation order
        self._next_number = 1
        self._lost: list[str] = []
        self._pending_lost: list[str] = []  # forgotten by reset(), reported by the next update
        self._frames = 0

    @property
    def lost_ids(self) -> list[str]:
        """Ids that disappeared in the last update (each reported exactly once)."""
        return list(self._lost)

    @property
    def active_ids(self) -> list[str]:
        """Ids of the people currently tracked, oldest first."""
        return list(self._tracks)

    def reset(self) -> None:
        """Forget everyone; their ids are reported in the next update's ``lost_ids``.

        The id counter is kept, so ids stay unique for the tracker's lifetime.
        """
        self._pending_lost.extend(self._tracks)
        self._tracks.clear()
        self._lost = []

    def boxes_for_frame(self, width: int, height: int) -> list[Box]:
        """Where to look in the next frame: one box per tracked person, else the whole image.

        Each box is the person's last keypoint box grown by ``margin`` of its width/height on
        every side, clipped to the image; boxes that end up outside the image are skipped.
        Every ``discovery_interval``-th frame the whole image is added to look for newcomers.
        """
        self._frames += 1
        m = self.params.margin
        boxes: list[Box] = []
        for kp_box in self._tracks.values():
            x0 = max(0.0, kp_box.x - m * kp_box.width)
            y0 = max(0.0, kp_box.y - m * kp_box.height)
            x1 = min(float(width), kp_box.x + (1.0 + m) * kp_box.width)
            y1 = min(float(height), kp_box.y + (1.0 + m) * kp_box.height)
            if x1 >= x0 and y1 >= y0 and max(x1 - x0, y1 - y0) >= 1.0:
                boxes.append(Box(x0, y0, x1 - x0, y1 - y0))
        interval = self.params.discovery_interval
        discover = interval > 0 and self._frames % interval == 0
        if not boxes or (discover and len(boxes) < self.params.max_people):
            boxes.append(Box.full_image(width, height))
        return boxes

    def _accept(self, poses: Sequence[Pose25D]) -> dict[int, Box]:
        """Pose index -> keypoint box for the poses that are distinct people, best score first."""
        p = self.params
        candidates: list[tuple[float, _Candidate]] = []
        for i, pose in enumerate(poses):
            mask = _confident_mask(pose, p.min_keypoint_confidence)
            if int(np.count_nonzero(mask)) >= p.min_confident_keypoints:
                uv = np.asarray(pose.uv, dtype=np.float64).reshape(-1, 2)
                lo, hi = uv[mask].min(axis=0), uv[mask].max(axis=0)
                box = Box(float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))
                candidates.append((float(pose.score), _Candidate(i, uv, mask, box)))
        candidates.sort(key=lambda c: (-c[0], c[1].index))
        kept: list[_Candidate] = []
        for _, cand in candidates:
            if len(kept) >= p.max_people:
                break
            if not any(
                _same_person(cand, other, p.duplicate_distance, p.min_confident_keypoints)
                for other in kept
            ):
                kept.append(cand)
        return {c.index: c.box for c in kept}

    def update(self, poses: Sequence[Pose25D]) -> list[str]:
        """One id per pose ("" for poses that are not a person); unmatched tracks are dropped."""
        accepted = self._accept(poses)
        ids = [""] * len(poses)
        order = sorted(accepted)  # pose indices, so new ids follow the input order
        track_ids = list(self._tracks)
        matched_tracks: set[str] = set()
        if order and track_ids:
            iou = iou_matrix([self._tracks[t] for t in track_ids], [accepted[i] for i in order])
            if iou.shape == (1, 1):  # one person followed: nothing to assign (the common case)
                rows, cols = np.zeros(1, np.intp), np.zeros(1, np.intp)
            else:
                rows, cols = linear_sum_assignment(iou, maximize=True)
            for r, c in zip(rows, cols, strict=True):
                if iou[r, c] >= self.params.match_iou:
                    ids[order[c]] = track_ids[r]
                    matched_tracks.add(track_ids[r])
        self._lost = self._pending_lost + [t for t in track_ids if t not in matched_tracks]
        self._pending_lost = []
        tracks: dict[str, Box] = {}
        for i in order:
            if not ids[i]:
                ids[i] = f"{ID_PREFIX}{self._next_number}"
                self._next_number += 1
            tracks[ids[i]] = accepted[i]
        # Oldest tracks first, so boxes_for_frame and active_ids keep a stable order.
        self._tracks = {t: tracks[t] for t in sorted(tracks, key=_id_number)}
        return ids


def _id_number(track_id: str) -> int:
    return int(track_id[len(ID_PREFIX) :])
