"""Anatomically consistent skeletons: each person's bone lengths, and 3D joints that keep them.

The lift reproduces the model's pelvis-relative depths, and pose models underestimate how far a
foreshortened limb reaches towards or away from the camera, so such a bone comes out short (a
running person's thigh at about half its length) while the same bone is right a moment later, seen
side-on. Here each tracked person's bone lengths are estimated over time, starting from the limb
table scaled to the person and learning from bones seen nearly side-on (those give their length
best); then, walking the kinematic tree from the pelvis, every bone's depth difference is re-solved
so its 3D length matches the estimate. Joints move only along their own camera rays, so every
joint still projects onto the pixel it was seen at, through any central camera model.

Pure NumPy; one :class:`BoneLengthTracker` per person, kept in a :class:`BoneLengthBank` by id.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bodypose3d_ros.core.lift.lifting import metric_scale
from bodypose3d_ros.core.people.person_state import PersonStates
from bodypose3d_ros.core.skeleton import (
    BONES,
    INDEX,
    KEYPOINT_NAMES,
    LIMB_JOINTS,
    LIMB_LENGTHS_MM,
    NUM_KEYPOINTS,
)
from bodypose3d_ros.core.types import FloatArray


def _table_length_m(parent: int, child: int) -> float:
    """The limb table's length of bone (parent, child) in metres; 0 when the table has none."""
    for (i0, i1), length_mm in zip(LIMB_JOINTS.tolist(), LIMB_LENGTHS_MM.tolist(), strict=True):
        if {i0, i1} == {parent, child}:
            return float(length_mm) / 1000.0
    return 0.0


def _kind(bone: tuple[int, int]) -> str:
    """A bone's name with the side taken off, so the left and right thigh are one kind."""
    names = (KEYPOINT_NAMES[bone[0]], KEYPOINT_NAMES[bone[1]])
    return "-".join(name.removeprefix("left_").removeprefix("right_") for name in names)


# The tree bones the limb table gives a length for (14): these are corrected and estimated. The
# head, hands and feet hang off them with the model's own depth offsets.
CORRECTED_BONES: tuple[tuple[int, int], ...] = tuple(b for b in BONES if _table_length_m(*b) > 0)
TABLE_LENGTHS_M: FloatArray = np.array([_table_length_m(*b) for b in CORRECTED_BONES])
BONE_KINDS: tuple[str, ...] = tuple(dict.fromkeys(_kind(b) for b in CORRECTED_BONES))
_KIND_OF_BONE: npt.NDArray[np.intp] = np.array(
    [BONE_KINDS.index(_kind(b)) for b in CORRECTED_BONES], dtype=np.intp
)
# The 12 main bones: pelvis-torso-neck, hips, thighs, shins, upper arms, forearms.
MAIN_BONES: tuple[tuple[int, int], ...] = tuple(
    (INDEX[p], INDEX[c])
    for p, c in [
        ("pelvis", "torso"), ("torso", "neck"), ("pelvis", "left_hip"), ("pelvis", "right_hip"),
        ("left_hip", "left_knee"), ("right_hip", "right_knee"),
        ("left_knee", "left_ankle"), ("right_knee", "right_ankle"),
        ("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow"),
        ("left_elbow", "left_wrist"), ("right_elbow", "right_wrist"),
    ]
)  # fmt: skip


# For every tree bone, its row in CORRECTED_BONES, or -1 (the model's depth offset is kept).
# Parents come before children in BONES, so one pass in this order sees every parent settled.
_TREE_WALK: tuple[tuple[int, int, int, int], ...] = tuple(
    (index, parent, child, CORRECTED_BONES.index((parent, child)))
    if (parent, child) in CORRECTED_BONES
    else (index, parent, child, -1)
    for index, (parent, child) in enumerate(BONES)
)
# Each kind's bones: the left and right one, or the middle one twice.
_KIND_BONES: npt.NDArray[np.intp] = np.array(
    [(np.flatnonzero(kind == _KIND_OF_BONE).tolist() * 2)[:2] for kind in range(len(BONE_KINDS))],
    dtype=np.intp,
)
_KIND_HAS_TWO: FloatArray = np.array(
    [float(np.count_nonzero(kind == _KIND_OF_BONE) == 2) for kind in range(len(BONE_KINDS))]
)


