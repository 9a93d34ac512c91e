"""TEST FIXTURE: synthetic people for depth fusion, with known 3D truth.

``standing_skeleton`` builds a 34-joint skeleton whose 17 measured limbs have exactly the limb
table's lengths times ``size`` (1.0 = the table's adult, 0.6 = a child), standing in front of the
camera. ``render_body_depth`` renders what an aligned depth camera sees of such a skeleton: a
person-shaped surface (rounded capsules around the bones, the torso about 0.2 m deep times
``size``) over a far background, with the sensor's noise growing with distance squared and holes.
``as_pose25d`` turns a 3D skeleton into what a pose model reports (pixels + pelvis-relative depth
normalised by the person's own pelvis-neck length), so a scripted model can feed the pipeline.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from bodypose3d_ros.core.camera.intrinsics import Intrinsics
from bodypose3d_ros.core.lift.lifting import project
from bodypose3d_ros.core.skeleton import (
    INDEX,
    KEYPOINT_NAMES,
    LIMB_SLOT_JOINTS,
    MEAN_LIMB_LENGTHS_MM,
    NUM_KEYPOINTS,
)
from bodypose3d_ros.core.types import Box, FloatArray, Pose25D

_I = INDEX
PELVIS_NECK_M: Final = 0.4926854
BACKGROUND_M: Final = 8.0


def _circle_intersections(a: FloatArray, ra: float, b: FloatArray, rb: float) -> list[FloatArray]:
    """The (up to two) 2D points at distance ``ra`` from ``a`` and ``rb`` from ``b``."""
    d = float(np.linalg.norm(b - a))
    along = (ra**2 - rb**2 + d**2) / (2 * d)
    across = np.sqrt(max(ra**2 - along**2, 0.0))
    unit = (b - a) / d
    normal = np.array([-unit[1], unit[0]])
    return [a + along * unit + across * normal, a + along * unit - across * normal]


def _table_m(a: str, b: str, side: str = "left") -> float:
    """The limb table's length in metres of the limb between joints ``a`` and ``b`` of ``side``."""
    names = {f"{side}_{n}" if n not in ("pelvis", "neck") else n for n in (a, b)}
    for slot, joints in LIMB_SLOT_JOINTS.items():
        if {KEYPOINT_NAMES[j] for j in joints} == names:
            return float(MEAN_LIMB_LENGTHS_MM[slot]) / 1000.0
    raise KeyError(f"no limb {a}-{b} in the table")


