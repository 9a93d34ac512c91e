"""Lift 2.5D keypoints (pixels + pelvis-relative depth) to a metric skeleton in the camera frame.

The model gives each joint's depth only relative to the pelvis, in units where pelvis-neck = 1.
The missing absolute depth Z of the pelvis is the one depth at which the body's limbs, seen through
the camera rays, have their known normalised lengths; each of the 17 measured limbs gives one
estimate (a quadratic in Z) and their median is robust to a few wrong joints. The known millimetre
lengths then fix the metric scale by weighted least squares.

Everything here is defensive: bad joints are excluded rather than allowed to produce NaN/inf, and a
person that cannot be lifted comes back with ``ok=False`` and zeros.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bodypose3d_ros.core.camera.distortion import Distortion
from bodypose3d_ros.core.skeleton import (
    LIMB_JOINTS,
    LIMB_LENGTHS_MM,
    LIMB_LENGTHS_NORMALIZED,
    NUM_KEYPOINTS,
)
from bodypose3d_ros.core.types import FloatArray

# A limb whose two rays are closer than this (squared, in normalised image units) points along the
# line of sight: its length says nothing about depth, so it is skipped.
_MIN_RAY_SEPARATION_SQ = 1e-12
_ROOT = 0  # the pelvis: its relative depth is zero by definition


@dataclass(frozen=True)
class LiftResult:
    """One person's lifted skeleton.

    ``xyz`` (34, 3) metres in the camera optical frame, always finite (zeros where not lifted);
    ``confidence`` (34,) the input confidence, zeroed for joints that could not be lifted;
    ``root_depth`` the pelvis depth in scale-normalised units and ``scale_mm`` the millimetres per
    normalised unit (both NaN when ``ok`` is False).
    """

    xyz: FloatArray
    confidence: FloatArray
    root_depth: float
    scale_mm: float
    ok: bool


def _failed() -> LiftResult:
    return LiftResult(
        xyz=np.zeros((NUM_KEYPOINTS, 3)),
        confidence=np.zeros(NUM_KEYPOINTS),
        root_depth=float("nan"),
        scale_mm=float("nan"),
        ok=False,
    )


def _as_float(value: npt.ArrayLike, shape: tuple[int, ...], name: str) -> FloatArray:
    array = np.array(value, dtype=np.float64)  # a copy: callers' arrays are never modified
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    return array


def _median(values: FloatArray) -> float:
    """Median of a short 1-D array (np.median's overhead dominates at 17 values)."""
    ordered = np.sort(values)
    n = ordered.size
    middle = n // 2
    return float(ordered[middle] if n % 2 else 0.5 * (ordered[middle - 1] + ordered[middle]))


def camera_rays(
    uv: npt.ArrayLike, k: npt.ArrayLike, distortion: Distortion | None = None
) -> FloatArray:
    """Rays inv(K) [u, v, 1] scaled to unit depth, so the point at depth d on ray r is d * r.

    With a lens ``distortion`` the pixels are raw (distorted) image pixels and the rays those of
    the undistorted points; without one, the closed form below. Returns an (N, 3) array; rows
    are NaN where ``k`` cannot be inverted or a pixel is not finite.
    """
    pixels = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    intrinsics = np.asarray(k, dtype=np.float64).reshape(3, 3)
    if distortion is not None:
        rays = np.ones((len(pixels), 3))
        rays[:, :2] = distortion.undistort(pixels, intrinsics)
        return rays
    (fx, skew, cx), (k10, fy, cy), bottom = intrinsics.tolist()
    if k10 == 0.0 and bottom == [0.0, 0.0, 1.0] and fx != 0.0 and fy != 0.0:
        # A pinhole K (the usual case): closed form, several times cheaper than a solve.
        rays = np.ones((len(pixels), 3))
        with np.errstate(invalid="ignore"):  # non-finite pixels give NaN rays, as with a solve
            rays[:, 1] = (pixels[:, 1] - cy) / fy
            rays[:, 0] = (pixels[:, 0] - cx - skew * rays[:, 1]) / fx
        return rays
    homogeneous = np.column_stack([pixels, np.ones(len(pixels))])
    try:
        rays = np.linalg.solve(intrinsics, homogeneous.T).T
    except np.linalg.LinAlgError:
        return np.full((len(pixels), 3), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        result: FloatArray = rays / rays[:, 2:3]
    return result


def project(
    xyz: npt.ArrayLike, k: npt.ArrayLike, distortion: Distortion | None = None
) -> FloatArray:
    """Projection of (N, 3) camera-frame points to (N, 2) pixels, through ``distortion`` if any.

    Points at or behind the camera plane (z <= 0) have no image: their pixels are NaN.
    """
    if distortion is not None:
        return distortion.project(xyz, k)
    points = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    intrinsics = np.asarray(k, dtype=np.float64).reshape(3, 3)
    image = points @ intrinsics.T
    depth = image[:, 2:3]
    pixels: FloatArray = np.full((len(points), 2), np.nan)
    np.divide(image[:, :2], depth, out=pixels, where=depth > 0)
    return pixels


def limb_root_depths(
    rays: FloatArray, z_rel: FloatArray, usable: npt.NDArray[np.bool_]
) -> FloatArray:
    """Per-limb root depth: the larger Z with |r1 (z1 + Z) - r0 (z0 + Z)| = C; NaN if unsolvable.

    With d = r1 z1 - r0 z0 and e = r1 - r0 the condition is |d + Z e|^2 = C^2, the quadratic
    (e.e) Z^2 + 2 (d.e) Z + (d.d - C^2) = 0 (reference section 5 in vector form). A limb is
    unsolvable when a joint is unusable, its rays coincide (e ~ 0), the discriminant is negative (no
    depth makes it long enough) or the root is not in front of the camera.
    """
    i0, i1 = LIMB_JOINTS[:, 0], LIMB_JOINTS[:, 1]
    d = rays[i1] * z_rel[i1, None] - rays[i0] * z_rel[i0, None]
    e = rays[i1] - rays[i0]
    a = np.einsum("ij,ij->i", e, e)
    b = 2.0 * np.einsum("ij,ij->i", d, e)
    c = np.einsum("ij,ij->i", d, d) - LIMB_LENGTHS_NORMALIZED**2
    discriminant = b * b - 4.0 * a * c
    solvable = usable[i0] & usable[i1] & (a > _MIN_RAY_SEPARATION_SQ) & (discriminant >= 0.0)
    depths = np.full(len(LIMB_JOINTS), np.nan)
    depths[solvable] = (-b[solvable] + np.sqrt(discriminant[solvable])) / (2.0 * a[solvable])
    depths[~(depths > 0.0)] = np.nan  # also clears NaN; a root behind the camera is no answer
    return depths


def metric_scale(
    points: FloatArray, confidence: FloatArray, usable: npt.NDArray[np.bool_]
) -> float:
    """Millimetres per normalised unit: weighted least-squares fit of limb lengths to the mm table.

    Minimises sum w (s L - T)^2 with w = c0 c1, so s = sum(w L T) / sum(w L^2). NaN when no limb
    counts.
    """
    i0, i1 = LIMB_JOINTS[:, 0], LIMB_JOINTS[:, 1]
    limbs = points[i1] - points[i0]
    lengths = np.sqrt(np.einsum("ij,ij->i", limbs, limbs))
    weights = np.where(usable[i0] & usable[i1], confidence[i0] * confidence[i1], 0.0)
    denominator = float(np.sum(weights * lengths**2))
    if not np.isfinite(denominator) or denominator <= 0.0:
        return float("nan")
    return float(np.sum(weights * lengths * LIMB_LENGTHS_MM)) / denominator


def lift_pose(
    uv: npt.ArrayLike,
    z_rel: npt.ArrayLike,
    confidence: npt.ArrayLike,
    k: npt.ArrayLike,
    root_depth_filter: Callable[[float], float] | None = None,
    min_confidence: float = 0.0,
    distortion: Distortion | None = None,
) -> LiftResult:
    """Lift one person's 2.5D keypoints to metres in the camera optical frame.

    ``uv`` (34, 2) source-image pixels, ``z_rel`` (34,) pelvis-relative depth (pelvis-neck = 1;
    the pelvis's own value is taken as 0), ``confidence`` (34,), ``k`` the source image's 3x3
    intrinsics and ``distortion`` its lens distortion (None: a pinhole or rectified image); every
    joint lands on the undistorted ray of its pixel, so it reprojects through the distorted camera
    onto ``uv``.
    ``root_depth_filter`` maps the solved root depth to the one used (a temporal smoother hooks in
    here); it is only called when a depth was solved.

    Joints with non-finite inputs, and joints that would land at or behind the camera, are not
    lifted (confidence 0, xyz 0). Joints at or below ``min_confidence`` are still lifted but take no
    part in solving depth or scale.
    """
    pixels = _as_float(uv, (NUM_KEYPOINTS, 2), "uv")
    depths_rel = _as_float(z_rel, (NUM_KEYPOINTS,), "z_rel")
    conf = _as_float(confidence, (NUM_KEYPOINTS,), "confidence")
    intrinsics = _as_float(k, (3, 3), "k")
    if not np.all(np.isfinite(intrinsics)):
        return _failed()
    depths_rel[_ROOT] = 0.0

    rays = camera_rays(pixels, intrinsics, distortion)
    finite = np.isfinite(rays).all(axis=1) & np.isfinite(depths_rel) & np.isfinite(conf)
    # Zero the bad joints' inputs so no inf - inf reaches the arithmetic below.
    rays = np.where(finite[:, None], rays, 0.0)
    depths_rel = np.where(finite, depths_rel, 0.0)
    conf = np.where(finite, conf, 0.0)
    trusted = finite & (conf > max(min_confidence, 0.0))

    limb_depths = limb_root_depths(rays, depths_rel, trusted)
    limb_depths = limb_depths[np.isfinite(limb_depths)]
    if limb_depths.size == 0:
        return _failed()
    root_depth = _median(limb_depths)
    if root_depth_filter is not None:
        root_depth = float(root_depth_filter(root_depth))
        if not np.isfinite(root_depth) or root_depth <= 0.0:
            return _failed()

    joint_depths = np.where(finite, depths_rel + root_depth, 0.0)
    lifted = finite & (joint_depths > 0.0)
    points = np.where(lifted[:, None], rays * joint_depths[:, None], 0.0)

    scale_mm = metric_scale(points, conf, trusted & lifted)
    if not np.isfinite(scale_mm) or scale_mm <= 0.0:
        return _failed()
    xyz = points * (scale_mm / 1000.0)
    return LiftResult(
        xyz=xyz,
        confidence=np.where(lifted, conf, 0.0),
        root_depth=root_depth,
        scale_mm=scale_mm,
        ok=True,
    )


def _row_medians(values: FloatArray) -> FloatArray:
    """Median of the finite values of every row of an (N, M) array (NaN for a row with none)."""
    ordered = np.sort(values, axis=1)  # NaN sorts last
    count = np.isfinite(ordered).sum(axis=1)
    rows = np.arange(len(ordered))
    upper = ordered[rows, np.minimum(count // 2, ordered.shape[1] - 1)]
    lower = ordered[rows, np.maximum((count - 1) // 2, 0)]
    medians: FloatArray = np.where(count > 0, 0.5 * (lower + upper), np.nan)
    return medians


def lift_poses(
    uv: npt.ArrayLike,
    z_rel: npt.ArrayLike,
    confidence: npt.ArrayLike,
    k: npt.ArrayLike,
    root_depth_filters: Sequence[Callable[[float], float] | None] | None = None,
    min_confidence: float = 0.0,
    distortion: Distortion | None = None,
) -> list[LiftResult]:
    """:func:`lift_pose` for N people of one image at once: (N, 34, 2), (N, 34), (N, 34).

    Every step runs on the whole batch, so an extra person costs array rows, not a Python pass
    through the lift; only the root-depth filters (one per person, or None) are called one by
    one. The results equal ``lift_pose`` person by person.
    """
    pixels = np.array(uv, dtype=np.float64)
    n = pixels.shape[0] if pixels.ndim == 3 else -1
    if pixels.shape != (n, NUM_KEYPOINTS, 2):
        raise ValueError(f"uv must have shape (N, {NUM_KEYPOINTS}, 2), got {pixels.shape}")
    depths_rel = _as_float(z_rel, (n, NUM_KEYPOINTS), "z_rel")
    conf = _as_float(confidence, (n, NUM_KEYPOINTS), "confidence")
    intrinsics = _as_float(k, (3, 3), "k")
    filters = list(root_depth_filters) if root_depth_filters is not None else [None] * n
    if len(filters) != n:
        raise ValueError(f"{len(filters)} root depth filters for {n} people")
    if n == 0:
        return []
    if not np.all(np.isfinite(intrinsics)):
        return [_failed() for _ in range(n)]
    depths_rel[:, _ROOT] = 0.0

    rays = camera_rays(pixels.reshape(-1, 2), intrinsics, distortion).reshape(n, NUM_KEYPOINTS, 3)
    finite = np.isfinite(rays).all(axis=2) & np.isfinite(depths_rel) & np.isfinite(conf)
    rays = np.where(finite[..., None], rays, 0.0)
    depths_rel = np.where(finite, depths_rel, 0.0)
    conf = np.where(finite, conf, 0.0)
    trusted = finite & (conf > max(min_confidence, 0.0))

    # Per-limb root depths for every person (limb_root_depths on an extra leading axis).
    i0, i1 = LIMB_JOINTS[:, 0], LIMB_JOINTS[:, 1]
    d = rays[:, i1] * depths_rel[:, i1, None] - rays[:, i0] * depths_rel[:, i0, None]
    e = rays[:, i1] - rays[:, i0]
    a = np.einsum("nij,nij->ni", e, e)
    b = 2.0 * np.einsum("nij,nij->ni", d, e)
    c = np.einsum("nij,nij->ni", d, d) - LIMB_LENGTHS_NORMALIZED**2
    discriminant = b * b - 4.0 * a * c
    solvable = trusted[:, i0] & trusted[:, i1] & (a > _MIN_RAY_SEPARATION_SQ)
    solvable &= discriminant >= 0.0
    limb_depths = np.full(a.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        roots = (-b + np.sqrt(np.where(solvable, discriminant, 0.0))) / (2.0 * a)
    limb_depths[solvable] = roots[solvable]
    limb_depths[~(limb_depths > 0.0)] = np.nan
    root_depth = _row_medians(limb_depths)
    for i, smooth in enumerate(filters):
        if smooth is not None and np.isfinite(root_depth[i]):
            root_depth[i] = float(smooth(float(root_depth[i])))
    ok = np.isfinite(root_depth) & (root_depth > 0.0)
    root_depth = np.where(ok, root_depth, 0.0)

    joint_depths = np.where(finite, depths_rel + root_depth[:, None], 0.0)
    lifted = finite & (joint_depths > 0.0) & ok[:, None]
    points = np.where(lifted[..., None], rays * joint_depths[..., None], 0.0)

    limbs = points[:, i1] - points[:, i0]
    lengths = np.sqrt(np.einsum("nij,nij->ni", limbs, limbs))
    usable = trusted & lifted
    weights = np.where(usable[:, i0] & usable[:, i1], conf[:, i0] * conf[:, i1], 0.0)
    denominator = np.sum(weights * lengths**2, axis=1)
    numerator = np.sum(weights * lengths * LIMB_LENGTHS_MM, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale_mm = np.where(denominator > 0.0, numerator / denominator, np.nan)
    ok &= np.isfinite(scale_mm) & (scale_mm > 0.0)
    xyz = points * (np.where(ok, scale_mm, 0.0) / 1000.0)[:, None, None]
    confidences = np.where(lifted, conf, 0.0)
    results: list[LiftResult] = []
    for i in range(n):
        if not ok[i]:
            results.append(_failed())
            continue
        results.append(
            LiftResult(
                xyz=xyz[i],
                confidence=confidences[i],
                root_depth=float(root_depth[i]),
                scale_mm=float(scale_mm[i]),
                ok=True,
            )
        )
    return results
