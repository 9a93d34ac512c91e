"""BlazePose GHUM 3D, the pose model shipped inside the mediapipe 0.10.14 wheel, as a PoseModel.

It works offline on the CPU and needs no model download, so the package produces skeletons out
of the box. It runs through mediapipe's Tasks ``PoseLandmarker`` from a bundle built once from
the wheel's two networks (``blazepose_task``), one crop per box it is given: one box per person
found by the detector or tracker, or the whole image when there is none. The landmarker's own
person detector only finds people who fill roughly 40% of its input or more, so every crop is a
square around its box (grown by ``crop_margin``, black past the image border) in which the person
is big. Each crop yields at most one person; the same code serves one person and many.

BlazePose's 33 landmarks are mapped onto BodyPose3DNet's 34 keypoints so that both backends go
through the same lifting, smoothing and messages:

- same-named joints map directly; BlazePose's foot index -> big toe, pinky -> pinky knuckle,
  index -> index knuckle, thumb -> thumb tip; the eyes use the eye-centre landmarks;
- pelvis = mid-hips, neck = mid-shoulders, torso = midway between them, each with the lowest
  confidence of the landmarks it is made from;
- BlazePose has no small toes and no middle finger tips: those sit on the big toe and the index
  knuckle (so drawings stay sane) with confidence 0, so nothing downstream trusts them.

A landmark's confidence is the lower of its visibility (not occluded) and presence (inside the
crop). Depth comes from BlazePose's metric world landmarks (metres, origin between the hips),
which do not depend on the crop. Their axes match the camera optical frame: x to the image right,
y down, z away from the camera. ``z_rel`` is the depth relative to the pelvis divided by the
pelvis-neck distance, the scale-normalised unit the lifting expects. The score is
:func:`~bodypose3d_ros.core.skeleton.person_score`, as for every backend. The pose's box (the
published ROI) is the box of the sure keypoints grown by 10%, not the crop: the crop is a square
padded with black that says little about the person.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from bodypose3d_ros.core import skeleton
from bodypose3d_ros.core.camera.intrinsics import Intrinsics
from bodypose3d_ros.core.image.color import to_rgb
from bodypose3d_ros.core.types import Box, FloatArray, Pose25D

MEDIAPIPE_FIX: Final = "pip install mediapipe==0.10.14"

# BlazePose's landmark order (mediapipe.solutions.pose.PoseLandmark, lower-cased).
BLAZEPOSE_LANDMARK_NAMES: Final[tuple[str, ...]] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip
NUM_BLAZEPOSE_LANDMARKS: Final = len(BLAZEPOSE_LANDMARK_NAMES)
_BP: Final[dict[str, int]] = {name: i for i, name in enumerate(BLAZEPOSE_LANDMARK_NAMES)}

# Our keypoint -> the BlazePose landmarks it is the mean of (its confidence is their minimum).
_SOURCES: Final[dict[str, tuple[str, ...]]] = {
    "pelvis": ("left_hip", "right_hip"),
    "neck": ("left_shoulder", "right_shoulder"),
    "torso": ("left_hip", "right_hip", "left_shoulder", "right_shoulder"),
    **{f"{side}_{joint}": (f"{side}_{joint}",)
       for side in ("left", "right")
       for joint in ("hip", "knee", "ankle", "heel", "eye", "ear", "shoulder", "elbow", "wrist")},
    **{f"{side}_{ours}": (f"{side}_{theirs}",)
       for side in ("left", "right")
       for ours, theirs in (("big_toe", "foot_index"), ("pinky_knuckle", "pinky"),
                            ("index_knuckle", "index"), ("thumb_tip", "thumb"))},
    "nose": ("nose",),
    # Not measured by BlazePose: placed on a neighbour, confidence forced to 0.
    **{f"{side}_small_toe": (f"{side}_foot_index",) for side in ("left", "right")},
    **{f"{side}_middle_tip": (f"{side}_index",) for side in ("left", "right")},
}  # fmt: skip
UNMEASURED_KEYPOINTS: Final[tuple[str, ...]] = (
    "left_small_toe", "right_small_toe", "left_middle_tip", "right_middle_tip",
)  # fmt: skip


def _mapping_arrays() -> tuple[FloatArray, npt.NDArray[np.intp], FloatArray]:
    """(34, 33) averaging weights, (34, 4) confidence source indices, (34,) confidence mask."""
    weights = np.zeros((skeleton.NUM_KEYPOINTS, NUM_BLAZEPOSE_LANDMARKS), dtype=np.float64)
    conf_sources = np.zeros((skeleton.NUM_KEYPOINTS, 4), dtype=np.intp)
    for k, name in enumerate(skeleton.KEYPOINT_NAMES):
        sources = [_BP[s] for s in _SOURCES[name]]
        weights[k, sources] = 1.0 / len(sources)
        conf_sources[k] = np.resize(sources, 4)  # repeat to a fixed width for one np.min
    measured = np.array(
        [name not in UNMEASURED_KEYPOINTS for name in skeleton.KEYPOINT_NAMES], dtype=np.float64
    )
    return weights, conf_sources, measured


MAP_WEIGHTS, CONFIDENCE_SOURCES, MEASURED_MASK = _mapping_arrays()
_PELVIS: Final = skeleton.INDEX["pelvis"]
_NECK: Final = skeleton.INDEX["neck"]
# Keypoints at or above this confidence define the person's box.
BOX_MIN_CONFIDENCE: Final = 0.5
BOX_GROWTH: Final = 0.10


def landmarks_to_pose25d(
    image_landmarks: npt.ArrayLike,
    world_landmarks: npt.ArrayLike,
    width: float,
    height: float,
    origin: tuple[float, float] = (0.0, 0.0),
    visible: Box | None = None,
) -> Pose25D | None:
    """Map BlazePose output onto the 34-keypoint skeleton.

    ``image_landmarks`` (33, 3): x, y normalised to a ``width`` x ``height`` frame whose top-left
    corner is at ``origin`` in the source image (a crop), and confidence; ``world_landmarks``
    (33, 3): metric x, y, z. Keypoints outside ``visible`` (the part of the source image the
    model was shown) were guessed, not seen: their confidence becomes 0. Returns None when the
    pose is degenerate (pelvis and neck coincide).
    """
    image_lm = np.asarray(image_landmarks, dtype=np.float64)
    world = np.asarray(world_landmarks, dtype=np.float64)
    uv = MAP_WEIGHTS @ image_lm[:, :2]
    uv *= (float(width), float(height))
    uv += origin
    confidence = np.clip(image_lm[:, 2], 0.0, 1.0)[CONFIDENCE_SOURCES].min(axis=1) * MEASURED_MASK
    if visible is not None:
        lo = np.array([visible.x, visible.y])
        hi = np.array([visible.x + visible.width, visible.y + visible.height])
        seen = np.all((uv >= lo) & (uv <= hi), axis=1)
        confidence[~seen] = 0.0
    xyz = MAP_WEIGHTS @ world
    scale = float(np.linalg.norm(xyz[_NECK] - xyz[_PELVIS]))
    if not np.isfinite(scale) or scale < 1e-6 or not np.all(np.isfinite(uv)):
        return None
    z_rel = (xyz[:, 2] - xyz[_PELVIS, 2]) / scale
    return Pose25D(
        uv=uv,
        z_rel=z_rel,
        confidence=confidence,
        box=_keypoint_box(uv, confidence),
        score=skeleton.person_score(confidence),
    )


def _keypoint_box(uv: FloatArray, confidence: FloatArray) -> Box:
    """Bounding box of the confident keypoints (all measured ones if none), 10% larger."""
    pts = uv[confidence >= BOX_MIN_CONFIDENCE]
    if len(pts) == 0:
        pts = uv[MEASURED_MASK > 0]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    size = (hi - lo) * (1.0 + BOX_GROWTH)
    centre = (lo + hi) / 2.0
    return Box(
        float(centre[0] - size[0] / 2), float(centre[1] - size[1] / 2), float(size[0]),
        float(size[1]),
    )  # fmt: skip


# Each crop shows its box grown by this fraction of the box's width (left and right) and height
# (top and bottom), so the person fills most of it (the landmarker's detector wants 40% or more).
CROP_MARGIN: Final = 0.2
# Crops larger than this are scaled down to it (the networks read 224 and 256 px).
MAX_CROP_SIDE: Final = 512


def crop_regions(box: Box, width: int, height: int, margin: float = CROP_MARGIN) -> tuple[Box, Box]:
    """(square, visible) for ``box``: what the model looks at.

    ``visible`` is the box grown by ``margin`` of its size on every side, cut to the image (a
    person at the border stays big); ``square`` is the smallest square centred on it. Only the
    visible part is shown, the rest of the square is black: a neighbour standing beside a tall,
    thin person stays out of that person's crop. An empty ``visible`` means the box lies
    outside the image.
    """
    x0 = max(0.0, box.x - margin * box.width)
    y0 = max(0.0, box.y - margin * box.height)
    x1 = min(float(width), box.x + (1.0 + margin) * box.width)
    y1 = min(float(height), box.y + (1.0 + margin) * box.height)
    if x1 - x0 < 1.0 or y1 - y0 < 1.0:
        return Box(x0, y0, 0.0, 0.0), Box(x0, y0, 0.0, 0.0)
    side = max(x1 - x0, y1 - y0)
    square = Box((x0 + x1 - side) / 2.0, (y0 + y1 - side) / 2.0, side, side)
    return square, Box(x0, y0, x1 - x0, y1 - y0)


def _cut_square(rgb: np.ndarray, square: Box, visible: Box) -> np.ndarray:
    """The square's pixels, scaled to at most MAX_CROP_SIDE wide, black outside ``visible``."""
    size = max(1, min(MAX_CROP_SIDE, math.ceil(square.width)))
    scale = size / square.width
    # Only the visible part is resampled; the rest of the square stays black.
    vx0, vy0 = (visible.x - square.x) * scale, (visible.y - square.y) * scale
    vx1, vy1 = vx0 + visible.width * scale, vy0 + visible.height * scale
    cx0, cy0 = max(0, math.floor(vx0)), max(0, math.floor(vy0))
    cx1, cy1 = min(size, math.ceil(vx1)), min(size, math.ceil(vy1))
    crop = np.zeros((size, size, 3), dtype=np.uint8)
    if cx1 > cx0 and cy1 > cy0:
        # Crop pixel (cx0 + i, cy0 + j) samples source (square.x + (cx0 + i) / scale, ...).
        warp = np.array(
            [[1 / scale, 0.0, square.x + cx0 / scale], [0.0, 1 / scale, square.y + cy0 / scale]]
        )
        crop[cy0:cy1, cx0:cx1] = cv2.warpAffine(
            rgb, warp, (cx1 - cx0, cy1 - cy0),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0),
        )  # fmt: skip
    return crop