def standing_skeleton(size: float = 1.0) -> FloatArray:
    """(34, 3) metres, pelvis at the origin, x right, y down, facing the camera (-z).

    The limb-table limbs (pelvis-torso-neck, hips, legs, shoulders, arms, hip-shoulder) have the
    table's millimetre lengths times ``size``; head, hands and feet are placed plausibly.
    """
    xyz = np.zeros((NUM_KEYPOINTS, 3))
    y_neck = -PELVIS_NECK_M
    xyz[_I["torso"]] = (0.0, y_neck / 2, 0.0)
    xyz[_I["neck"]] = (0.0, y_neck, 0.0)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        hip_len, thigh, shin, sh_neck, hip_sh, upper, fore = (
            _table_m(a, b, side)
            for a, b in (("pelvis", "hip"), ("hip", "knee"), ("knee", "ankle"),
                         ("neck", "shoulder"), ("hip", "shoulder"), ("shoulder", "elbow"),
                         ("elbow", "wrist"))
        )  # fmt: skip
        hip = np.array([sign * hip_len, 0.0, 0.0])
        xyz[_I[f"{side}_hip"]] = hip
        knee = hip + np.array([0.0, thigh, 0.0])
        ankle = knee + np.array([0.0, shin, 0.0])
        xyz[_I[f"{side}_knee"]], xyz[_I[f"{side}_ankle"]] = knee, ankle
        xyz[_I[f"{side}_big_toe"]] = ankle + np.array([sign * 0.02, 0.06, -0.14])
        xyz[_I[f"{side}_small_toe"]] = ankle + np.array([sign * 0.06, 0.06, -0.11])
        xyz[_I[f"{side}_heel"]] = ankle + np.array([0.0, 0.07, 0.05])
        # The shoulder: neck-shoulder and hip-shoulder lengths both from the table.
        candidates = _circle_intersections(np.array([0.0, y_neck]), sh_neck, hip[:2], hip_sh)
        shoulder_2d = max(candidates, key=lambda p: sign * p[0])
        shoulder = np.array([shoulder_2d[0], shoulder_2d[1], 0.0])
        xyz[_I[f"{side}_shoulder"]] = shoulder
        elbow = shoulder + upper * np.array([sign * 0.26, 0.94, -0.22]) / np.linalg.norm(
            [0.26, 0.94, 0.22]
        )
        wrist = elbow + fore * np.array([sign * 0.1, 0.6, -0.79]) / np.linalg.norm([0.1, 0.6, 0.79])
        xyz[_I[f"{side}_elbow"]], xyz[_I[f"{side}_wrist"]] = elbow, wrist
        for name, offset in (("pinky_knuckle", (sign * 0.03, 0.05, -0.06)),
                             ("middle_tip", (0.0, 0.08, -0.12)),
                             ("index_knuckle", (-sign * 0.01, 0.05, -0.07)),
                             ("thumb_tip", (-sign * 0.03, 0.02, -0.08))):  # fmt: skip
            xyz[_I[f"{side}_{name}"]] = wrist + offset
        xyz[_I[f"{side}_eye"]] = (sign * 0.032, y_neck - 0.18, -0.09)
        xyz[_I[f"{side}_ear"]] = (sign * 0.075, y_neck - 0.16, 0.0)
    xyz[_I["nose"]] = (0.0, y_neck - 0.14, -0.11)
    result: FloatArray = xyz * size
    return result


def place(skeleton: FloatArray, pelvis: tuple[float, float, float]) -> FloatArray:
    """A pelvis-at-origin skeleton moved so its pelvis is at ``pelvis`` (camera frame, metres)."""
    placed: FloatArray = skeleton + np.asarray(pelvis, dtype=np.float64)
    return placed


def as_pose25d(xyz: FloatArray, intrinsics: Intrinsics, score: float = 0.9) -> Pose25D:
    """What an ideal pose model reports for ``xyz``: exact pixels, pelvis-relative depth in units
    of this person's own pelvis-neck length, full confidence."""
    uv = project(xyz, intrinsics.k)
    unit = float(np.linalg.norm(xyz[_I["neck"]] - xyz[_I["pelvis"]]))
    z_rel = (xyz[:, 2] - xyz[_I["pelvis"], 2]) / unit
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    box = Box(float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))
    return Pose25D(uv=uv, z_rel=z_rel, confidence=np.ones(NUM_KEYPOINTS), box=box, score=score)


# (from, to, half-width, half-depth) in metres for the table adult; scaled by the person's size.
_CAPSULES: Final = (
    ("pelvis", "neck", 0.15, 0.10),
    ("left_hip", "right_hip", 0.10, 0.10),
    ("left_shoulder", "right_shoulder", 0.07, 0.07),
    ("left_hip", "left_shoulder", 0.06, 0.09),
    ("right_hip", "right_shoulder", 0.06, 0.09),
    ("left_hip", "left_knee", 0.08, 0.08),
    ("right_hip", "right_knee", 0.08, 0.08),
    ("left_knee", "left_ankle", 0.055, 0.055),
    ("right_knee", "right_ankle", 0.055, 0.055),
    ("left_shoulder", "left_elbow", 0.05, 0.05),
    ("right_shoulder", "right_elbow", 0.05, 0.05),
    ("left_elbow", "left_wrist", 0.04, 0.04),
    ("right_elbow", "right_wrist", 0.04, 0.04),
    ("neck", "nose", 0.06, 0.06),
    ("left_ear", "right_ear", 0.09, 0.09),
)


