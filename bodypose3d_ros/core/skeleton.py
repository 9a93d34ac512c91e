"""BodyPose3DNet's 34-keypoint skeleton: the single source of names, bones and limb tables."""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

KEYPOINT_NAMES: Final[tuple[str, ...]] = (
    "pelvis", "left_hip", "right_hip", "torso", "left_knee", "right_knee", "neck",
    "left_ankle", "right_ankle", "left_big_toe", "right_big_toe", "left_small_toe",
    "right_small_toe", "left_heel", "right_heel", "nose", "left_eye", "right_eye",
    "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_pinky_knuckle", "right_pinky_knuckle",
    "left_middle_tip", "right_middle_tip", "left_index_knuckle", "right_index_knuckle",
    "left_thumb_tip", "right_thumb_tip",
)  # fmt: skip
NUM_KEYPOINTS: Final = len(KEYPOINT_NAMES)
INDEX: Final[dict[str, int]] = {name: i for i, name in enumerate(KEYPOINT_NAMES)}

# Parent of every joint in the kinematic tree (the pelvis is the root).
PARENT_NAMES: Final[dict[str, str]] = {
    "left_hip": "pelvis", "right_hip": "pelvis", "torso": "pelvis", "neck": "torso",
    "left_knee": "left_hip", "right_knee": "right_hip",
    "left_ankle": "left_knee", "right_ankle": "right_knee",
    "left_big_toe": "left_ankle", "left_small_toe": "left_ankle", "left_heel": "left_ankle",
    "right_big_toe": "right_ankle", "right_small_toe": "right_ankle", "right_heel": "right_ankle",
    "nose": "neck", "left_eye": "nose", "right_eye": "nose",
    # NVIDIA draws the ears from the eyes; the tree hangs them from the nose.
    "left_ear": "nose", "right_ear": "nose",
    "left_shoulder": "neck", "right_shoulder": "neck",
    "left_elbow": "left_shoulder", "right_elbow": "right_shoulder",
    "left_wrist": "left_elbow", "right_wrist": "right_elbow",
    "left_pinky_knuckle": "left_wrist", "left_middle_tip": "left_wrist",
    "left_index_knuckle": "left_wrist", "left_thumb_tip": "left_wrist",
    "right_pinky_knuckle": "right_wrist", "right_middle_tip": "right_wrist",
    "right_index_knuckle": "right_wrist", "right_thumb_tip": "right_wrist",
}  # fmt: skip

# (parent, child) index pairs: the 33 bones of the tree.
BONES: Final[tuple[tuple[int, int], ...]] = tuple(
    (INDEX[PARENT_NAMES[name]], INDEX[name]) for name in KEYPOINT_NAMES if name in PARENT_NAMES
)
# The tree plus hip-shoulder on each side, as NVIDIA draws the body (35 bones).
DRAWN_BONES: Final[tuple[tuple[int, int], ...]] = (
    *BONES,
    (INDEX["left_hip"], INDEX["left_shoulder"]),
    (INDEX["right_hip"], INDEX["right_shoulder"]),
)

NUM_LIMB_SLOTS: Final = 36

# The model's auxiliary inputs: per-slot limb lengths, pelvis-neck = 1.0 ...
SCALE_NORMALIZED_MEAN_LIMB_LENGTHS: Final[npt.NDArray[np.float32]] = np.array(
    [0.5000, 0.5000, 1.0000, 0.8175, 0.9889, 0.2610, 0.7942, 0.5724, 0.5078,
     0, 0, 0, 0, 0, 0, 0, 0.3433, 0.8171,
     0.9912, 0.2610, 0.8259, 0.5724, 0.5078, 0, 0, 0, 0,
     0, 0, 0, 0.3422, 0, 0, 0, 0, 0],
    dtype=np.float32,
)  # fmt: skip
# ... and the same limbs in millimetres.
MEAN_LIMB_LENGTHS_MM: Final[npt.NDArray[np.float32]] = np.array(
    [246.3427, 246.3427, 492.6854, 402.4380, 487.0321, 128.6856, 391.6295, 281.9928, 249.9478,
     0, 0, 0, 0, 0, 0, 0, 169.1832, 402.2611,
     488.1824, 128.6848, 407.5836, 281.9897, 249.9489, 0, 0, 0, 0,
     0, 0, 0, 168.6137, 0, 0, 0, 0, 0],
    dtype=np.float32,
)  # fmt: skip

