"""Anchor a lifted skeleton at the distance a registered depth image measures.

The limb-length lift knows a person's shape but guesses their distance from the table's adult limb
lengths: someone 0.6x the table's size comes back 1/0.6 = 1.67x too far away, someone 1.1x the
size 1.1x too close. A depth camera measures the distance directly. This step keeps the model's
skeleton shape and only changes its scale:

1. **Samples.** Around each confident torso keypoint (pelvis, torso, hips, shoulders: the body's
   largest, flattest, least occluded surface) a small window of depth pixels is read; the window
   grows with the torso's size in the image and is subsampled so it never costs more than about a
   hundred pixels. Holes (0, NaN, inf) are dropped. The depth image may have another resolution
   than the colour image (same field of view): keypoints are scaled to it.
2. **Surface to joint.** The camera sees the body's surface, the skeleton's joints are inside it.
   The joints of the torso lie about half a torso depth behind its front (or back) surface:
   ``TORSO_HALF_DEPTH_M`` = 0.10 m for the table's adult (adult chest and abdominal depth are about
   0.20-0.25 m). It is scaled with the person, like every other length: a person ``k`` times the
   table's size has joints ``k x 0.10`` m behind the surface.
3. **One scale per sample.** Scaling the lifted skeleton by ``k`` about the camera centre keeps
   every joint on its own camera ray (the reprojection is unchanged) and multiplies its depth by
   ``k``. A sample ``s`` at joint ``j`` (lifted depth ``z_j``) says ``k z_j = s + k h``, so
   ``k = s / (z_j - h)``. Expressed as the pelvis depth ``k z_pelvis`` it is one estimate in
   metres per sample, whichever torso joint it came from (a leaning torso does not bias it).
4. **Robust statistics.** Background seen past the silhouette's edge lies far behind the body,
   an arm or an object in front of it lies in front: only the near cluster around the 25th
   percentile is kept (``cluster_band_m``), then samples further than ``mad_gate`` robust standard
   deviations (1.4826 MAD) from its median are dropped, and the median of the rest is the answer.
5. **Fallback.** With fewer than ``min_samples`` samples left, samples from fewer than
   ``min_distinct_pixels`` distinct depth pixels (a depth image of a few pixels would otherwise
   give twenty copies of one pixel), or a scale no human has
   (``scale_range``: a toddler to a tall adult, with margin), the person keeps the limb-length
   lift and says so (``root_depth_source`` = ``limb_lengths``); ``DepthAnchor.cause`` names why
   in one stable word (``CAUSES``), which /diagnostics counts, and ``reason`` says it in full.

Failure modes: a person seen edge-on has only ~0.1 m of torso depth and half of it is sideways
(a few cm too far); a large object held in front of the whole torso is taken for the body; a
person nearer than the sensor's minimum range has no depth at all (fallback).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from bodypose3d_ros.core.depth.depth_image import DepthImage
from bodypose3d_ros.core.skeleton import INDEX
from bodypose3d_ros.core.types import ROOT_DEPTH_DEPTH_IMAGE, FloatArray, Person3D

PELVIS: Final = INDEX["pelvis"]
# The torso keypoints sampled, and the pairs whose image distance measures the torso's size.
TORSO_KEYPOINTS: Final[tuple[int, ...]] = tuple(
    INDEX[n]
    for n in ("pelvis", "torso", "left_hip", "right_hip", "left_shoulder", "right_shoulder")
)
_SIZE_PAIRS: Final = np.array(
    [
        (INDEX["left_hip"], INDEX["left_shoulder"]),
        (INDEX["right_hip"], INDEX["right_shoulder"]),
        (INDEX["pelvis"], INDEX["neck"]),
        (INDEX["left_shoulder"], INDEX["right_shoulder"]),
    ],
    dtype=np.intp,
)
# Half the table adult's torso depth (front surface to the joints), metres; see step 2 above.
TORSO_HALF_DEPTH_M: Final = 0.10
_MAD_TO_SIGMA: Final = 1.4826


@dataclass(frozen=True)
class DepthFusionConfig:
    """How depth samples are taken and judged (defaults suit 0.5-8 m and common RGB-D sensors).

    ``window_fraction``: window half-size as a fraction of the torso's image size;
    ``window_px``: its bounds in depth pixels; ``samples_per_side``: most samples along a window
    side (larger windows are subsampled); ``min_samples``: fewer valid samples than this fall back;
    ``cluster_band_m``: the near cluster's half-width; ``mad_gate``: outlier gate in robust sigmas;
    ``min_gate_m``: the gate never gets tighter than this (a perfectly flat, noise-free surface);
    ``depth_range_m``: depths outside it are not measurements; ``scale_range``: plausible
    person size / table size; ``surface_to_joint_m``: see ``TORSO_HALF_DEPTH_M``;
    ``min_distinct_pixels``: valid samples must come from at least this many depth pixels.
    """

    min_keypoint_confidence: float = 0.3
    window_fraction: float = 0.08
    window_px: tuple[int, int] = (1, 24)
    samples_per_side: int = 9
    min_samples: int = 20
    cluster_band_m: float = 0.25
    mad_gate: float = 3.0
    min_gate_m: float = 0.01
    depth_range_m: tuple[float, float] = (0.1, 20.0)
    scale_range: tuple[float, float] = (0.3, 3.0)
    surface_to_joint_m: float = TORSO_HALF_DEPTH_M
    min_distinct_pixels: int = 12


# Why a person kept the limb-length distance, one stable word each (diagnostics count by it).
CAUSE_NO_PELVIS: Final = "no lifted pelvis"
CAUSE_NO_TORSO: Final = "no confident torso"
CAUSE_FEW_SAMPLES: Final = "few valid samples"
CAUSE_FEW_PIXELS: Final = "too few depth pixels"
CAUSE_INCONSISTENT: Final = "inconsistent samples"
CAUSE_IMPLAUSIBLE: Final = "implausible size"
CAUSES: Final = (
    CAUSE_NO_PELVIS,
    CAUSE_NO_TORSO,
    CAUSE_FEW_SAMPLES,
    CAUSE_FEW_PIXELS,
    CAUSE_INCONSISTENT,
    CAUSE_IMPLAUSIBLE,
)


@dataclass(frozen=True)
class DepthAnchor:
    """The outcome for one person: ``scale`` for the lifted skeleton (NaN when not ``ok``),
    the pelvis depth it gives, how many samples were valid and kept, and on a fallback its
    ``cause`` (one of ``CAUSES``) and ``reason`` (one line with the numbers)."""

    ok: bool
    scale: float
    pelvis_depth_m: float
    valid_samples: int
    kept_samples: int
    reason: str = ""
    cause: str = ""


def _failed(cause: str, reason: str, valid: int = 0, kept: int = 0) -> DepthAnchor:
    return DepthAnchor(False, float("nan"), float("nan"), valid, kept, reason, cause)


def _sorted_median(ordered: npt.NDArray[np.float64]) -> float:
    """Median of an already sorted, non-empty 1-D array (np.median would sort it again)."""
    n = ordered.size
    middle = n // 2
    return float(ordered[middle] if n % 2 else 0.5 * (ordered[middle - 1] + ordered[middle]))


def _torso_size_px(uv: FloatArray, usable: npt.NDArray[np.bool_]) -> float:
    """The largest confident torso distance in the image (pixels), a size for the windows."""
    a, b = _SIZE_PAIRS[:, 0], _SIZE_PAIRS[:, 1]
    both = usable[a] & usable[b]
    if not both.any():
        return 0.0
    gaps = uv[a[both]] - uv[b[both]]
    return float(np.sqrt(np.einsum("ij,ij->i", gaps, gaps).max()))


def measure_anchor(
    uv: npt.ArrayLike,
    xyz: npt.ArrayLike,
    confidence: npt.ArrayLike,
    depth: DepthImage,
    image_width: int,
    image_height: int,
    config: DepthFusionConfig = DepthFusionConfig(),
) -> DepthAnchor:
    """The scale that puts one lifted skeleton at the depth image's distance (steps 1-5 above).

    ``uv`` (34, 2) colour-image pixels, ``xyz`` (34, 3) the lifted skeleton in metres,
    ``confidence`` (34,); the colour image is ``image_width`` x ``image_height``.
    """
    c = config
    pixels = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    points = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    conf = np.asarray(confidence, dtype=np.float64).reshape(-1)
    h = c.surface_to_joint_m
    z_pelvis = float(points[PELVIS, 2])
    if not (np.isfinite(z_pelvis) and z_pelvis > h):
        return _failed(CAUSE_NO_PELVIS, "the lifted pelvis has no depth")
    usable = (
        (conf >= c.min_keypoint_confidence)
        & np.isfinite(pixels).all(axis=1)
        & np.isfinite(points[:, 2])
        & (points[:, 2] > h)
    )
    joints = [j for j in TORSO_KEYPOINTS if usable[j]]
    if not joints:
        return _failed(CAUSE_NO_TORSO, "no confident torso keypoint")
    sx, sy = depth.width / image_width, depth.height / image_height
    half = round(c.window_fraction * _torso_size_px(pixels, usable) * min(sx, sy))
    half = int(np.clip(half, *c.window_px))
    stride = max(1, -(-(2 * half + 1) // c.samples_per_side))  # ceil: <= samples_per_side a side
    steps = np.arange(-half, half + 1, stride)
    # Every window at once: (joints, rows, columns) depth pixel indices. Pixel centres: colour
    # pixel u covers [u - 0.5, u + 0.5), and so does depth pixel u_d.
    centre_cols = np.rint((pixels[joints, 0] + 0.5) * sx - 0.5).astype(np.intp)
    centre_rows = np.rint((pixels[joints, 1] + 0.5) * sy - 0.5).astype(np.intp)
    rows = centre_rows[:, None, None] + steps[None, :, None]
    cols = centre_cols[:, None, None] + steps[None, None, :]
    rows, cols = np.broadcast_arrays(rows, cols)
    inside = (rows >= 0) & (rows < depth.height) & (cols >= 0) & (cols < depth.width)
    rows, cols = rows[inside], cols[inside]
    surface = depth.metres(depth.values[rows, cols])
    # k = s / (z_j - h), as a pelvis depth k * z_pelvis (step 3): one factor per joint.
    factor = z_pelvis / (points[joints, 2] - h)
    estimates = surface * np.broadcast_to(factor[:, None, None], inside.shape)[inside]
    lo, hi = c.depth_range_m
    in_range = (surface >= lo) & (surface <= hi)  # NaN compares False
    samples = np.sort(estimates[in_range])
    valid = int(samples.size)
    if valid < c.min_samples:
        return _failed(
            CAUSE_FEW_SAMPLES,
            f"{valid} valid depth samples on the torso (< {c.min_samples})",
            valid,
        )
    pixels_seen = np.unique(rows[in_range] * depth.width + cols[in_range]).size
    if pixels_seen < c.min_distinct_pixels:
        return _failed(
            CAUSE_FEW_PIXELS,
            f"the {valid} samples come from {pixels_seen} depth pixels "
            f"(< {c.min_distinct_pixels}): the {depth.width}x{depth.height} depth image is too "
            "coarse for this person",
            valid,
        )
    reference = samples[(valid - 1) // 4]  # the 25th percentile: in the body, not the background
    near = samples[np.searchsorted(samples, reference - c.cluster_band_m, "left") :
                   np.searchsorted(samples, reference + c.cluster_band_m, "right")]  # fmt: skip
    centre = _sorted_median(near)
    spread = _MAD_TO_SIGMA * _sorted_median(np.sort(np.abs(near - centre)))
    gate = max(c.mad_gate * spread, c.min_gate_m)
    kept = near[np.searchsorted(near, centre - gate, "left") :
                np.searchsorted(near, centre + gate, "right")]  # fmt: skip
    if kept.size < c.min_samples:
        return _failed(
            CAUSE_INCONSISTENT,
            f"{kept.size} consistent depth samples (< {c.min_samples})",
            valid,
            kept.size,
        )
    pelvis_depth = _sorted_median(kept)
    scale = pelvis_depth / z_pelvis
    if not c.scale_range[0] <= scale <= c.scale_range[1]:
        return _failed(
            CAUSE_IMPLAUSIBLE,
            f"depth says the person is {scale:.2f}x the table's size: not a person's surface",
            valid,
            kept.size,
        )
    return DepthAnchor(True, scale, pelvis_depth, valid, int(kept.size))


def anchor_person(
    person: Person3D,
    depth: DepthImage,
    image_width: int,
    image_height: int,
    config: DepthFusionConfig = DepthFusionConfig(),
) -> tuple[Person3D, DepthAnchor]:
    """``person`` scaled about the camera centre to the measured depth, or unchanged (fallback).

    Scaling about the camera centre keeps each joint on its camera ray, so the published pixels
    and the reprojection of the 3D joints do not change; only the distance (and the size) do.
    """
    anchor = measure_anchor(
        person.uv, person.xyz, person.confidence, depth, image_width, image_height, config
    )
    if not anchor.ok:
        return person, anchor
    anchored = dataclasses.replace(
        person,
        xyz=np.asarray(person.xyz, dtype=np.float64) * anchor.scale,
        root_depth_source=ROOT_DEPTH_DEPTH_IMAGE,
    )
    return anchored, anchor