def _per_kind(values: FloatArray, combine: np.ufunc) -> FloatArray:
    """Combine a per-bone array (bones on the last axis) per kind: np.add sums a kind's two
    sides, np.maximum takes the larger (a middle bone counts once either way)."""
    first, second = values[..., _KIND_BONES[:, 0]], values[..., _KIND_BONES[:, 1]]
    if combine is np.add:
        return np.asarray(first + second * _KIND_HAS_TWO)
    return np.asarray(combine(first, second))


_PARENTS: npt.NDArray[np.intp] = np.array([p for p, _ in CORRECTED_BONES], dtype=np.intp)
_CHILDREN: npt.NDArray[np.intp] = np.array([c for _, c in CORRECTED_BONES], dtype=np.intp)
_MIN_DEPTH_M = 1e-3  # a joint closer than this to the camera plane is not a solution
# Lower bounds are kept for this many frames; the estimate is held at least at the
# BOUND_RANK-th largest, so one or two wrong joints cannot raise it and 2D jitter seldom exceeds it.
BOUND_WINDOW = 30
BOUND_RANK = 3


@dataclass(frozen=True)
class BoneLengthParams:
    """How lengths are learned.

    An observation counts when both joints have at least ``min_confidence`` and the bone lies
    within ``asin(max_side_on_sine)`` of the image plane (as the model sees it); it is weighed by
    the joints' confidences and by how side-on it is. Observations further than ``prior_gate``
    (a factor) from the scaled table, or further than ``estimate_gate`` from the current estimate,
    are outliers (a wrong joint, a foreshortened bone the model took for side-on) and ignored.
    The prior weighs ``prior_weight`` observations; ``memory`` caps the observations' weight, so
    the estimate follows the last few dozen frames; and no frame moves it by more than the factor
    ``1 + max_step``, so a steady sequence converges smoothly and one bad frame barely pulls it.
    ``ambiguity``: where the model puts a child joint this close
    (as a fraction of the half-distance between the two solutions) to the point of the ray
    nearest its parent, it does not say nearer or farther, and the side chosen last frame is kept.
    """

    min_confidence: float = 0.5
    max_side_on_sine: float = 0.35
    prior_gate: float = 1.6
    estimate_gate: float = 1.5
    prior_weight: float = 5.0
    memory: float = 30.0
    max_step: float = 0.02
    ambiguity: float = 0.2


@dataclass(frozen=True)
class BoneCorrection:
    """One person's corrected skeleton.

    ``xyz`` (34, 3) metres, every joint on its input camera ray; ``lengths`` (14,) the bone
    lengths used, metres, in :data:`CORRECTED_BONES` order (NaN when the person could not be
    corrected); ``unreachable`` the bones whose child ray never comes within the length of the
    parent: the child was put at the ray's point nearest the parent, so that bone is longer than
    its estimate; ``scale`` the skeleton's size relative to the limb table (1 = the table).
    """

    xyz: FloatArray
    lengths: FloatArray
    unreachable: tuple[tuple[int, int], ...]
    scale: float
    corrected: bool


def person_scale(xyz: FloatArray, confidence: FloatArray) -> float:
    """Size of a lifted skeleton relative to the limb table: the lift's own metric fit.

    The limb-length lift makes this 1 by construction; a skeleton anchored at a measured depth
    (or any rescaled one) gives its factor. NaN when no limb counts.
    """
    mm_per_metre = metric_scale(np.asarray(xyz), confidence, confidence > 0.0)
    if not np.isfinite(mm_per_metre) or mm_per_metre <= 0.0:
        return float("nan")
    return 1000.0 / mm_per_metre