# The joint pairs measured by the 17 non-zero limb-table slots.
LIMB_SLOT_JOINTS: Final[dict[int, tuple[int, int]]] = {
    0: (0, 3), 1: (3, 6), 2: (6, 0), 3: (8, 5), 4: (5, 2), 5: (2, 0), 6: (2, 21),
    7: (21, 23), 8: (23, 25), 16: (21, 6), 17: (7, 4), 18: (4, 1), 19: (1, 0),
    20: (1, 20), 21: (20, 22), 22: (22, 24), 30: (20, 6),
}  # fmt: skip
LIMB_SLOTS: Final[npt.NDArray[np.intp]] = np.array(sorted(LIMB_SLOT_JOINTS), dtype=np.intp)
# (17, 2) joint indices, (17,) normalised lengths and (17,) millimetre lengths, slot order.
LIMB_JOINTS: Final[npt.NDArray[np.intp]] = np.array(
    [LIMB_SLOT_JOINTS[s] for s in LIMB_SLOTS], dtype=np.intp
)
LIMB_LENGTHS_NORMALIZED: Final[npt.NDArray[np.float64]] = SCALE_NORMALIZED_MEAN_LIMB_LENGTHS[
    LIMB_SLOTS
].astype(np.float64)
LIMB_LENGTHS_MM: Final[npt.NDArray[np.float64]] = MEAN_LIMB_LENGTHS_MM[LIMB_SLOTS].astype(
    np.float64
)


def side_of(name: str) -> str:
    """'left', 'right' or 'center': used to colour joints and bones consistently everywhere."""
    if name.startswith("left_"):
        return "left"
    if name.startswith("right_"):
        return "right"
    return "center"


# RGB colours in 0..1 (ROS markers use 0..1; multiply by 255 only for 8-bit images).
SIDE_COLORS: Final[dict[str, tuple[float, float, float]]] = {
    "left": (0.10, 0.55, 1.00),
    "right": (1.00, 0.35, 0.10),
    "center": (0.20, 0.85, 0.30),
}
KEYPOINT_SIDES: Final[tuple[str, ...]] = tuple(side_of(n) for n in KEYPOINT_NAMES)


def bone_side(bone: tuple[int, int]) -> str:
    """A bone takes its child's side, so a left arm is drawn all left."""
    child_side = KEYPOINT_SIDES[bone[1]]
    return child_side if child_side != "center" else KEYPOINT_SIDES[bone[0]]


# The body the lift depends on: every joint of the 17 limb-table slots (pelvis, torso, neck and
# hip, knee, ankle, shoulder, elbow, wrist on each side; 15 joints). Face, feet and fingers only
# decorate the skeleton, so they do not count towards how well a person was seen.
BODY_JOINTS: Final[npt.NDArray[np.intp]] = np.unique(LIMB_JOINTS)


def person_score(confidence: npt.ArrayLike) -> float:
    """A person's score, the same for every backend: the mean confidence of BODY_JOINTS.

    ``confidence`` (34,) in 0..1 (NaN counts as 0). A well-seen body scores high even with its
    hands or face hidden; a pose whose lift-relevant joints are unsure scores low.
    """
    conf = np.nan_to_num(np.asarray(confidence, dtype=np.float64).reshape(-1), nan=0.0)
    if conf.shape != (NUM_KEYPOINTS,):
        raise ValueError(f"expected {NUM_KEYPOINTS} confidences, got shape {conf.shape}")
    return float(np.clip(conf[BODY_JOINTS], 0.0, 1.0).mean())
