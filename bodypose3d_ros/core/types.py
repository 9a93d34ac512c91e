"""The data that flows through the pipeline: image -> box -> 2.5D keypoints -> 3D person."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# Where a person's absolute (pelvis) depth came from: the limb-length lift, or a depth image.
RootDepthSource = Literal["limb_lengths", "depth"]
ROOT_DEPTH_LIMB_LENGTHS: Final = "limb_lengths"
ROOT_DEPTH_DEPTH_IMAGE: Final = "depth"

# Where a person's keypoints came from: the pose model, or (when the pose model found nobody in
# the person's crop, or the person was beyond ``max_pose_people``) the person detector's own
# 17 keypoints (see ``core/people/detector_keypoints.py``).
KeypointSource = Literal["pose_model", "detector"]
KEYPOINT_SOURCE_POSE_MODEL: Final = "pose_model"
KEYPOINT_SOURCE_DETECTOR: Final = "detector"


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in image pixels (may extend past the image border)."""

    x: float
    y: float
    width: float
    height: float

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.width / 2.0, self.y + self.height / 2.0)

    @staticmethod
    def full_image(width: int, height: int) -> Box:
        return Box(0.0, 0.0, float(width), float(height))


@dataclass(frozen=True, eq=False)
class HintedBox(Box):
    """A box with what the pipeline knows about the person in it, for models that align their
    crop on the person (BlazePose); models that want only a box read it as a :class:`Box`.

    ``track``: the tracker's key for the person (None for a whole-image search), so a model may
    reuse where it found them last; ``keypoints``: the detector's (17, 3) COCO keypoints (x, y,
    score, source-image pixels) when the box is a fresh detection that has them. Neither takes
    part in comparisons: a hinted box equals the plain box with the same corners.
    """

    track: int | None = field(default=None, compare=False)
    keypoints: FloatArray | None = field(default=None, compare=False, repr=False)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Box):
            return NotImplemented
        return (self.x, self.y, self.width, self.height) == (
            other.x, other.y, other.width, other.height,
        )  # fmt: skip

    __hash__ = Box.__hash__


@dataclass
class Pose25D:
    """One person's keypoints as a model sees them, already mapped to source-image pixels.

    ``uv`` (34, 2) pixels in the source image; ``z_rel`` (34,) depth relative to the pelvis in
    scale-normalised units (pelvis-neck = 1, pelvis = 0); ``confidence`` (34,) in 0..1.
    ``box`` (the published ROI) is the person's region: a box holding their sure keypoints
    (confidence >= 0.5); BodyPose3DNet gives the crop it was fed, BlazePose the box of its sure
    keypoints grown by 10% (its crops are squares padded with black, no use to a consumer).
    """

    uv: FloatArray
    z_rel: FloatArray
    confidence: FloatArray
    box: Box
    score: float
    source: KeypointSource = "pose_model"


@dataclass
class Person3D:
    """One person's metric skeleton in the camera optical frame (x right, y down, z forward).

    ``xyz`` (34, 3) metres; keypoints that could not be lifted have confidence 0.
    ``root_depth_source`` says what fixed the skeleton's distance (see ``RootDepthSource``);
    ``keypoint_source`` what gave the keypoints (see ``KeypointSource``).
    """

    id: str
    score: float
    box: Box
    uv: FloatArray
    xyz: FloatArray
    confidence: FloatArray
    root_depth: float = float("nan")
    root_depth_source: RootDepthSource = "limb_lengths"
    keypoint_source: KeypointSource = "pose_model"
    extras: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PeopleCounts:
    """How one frame's people fared, for /diagnostics (a sum over frames adds them up).

    ``detected``: people the detector reported (0 on a frame it did not run); ``fitted``:
    people published with the pose model's keypoints; ``from_detector``: people published from
    the detector's keypoints (the model found nobody in their crop, or they were beyond
    ``max_pose_people``); ``dropped``: detected people neither tracked nor published (beyond
    ``max_people``, or too few confident keypoints to follow them).
    """

    detected: int = 0
    fitted: int = 0
    from_detector: int = 0
    dropped: int = 0

    def diagnostics(self) -> dict[str, int]:
        """The counts under the names /diagnostics' snapshot gives them."""
        return {
            "people_detected": self.detected,
            "people_fitted": self.fitted,
            "people_from_detector_keypoints": self.from_detector,
            "people_dropped": self.dropped,
        }

    def __add__(self, other: PeopleCounts) -> PeopleCounts:
        return PeopleCounts(
            self.detected + other.detected,
            self.fitted + other.fitted,
            self.from_detector + other.from_detector,
            self.dropped + other.dropped,
        )