def _person_scales(xyz: FloatArray, confidence: FloatArray) -> FloatArray:
    """:func:`person_scale` of N skeletons at once: (N, 34, 3), (N, 34) -> (N,), the same
    arithmetic (``lifting.metric_scale``) row by row."""
    i0, i1 = LIMB_JOINTS[:, 0], LIMB_JOINTS[:, 1]
    # C order throughout: NumPy sums a C-ordered row the way it sums a 1-D array (pairwise), so
    # every row's sums come out bit for bit as one person's would; fancy indexing along axis 1
    # returns another memory order, whose row sums NumPy adds up in a different order.
    limbs = np.ascontiguousarray(xyz[:, i1] - xyz[:, i0])
    lengths = np.sqrt(np.einsum("nij,nij->ni", limbs, limbs))
    usable = confidence > 0.0
    weights = np.where(usable[:, i0] & usable[:, i1], confidence[:, i0] * confidence[:, i1], 0.0)
    denominator = np.sum(np.ascontiguousarray(weights * lengths**2), axis=1)
    numerator = np.sum(np.ascontiguousarray(weights * lengths * LIMB_LENGTHS_MM), axis=1)
    valid = np.isfinite(denominator) & (denominator > 0.0)
    mm_per_metre = np.full(len(numerator), np.nan)
    np.divide(numerator, denominator, out=mm_per_metre, where=valid)
    good = np.isfinite(mm_per_metre) & (mm_per_metre > 0.0)
    scales: FloatArray = np.full(len(numerator), np.nan)
    np.divide(1000.0, mm_per_metre, out=scales, where=good)
    return scales


def bone_lengths(xyz: FloatArray, bones: Iterable[tuple[int, int]] = CORRECTED_BONES) -> FloatArray:
    """3D lengths of ``bones`` in ``xyz``'s units."""
    pairs = np.array(list(bones), dtype=np.intp).reshape(-1, 2)
    return np.asarray(np.linalg.norm(xyz[pairs[:, 1]] - xyz[pairs[:, 0]], axis=1))


