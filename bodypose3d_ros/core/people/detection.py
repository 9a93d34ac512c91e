"""The person-detector stage: an image in, every person's box (and coarse keypoints) out.

The pipeline runs image -> detector -> tracker -> one crop per person -> pose model, as NVIDIA's
BodyPose3DNet pipeline runs PeopleNet and a tracker in front of the network. Detectors plug in
through :class:`PersonDetector`, so the embedded MoveNet, "no detector" (single person) and a
detector that runs elsewhere (boxes arriving from another node, matched by ``stamp``) all look
the same to the rest of the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np

from bodypose3d_ros.core import skeleton
from bodypose3d_ros.core.types import Box, FloatArray

# COCO's 17 keypoints, the order person detectors with keypoints (MoveNet and most others) use.
COCO17_NAMES: Final[tuple[str, ...]] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
# Where each COCO keypoint sits in our 34-keypoint skeleton (every one has a same-named joint),
# so a detection's keypoints can be compared with a tracked person's pose.
COCO17_TO_SKELETON: Final[np.ndarray] = np.array(
    [skeleton.INDEX[name] for name in COCO17_NAMES], dtype=np.intp
)


@dataclass(frozen=True)
class Detection:
    """One person found in an image.

    ``box`` in source-image pixels (may extend past the border); ``score`` in 0..1;
    ``keypoints`` (17, 3) x, y in source-image pixels and confidence in COCO17_NAMES order, or
    None when the detector gives boxes only.
    """

    box: Box
    score: float
    keypoints: FloatArray | None = None


class PersonDetector(Protocol):
    """Finds the people in an image; implementations live in ``core/people/detectors/``."""

    name: str

    @property
    def description(self) -> str:
        """What runs the detector (model, runtime, input size), for logs and diagnostics."""
        ...

    def detect(self, image_bgr: np.ndarray, stamp: float) -> list[Detection]:
        """Every person in ``image_bgr`` (8-bit BGR), best score first.

        ``stamp`` (seconds) is the image's time: a detector that receives its boxes from
        elsewhere uses it to pick the boxes that belong to this image.
        """
        ...

    def close(self) -> None:
        """Free the detector's resources; it is unusable afterwards. Safe to call twice."""
        ...