def render_body_depth(
    xyz: FloatArray,
    size: float,
    intrinsics: Intrinsics,
    colour_size: tuple[int, int],
    depth_size: tuple[int, int] | None = None,
    rng: np.random.Generator | None = None,
    background_m: float = BACKGROUND_M,
    noise_per_m2: float = 0.001,
    holes: int = 25,
    dropout: float = 0.05,
) -> npt.NDArray[np.float32]:
    """(H, W) float32 metres an aligned depth camera would see of the skeleton ``xyz``; 0 = hole.

    ``intrinsics`` are the colour camera's for ``colour_size`` (width, height); the depth image
    has ``depth_size`` (same field of view, default the colour size). Noise: sigma =
    ``noise_per_m2`` x z^2 (a stereo sensor's error grows with distance squared; 0.001 gives
    2.5 cm at 5 m). ``holes`` random discs and a ``dropout`` fraction of pixels read 0, and one
    hole sits on the pelvis itself.
    """
    rng = rng or np.random.default_rng(0)
    cw, ch = colour_size
    dw, dh = depth_size or colour_size
    sx, sy = dw / cw, dh / ch
    fx, fy = intrinsics.fx * sx, intrinsics.fy * sy
    cx, cy = (intrinsics.cx + 0.5) * sx - 0.5, (intrinsics.cy + 0.5) * sy - 0.5
    depth = np.full((dh, dw), background_m, dtype=np.float64)
    for start, end, half_width, half_depth in _CAPSULES:
        a, b = xyz[_I[start]], xyz[_I[end]]
        rw, rd = half_width * size, half_depth * size
        length_px = fx * float(np.linalg.norm(a - b)) / max(min(a[2], b[2]), 1e-3)
        radius_px = fx * rw / max(a[2], b[2])
        steps = int(np.ceil(length_px / max(0.5 * radius_px, 0.5))) + 1
        for t in np.linspace(0.0, 1.0, steps):
            centre = a + t * (b - a)
            u, v, z = fx * centre[0] / centre[2] + cx, fy * centre[1] / centre[2] + cy, centre[2]
            r = fx * rw / z
            x0, x1 = max(int(u - r), 0), min(int(u + r) + 2, dw)
            y0, y1 = max(int(v - r), 0), min(int(v + r) + 2, dh)
            if x0 >= x1 or y0 >= y1:
                continue
            ys, xs = np.mgrid[y0:y1, x0:x1]
            reach = ((xs - u) ** 2 + ((ys - v) * fx / fy) ** 2) / r**2
            surface = np.where(reach < 1.0, z - rd * np.sqrt(np.clip(1.0 - reach, 0, 1)), np.inf)
            np.minimum(depth[y0:y1, x0:x1], surface, out=depth[y0:y1, x0:x1])
    depth += rng.normal(0.0, 1.0, depth.shape) * noise_per_m2 * depth**2
    pelvis = xyz[_I["pelvis"]]
    hole_centres = [(fx * pelvis[0] / pelvis[2] + cx, fy * pelvis[1] / pelvis[2] + cy)]
    hole_radii = [fx * 0.03 * size / pelvis[2]]
    for _ in range(holes):
        hole_centres.append((rng.uniform(0, dw), rng.uniform(0, dh)))
        hole_radii.append(rng.uniform(0.005, 0.03) * dw)
    ys, xs = np.mgrid[0:dh, 0:dw]
    for (u, v), r in zip(hole_centres, hole_radii, strict=True):
        depth[(xs - u) ** 2 + (ys - v) ** 2 <= r**2] = 0.0
    depth[rng.random(depth.shape) < dropout] = 0.0
    return depth.astype(np.float32)


def to_16uc1(depth_m: npt.NDArray[np.floating]) -> npt.NDArray[np.uint16]:
    """Metres as 16UC1 millimetres (0 stays 0 = invalid; beyond 65.535 m is invalid too)."""
    mm = np.round(np.nan_to_num(np.asarray(depth_m, dtype=np.float64), nan=0.0) * 1000.0)
    mm[(mm < 0) | (mm > 65535)] = 0
    return mm.astype(np.uint16)