class BoneLengthTracker:
    """One person's bone-length estimate, updated frame by frame, and the correction using it.

    The estimate is kept per bone kind (left and right share one) as a ratio to the scaled limb
    table: a confidence-weighted running mean of well-conditioned observations and the prior 1.0.
    """

    def __init__(self, params: BoneLengthParams | None = None) -> None:
        self.params = params or BoneLengthParams()
        self._ratio: FloatArray = np.ones(len(BONE_KINDS))
        self._evidence: FloatArray = np.full(len(BONE_KINDS), self.params.prior_weight)
        self._sides: FloatArray = np.zeros(
            len(BONES)
        )  # +1 farther, -1 nearer than the closest point; 0 new
        self.lengths: FloatArray = np.full(
            len(CORRECTED_BONES), np.nan
        )  # the last lengths used, metres
        # The last frames' lower bounds per bone (ratio to the scaled table; 0 = none).
        self._bounds: FloatArray = np.zeros((BOUND_WINDOW, len(CORRECTED_BONES)))
        self._frames = 0

    @property
    def ratios(self) -> FloatArray:
        """Estimated length / scaled table length per kind (:data:`BONE_KINDS` order)."""
        ratios: FloatArray = self._ratio.copy()
        return ratios

    def observe(self, xyz: FloatArray, confidence: FloatArray, scale: float) -> None:
        """Learn from one frame's lifted (uncorrected) skeleton whose size is ``scale``.

        Two kinds of evidence: a bone the model sees nearly side-on gives its length (a running
        mean); and in every frame the image alone shows how short each bone can be at least (how
        close its child's ray comes to the parent), whatever depth the model gave it. The
        estimate is held at or above a robust high value of those lower bounds over the last
        frames, approached at the same limited pace.
        """
        p = self.params
        vectors = xyz[_CHILDREN] - xyz[_PARENTS]
        lengths = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
        sine_sq = vectors[:, 2] ** 2 / np.maximum(lengths, 1e-12) ** 2
        side_on = (sine_sq <= p.max_side_on_sine**2) & (lengths > 0.0)
        ratio = np.where(side_on, lengths / (scale * TABLE_LENGTHS_M), 0.0)
        current = self._ratio[_KIND_OF_BONE]
        usable = (
            side_on
            & (np.minimum(confidence[_PARENTS], confidence[_CHILDREN]) >= p.min_confidence)
            & (ratio <= np.minimum(p.prior_gate, current * p.estimate_gate))
            & (ratio >= np.maximum(1.0 / p.prior_gate, current / p.estimate_gate))
        )
        weights = np.where(
            usable, confidence[_PARENTS] * confidence[_CHILDREN] * (1.0 - sine_sq), 0.0
        )
        kind_weight = _per_kind(weights, np.add)
        seen = kind_weight > 0.0
        total = self._evidence + kind_weight
        mean = (self._ratio * self._evidence + _per_kind(weights * ratio, np.add)) / np.where(
            seen, total, 1.0
        )
        # A lower bound seen in at least BOUND_RANK recent frames is a fact (the 2D would have to
        # be wrong that often): the estimate rises to it even without a side-on view.
        recent = np.partition(self._bounds, -BOUND_RANK, axis=0)[-BOUND_RANK]
        plausible = recent <= np.minimum(p.prior_gate, current * p.estimate_gate)
        bound = _per_kind(np.where(plausible, recent, 0.0), np.maximum)
        raise_ = bound > self._ratio
        step = 1.0 + p.max_step
        target = np.where(seen, mean, self._ratio)
        target = np.maximum(target, bound)
        limited = np.clip(target, self._ratio / step, self._ratio * step)
        self._ratio = np.where(seen | raise_, limited, self._ratio)
        self._evidence = np.where(seen, np.minimum(total, p.memory), self._evidence)

    def correct(
        self, xyz: npt.ArrayLike, confidence: npt.ArrayLike, learn: bool = True
    ) -> BoneCorrection:
        """Learn from this frame (unless ``learn`` is False), then correct its bone lengths."""
        points = np.array(xyz, dtype=np.float64).reshape(NUM_KEYPOINTS, 3)
        conf = np.array(confidence, dtype=np.float64).reshape(NUM_KEYPOINTS)
        lifted = (
            np.isfinite(points).all(axis=1)
            & np.isfinite(conf)
            & (conf > 0.0)
            & (points[:, 2] > _MIN_DEPTH_M)
        )
        conf = np.where(lifted, conf, 0.0)
        clean = np.where(lifted[:, None], points, 0.0)
        scale = person_scale(clean, conf) if lifted[0] else float("nan")
        if not np.isfinite(scale) or scale <= 0.0:
            return BoneCorrection(points, np.full(len(CORRECTED_BONES), np.nan), (), scale, False)
        if learn:
            self.observe(clean, conf, scale)
        lengths = scale * TABLE_LENGTHS_M * self._ratio[_KIND_OF_BONE]
        self.lengths = lengths
        corrected, unreachable, shortest = self._walk_tree(clean, lifted, lengths)
        if learn:
            confident = np.minimum(conf[_PARENTS], conf[_CHILDREN]) >= self.params.min_confidence
            bounds = np.where(confident, shortest / (scale * TABLE_LENGTHS_M), 0.0)
            self._bounds[self._frames % BOUND_WINDOW] = bounds
            self._frames += 1
        out = np.where(lifted[:, None], corrected, points)
        return BoneCorrection(out, lengths, unreachable, scale, True)

    def _walk_tree(
        self, points: FloatArray, lifted: npt.NDArray[np.bool_], lengths: FloatArray
    ) -> tuple[FloatArray, tuple[tuple[int, int], ...], FloatArray]:
        """New depths along every joint's ray, from the pelvis out; also the bones that could
        not reach their length, and each corrected bone's shortest possible length (0 where
        not solved).

        A child's depth t on its ray r with |t r - P| = length, P its (moved) parent:
        |t r - P|^2 = L^2 is (r.r) t^2 - 2 (r.P) t + (P.P - L^2) = 0, two depths symmetric about
        t0 = r.P / r.r, the ray's point nearest the parent. The model's child depth picks the
        side (nearer or farther than t0); when the model is ambiguous the last side is kept.
        With no real root the ray never comes close enough and t0 is the answer; the distance
        from P to the ray is the shortest the bone can be. Plain floats, inline: 14 small
        quadratics cost less than NumPy's or a function call's overhead would.
        """
        old = np.where(lifted, points[:, 2], 1.0)
        rays = points / old[:, None]  # unit-depth rays: the point at depth t is t * ray
        ray, old_depth, ok = rays.tolist(), old.tolist(), lifted.tolist()
        length, sides = lengths.tolist(), self._sides.tolist()
        ambiguity = self.params.ambiguity
        depth = list(old_depth)
        unreachable: list[tuple[int, int]] = []
        shortest = [0.0] * len(CORRECTED_BONES)
        for bone, parent, child, row in _TREE_WALK:
            if not (ok[parent] and ok[child]):
                continue
            # Where the model puts the child once its parent has moved along its own ray.
            model_depth = old_depth[child] + depth[parent] - old_depth[parent]
            if row < 0:
                new_depth = model_depth
            else:
                t = depth[parent]
                (rx, ry, rz), (qx, qy, qz) = ray[child], ray[parent]
                px, py, pz = qx * t, qy * t, qz * t
                squared = length[row] * length[row]
                a = rx * rx + ry * ry + rz * rz
                b = rx * px + ry * py + rz * pz
                discriminant = b * b - a * (px * px + py * py + pz * pz - squared)
                nearest = b / a
                shortest[row] = math.sqrt(max(squared - discriminant / a, 0.0))
                if discriminant < 0.0:
                    new_depth = nearest
                    unreachable.append((parent, child))
                else:
                    half_gap = math.sqrt(discriminant) / a
                    offset = model_depth - nearest
                    side = -1.0 if offset < 0.0 else 1.0
                    previous = sides[bone]
                    if previous != 0.0 and abs(offset) < ambiguity * half_gap:
                        side = previous
                    new_depth = nearest + side * half_gap
                    if new_depth <= _MIN_DEPTH_M:  # the nearer one is behind the camera
                        side, new_depth = 1.0, nearest + half_gap
                    sides[bone] = side
            # A joint never goes behind the camera.
            depth[child] = new_depth if new_depth > _MIN_DEPTH_M else old_depth[child]
        self._sides = np.array(sides)
        return rays * np.array(depth)[:, None], tuple(unreachable), np.array(shortest)


