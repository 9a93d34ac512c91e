"""BlazePose GHUM 3D, the pose model shipped inside the mediapipe 0.10.14 wheel, as a PoseModel.

It works offline on the CPU and needs no model download, so the package produces skeletons out
of the box. mediapipe finds the single most prominent person itself: the ``boxes`` the pipeline
passes in are ignored, and at most one person is returned per image.

BlazePose's 33 landmarks are mapped onto BodyPose3DNet's 34 keypoints so that both backends go
through the same lifting, smoothing and messages:

- same-named joints map directly; BlazePose's foot index -> big toe, pinky -> pinky knuckle,
  index -> index knuckle, thumb -> thumb tip; the eyes use the eye-centre landmarks;
- pelvis = mid-hips, neck = mid-shoulders, torso = midway between them, each with the lowest
  confidence of the landmarks it is made from;
- BlazePose has no small toes and no middle finger tips: those sit on the big toe and the index
  knuckle (so drawings stay sane) with confidence 0, so nothing downstream trusts them.

Depth comes from BlazePose's metric world landmarks (metres, origin between the hips). Their
axes match the camera optical frame: x to the image right, y down, z away from the camera (a
landmark turned away from the camera has larger z). ``z_rel`` is the depth relative to the pelvis
divided by the pelvis-neck distance, the scale-normalised unit the lifting expects.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from bodypose3d_ros.core import skeleton
from bodypose3d_ros.core.intrinsics import Intrinsics
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
# The body the lifting depends on (every joint of the limb tables): its mean confidence is the
# person's score, so a well-seen body scores high even when the hands are hidden.
SCORE_KEYPOINTS: Final[npt.NDArray[np.intp]] = np.unique(skeleton.LIMB_JOINTS)
# Keypoints at or above this confidence define the person's box.
BOX_MIN_CONFIDENCE: Final = 0.5
BOX_GROWTH: Final = 0.10


def landmarks_to_pose25d(
    image_landmarks: npt.ArrayLike, world_landmarks: npt.ArrayLike, width: int, height: int
) -> Pose25D | None:
    """Map BlazePose output onto the 34-keypoint skeleton.

    ``image_landmarks`` (33, 3): normalised x, y and confidence; ``world_landmarks`` (33, 3):
    metric x, y, z. Returns None when the pose is degenerate (pelvis and neck coincide).
    """
    image_lm = np.asarray(image_landmarks, dtype=np.float64)
    world = np.asarray(world_landmarks, dtype=np.float64)
    uv = MAP_WEIGHTS @ image_lm[:, :2]
    uv *= (float(width), float(height))
    confidence = np.clip(image_lm[:, 2], 0.0, 1.0)[CONFIDENCE_SOURCES].min(axis=1) * MEASURED_MASK
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
        score=float(confidence[SCORE_KEYPOINTS].mean()),
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


def _model_file(mp_module: Any, model_complexity: int) -> str:
    """Path of the landmark model for a complexity; only 'full' (1) ships inside the wheel."""
    variant = {0: "lite", 1: "full", 2: "heavy"}[model_complexity]
    root = os.path.dirname(os.path.abspath(mp_module.__file__))
    return os.path.join(root, "modules", "pose_landmark", f"pose_landmark_{variant}.tflite")


class BlazePoseModel:
    """BlazePose GHUM 3D through mediapipe's pose solution (CPU, offline, one person)."""

    name = "blazepose"

    def __init__(
        self,
        model_complexity: int = 1,
        static_image_mode: bool = False,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
    ) -> None:
        if model_complexity not in (0, 1, 2):
            raise ValueError(f"model_complexity must be 0, 1 or 2, got {model_complexity}")
        try:
            import mediapipe as mp
            from mediapipe.python.solution_base import SolutionBase
        except ImportError as exc:
            raise ImportError(
                f"the blazepose backend needs mediapipe ({exc}); install it with: {MEDIAPIPE_FIX}"
            ) from exc
        model_file = _model_file(mp, model_complexity)
        if not os.path.isfile(model_file):
            # mediapipe would try to download it, which fails offline with an obscure error.
            raise FileNotFoundError(
                f"model_complexity={model_complexity} needs {model_file}, which the mediapipe "
                "wheel does not ship (mediapipe downloads it on first use); use "
                "model_complexity=1 or place the file there"
            )
        # mediapipe 0.10.14 calls a protobuf API that warns on every frame.
        warnings.filterwarnings(
            "ignore", r"SymbolDatabase\.GetPrototype\(\) is deprecated", UserWarning
        )
        self._pose: Any = mp.solutions.pose.Pose(
            static_image_mode=static_image_mode,
            model_complexity=model_complexity,
            smooth_landmarks=False,  # the pipeline smooths with real time stamps
            enable_segmentation=False,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )
        # Pose.process() only wraps SolutionBase.process() and then clears every landmark's
        # 'presence' field; calling the base directly keeps presence and skips that loop.
        self._run_graph = SolutionBase.process

    @property
    def description(self) -> str:
        """The runtime in use, for logs and diagnostics."""
        import mediapipe as mp

        return f"mediapipe {mp.__version__} BlazePose GHUM 3D (TFLite, CPU)"

    precision = "fp32"

    def estimate(
        self, image_bgr: np.ndarray, boxes: Sequence[Box], intrinsics: Intrinsics
    ) -> list[Pose25D]:
        """The most prominent person's 2.5D keypoints, or [] if none. ``boxes`` is ignored;
        so are the intrinsics (BlazePose's depth is relative, the lift applies K)."""
        if self._pose is None:
            raise RuntimeError("BlazePoseModel is closed")
        height, width = image_bgr.shape[:2]
        rgb = _to_rgb(image_bgr)
        result = self._run_graph(self._pose, {"image": rgb})
        if result.pose_landmarks is None or result.pose_world_landmarks is None:
            return []
        landmarks = result.pose_landmarks.landmark
        image_lm = np.array([(p.x, p.y, p.visibility, p.presence) for p in landmarks])
        # visibility: not occluded; presence: inside the image. Older graphs leave presence unset.
        if landmarks[0].HasField("presence"):
            image_lm[:, 2] = np.minimum(image_lm[:, 2], image_lm[:, 3])
        world = np.array([(p.x, p.y, p.z) for p in result.pose_world_landmarks.landmark])
        pose = landmarks_to_pose25d(image_lm[:, :3], world, width, height)
        return [] if pose is None else [pose]

    def reset(self) -> None:
        """Forget the person tracked from the previous frame (start of a new video or stream)."""
        if self._pose is not None:
            self._pose.reset()

    def close(self) -> None:
        """Release the mediapipe graph; safe to call twice."""
        if self._pose is not None:
            self._pose.close()
            self._pose = None


def _to_rgb(image: np.ndarray) -> np.ndarray:
    """mediapipe wants contiguous 8-bit RGB; accept BGR, BGRA and grey images."""
    if image.dtype != np.uint8:
        raise ValueError(f"expected an 8-bit image, got dtype {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    raise ValueError(f"expected a BGR, BGRA or grey image, got shape {image.shape}")