class BlazePoseModel:
    """BlazePose GHUM 3D through mediapipe's Tasks PoseLandmarker, one crop per box (CPU)."""

    name = "blazepose"
    precision = "fp32"

    def __init__(
        self,
        min_detection_confidence: float = 0.5,
        min_presence_confidence: float = 0.5,
        crop_margin: float = CROP_MARGIN,
        cache_dir: str | Path | None = None,
    ) -> None:
        if crop_margin < 0.0:
            raise ValueError(f"crop_margin must be >= 0, got {crop_margin}")
        try:
            import mediapipe as mp
            from mediapipe.tasks.python import BaseOptions, vision
        except ImportError as exc:
            raise ImportError(
                f"the blazepose backend needs mediapipe ({exc}); install it with: {MEDIAPIPE_FIX}"
            ) from exc
        from bodypose3d_ros.core.models.blazepose_task import pose_task_path

        # mediapipe 0.10.14 calls a protobuf API that warns on every call.
        warnings.filterwarnings(
            "ignore", r"SymbolDatabase\.GetPrototype\(\) is deprecated", UserWarning
        )
        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(pose_task_path(mp, cache_dir))),
            running_mode=vision.RunningMode.IMAGE,  # no state: crops change from call to call
            num_poses=1,
            min_pose_detection_confidence=min_detection_confidence,
            min_pose_presence_confidence=min_presence_confidence,
            output_segmentation_masks=False,
        )
        self._mp: Any = mp
        self._landmarker: Any = vision.PoseLandmarker.create_from_options(options)
        self.crop_margin = crop_margin

    @property
    def description(self) -> str:
        """The runtime in use, for logs and diagnostics."""
        return f"mediapipe {self._mp.__version__} BlazePose GHUM 3D (Tasks, TFLite, CPU)"

    def estimate(
        self, image_bgr: np.ndarray, boxes: Sequence[Box], intrinsics: Intrinsics
    ) -> list[Pose25D]:
        """One person per box where the model finds one (no boxes: the whole image).

        The intrinsics are not needed (BlazePose's depth is relative; the lift applies K).
        """
        if self._landmarker is None:
            raise RuntimeError("BlazePoseModel is closed")
        rgb = to_rgb(image_bgr)
        height, width = rgb.shape[:2]
        poses: list[Pose25D] = []
        for box in boxes or [Box.full_image(width, height)]:
            square, visible = crop_regions(box, width, height, self.crop_margin)
            if visible.width < 1.0:
                continue
            pose = self._estimate_crop(rgb, square, visible)
            if pose is not None:
                poses.append(pose)
        return poses

    def _estimate_crop(self, rgb: np.ndarray, square: Box, visible: Box) -> Pose25D | None:
        crop = _cut_square(rgb, square, visible)
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=crop)
        result = self._landmarker.detect(image)
        if not result.pose_landmarks or not result.pose_world_landmarks:
            return None
        image_lm = np.array(
            [(p.x, p.y, min(p.visibility or 0.0, p.presence or 0.0))
             for p in result.pose_landmarks[0]]
        )  # fmt: skip
        world = np.array([(p.x, p.y, p.z) for p in result.pose_world_landmarks[0]])
        return landmarks_to_pose25d(
            image_lm, world, square.width, square.height, (square.x, square.y), visible
        )

    def reset(self) -> None:
        """Nothing to forget: every call is independent (tracking lives in the pipeline)."""

    def close(self) -> None:
        """Release the landmarker; safe to call twice."""
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None