def _observe_rows(
    trackers: Sequence[BoneLengthTracker], xyz: FloatArray, confidence: FloatArray,
    scale: FloatArray,
) -> None:  # fmt: skip
    """:meth:`BoneLengthTracker.observe` for N people at once (one tracker per row): the same
    arithmetic on arrays with a leading people axis, so a person costs rows, not NumPy calls.
    Kept step for step with ``observe`` (which stays the cheaper path for one person); a test
    holds the two to equal results bit for bit."""
    p = trackers[0].params
    state = np.array([t._ratio for t in trackers])
    evidence = np.array([t._evidence for t in trackers])
    vectors = np.ascontiguousarray(xyz[:, _CHILDREN] - xyz[:, _PARENTS])  # see _person_scales
    lengths = np.sqrt(np.einsum("nij,nij->ni", vectors, vectors))
    sine_sq = vectors[..., 2] ** 2 / np.maximum(lengths, 1e-12) ** 2
    side_on = (sine_sq <= p.max_side_on_sine**2) & (lengths > 0.0)
    ratio = np.where(side_on, lengths / (scale[:, None] * TABLE_LENGTHS_M), 0.0)
    current = state[:, _KIND_OF_BONE]
    parents, children = confidence[:, _PARENTS], confidence[:, _CHILDREN]
    usable = (
        side_on
        & (np.minimum(parents, children) >= p.min_confidence)
        & (ratio <= np.minimum(p.prior_gate, current * p.estimate_gate))
        & (ratio >= np.maximum(1.0 / p.prior_gate, current / p.estimate_gate))
    )
    weights = np.where(usable, parents * children * (1.0 - sine_sq), 0.0)
    kind_weight = _per_kind(weights, np.add)
    seen = kind_weight > 0.0
    total = evidence + kind_weight
    mean = (state * evidence + _per_kind(weights * ratio, np.add)) / np.where(seen, total, 1.0)
    # A lower bound seen in at least BOUND_RANK recent frames is a fact (the 2D would have to
    # be wrong that often): the estimate rises to it even without a side-on view.
    bounds = np.array([t._bounds for t in trackers])
    recent = np.partition(bounds, -BOUND_RANK, axis=1)[:, -BOUND_RANK]
    plausible = recent <= np.minimum(p.prior_gate, current * p.estimate_gate)
    bound = _per_kind(np.where(plausible, recent, 0.0), np.maximum)
    raise_ = bound > state
    step = 1.0 + p.max_step
    target = np.where(seen, mean, state)
    target = np.maximum(target, bound)
    limited = np.clip(target, state / step, state * step)
    new_state = np.where(seen | raise_, limited, state)
    new_evidence = np.where(seen, np.minimum(total, p.memory), evidence)
    for tracker, ratio_row, evidence_row in zip(trackers, new_state, new_evidence, strict=True):
        tracker._ratio, tracker._evidence = ratio_row, evidence_row


def _correct_rows(
    trackers: Sequence[BoneLengthTracker], points: FloatArray, confidence: FloatArray,
    learn: bool,
) -> list[BoneCorrection]:  # fmt: skip
    """:meth:`BoneLengthTracker.correct` for N people (one tracker per row, all with the same
    params): (N, 34, 3) metres and (N, 34). Everything but the walk down each person's tree
    runs once for everyone."""
    lifted = (
        np.isfinite(points).all(axis=2)
        & np.isfinite(confidence)
        & (confidence > 0.0)
        & (points[..., 2] > _MIN_DEPTH_M)
    )
    conf = np.where(lifted, confidence, 0.0)
    clean = np.where(lifted[..., None], points, 0.0)
    scales = np.where(lifted[:, 0], _person_scales(clean, conf), np.nan)
    good = np.isfinite(scales) & (scales > 0.0)
    rows = np.flatnonzero(good).tolist()
    n = len(trackers)
    # The rows that can be corrected: a slice (no copies) in the usual case of everyone.
    sel: slice | list[int] = slice(None) if len(rows) == n else rows
    chosen = [trackers[i] for i in rows]
    if learn and rows:
        _observe_rows(chosen, clean[sel], conf[sel], scales[sel])
    results = {
        i: BoneCorrection(
            points[i], np.full(len(CORRECTED_BONES), np.nan), (), float(scales[i]), False
        )
        for i in np.flatnonzero(~good).tolist()
    }
    if not rows:
        return [results[i] for i in range(n)]
    ratios = np.array([t._ratio for t in chosen])
    table = scales[sel, None] * TABLE_LENGTHS_M
    all_lengths = table * ratios[:, _KIND_OF_BONE]
    walks = [
        tracker._walk_tree(clean[i], lifted[i], lengths)
        for tracker, i, lengths in zip(chosen, rows, all_lengths, strict=True)
    ]
    shortest = np.array([walk[2] for walk in walks])
    out = np.where(lifted[sel, :, None], np.array([walk[0] for walk in walks]), points[sel])
    if learn:
        row_conf = conf[sel]
        confident = np.minimum(row_conf[:, _PARENTS], row_conf[:, _CHILDREN]) >= (
            trackers[0].params.min_confidence
        )
        all_bounds = np.where(confident, shortest / table, 0.0)
    for k, (tracker, i) in enumerate(zip(chosen, rows, strict=True)):
        tracker.lengths = all_lengths[k]
        if learn:
            tracker._bounds[tracker._frames % BOUND_WINDOW] = all_bounds[k]
            tracker._frames += 1
        results[i] = BoneCorrection(out[k], all_lengths[k], walks[k][1], float(scales[i]), True)
    return [results[i] for i in range(n)]


class BoneLengthBank(PersonStates[BoneLengthTracker]):
    """Per-person bone-length trackers keyed by person id; a disabled bank changes nothing."""

    def __init__(self, params: BoneLengthParams | None = None, enabled: bool = True) -> None:
        super().__init__()
        self.params = params or BoneLengthParams()
        self.enabled = enabled

    def _create(self) -> BoneLengthTracker:
        return BoneLengthTracker(self.params)

    def correct(
        self, person_id: str, xyz: npt.ArrayLike, confidence: npt.ArrayLike
    ) -> BoneCorrection | None:
        """The person's corrected skeleton (their tracker is created on first sight); None when
        the bank is disabled."""
        if not self.enabled:
            return None
        return self._state_of(person_id).correct(xyz, confidence)

    def correct_many(
        self, person_ids: Sequence[str], xyz: npt.ArrayLike, confidence: npt.ArrayLike
    ) -> list[BoneCorrection | None]:
        """:meth:`correct` for N people of one frame at once: (N, 34, 3) and (N, 34); the
        results equal person-by-person calls."""
        if not self.enabled or not person_ids:
            return [None] * len(person_ids)
        n = len(person_ids)
        points = np.array(xyz, dtype=np.float64).reshape(n, NUM_KEYPOINTS, 3)
        conf = np.array(confidence, dtype=np.float64).reshape(n, NUM_KEYPOINTS)
        if n == 1:  # one person: the tracker's own path, cheaper than arrays with a people axis
            return [self.correct(person_ids[0], points[0], conf[0])]
        trackers = [self._state_of(person_id) for person_id in person_ids]
        return list(_correct_rows(trackers, points, conf, learn=True))

    def get(self, person_id: str) -> BoneLengthTracker | None:
        return self._people.get(person_id)
