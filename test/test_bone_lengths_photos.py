"""Bone consistency on real photos: the embedded BlazePose model through the real pipeline.

Each photo (or a crop around one person) is played as a steady video: the same image, shifted by
up to one pixel each frame, at 10 Hz through ``PosePipeline`` with its defaults (tracking,
smoothing, bone-length correction). Bones count when both joints are seen with confidence 0.5.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bodypose3d_ros.core.camera.intrinsics import default_intrinsics
from bodypose3d_ros.core.lift.bone_lengths import (
    CORRECTED_BONES,
    MAIN_BONES,
    TABLE_LENGTHS_M,
    bone_lengths,
)
from bodypose3d_ros.core.lift.lifting import project
from bodypose3d_ros.core.models.blazepose import BlazePoseModel
from bodypose3d_ros.core.pipeline import PipelineConfig, PosePipeline

DATA = Path(__file__).resolve().parent.parent / ".cache" / "data"
FRAMES = 30
JITTER_PX = 1  # each frame shifted by up to this many pixels
MIN_TRACKED_FRAMES = 20
MAX_CHANGE_FOLLOWING_2D = 0.1
MAX_SINGLE_CHANGE_FOLLOWING_2D = 0.3
MIN_CONFIDENCE = 0.5
MAIN_ROWS = [CORRECTED_BONES.index(b) for b in MAIN_BONES]

# (photo, crop x, y, width, height, who): people in the ultralytics sample photos.
ULTRALYTICS_PEOPLE = [
    ("bus.jpg", (0, 200, 330, 700), "man in a light coat walking, mid-stride"),
    ("bus.jpg", (180, 200, 260, 700), "man in a dark coat standing, arm folded"),
    ("zidane.jpg", (800, 0, 480, 720), "man on the right, legs out of the frame"),
]


Frame = tuple[str, np.ndarray, np.ndarray, np.ndarray]


def play(image: np.ndarray, correction: bool) -> list[Frame]:
    """(person id, main bone lengths, their estimates, bone confidence) of the longest-tracked
    person, for each frame of the longest stretch the pipeline kept one id."""
    height, width = image.shape[:2]
    intrinsics = default_intrinsics(width, height)
    pipeline = PosePipeline(BlazePoseModel(), PipelineConfig(bone_length_correction=correction))
    rng = np.random.default_rng(0)
    frames: list[Frame | None] = []
    try:
        for frame in range(FRAMES):
            dx, dy = rng.integers(-JITTER_PX, JITTER_PX + 1, size=2)
            shift = np.float32([[1, 0, dx], [0, 1, dy]])
            moved = cv2.warpAffine(image, shift, (width, height), borderMode=cv2.BORDER_REPLICATE)
            people = pipeline.process(moved, intrinsics, frame / 10.0).people
            assert len(people) <= 1, f"frame {frame}: {len(people)} people in a one-person crop"
            if not people:
                frames.append(None)
                continue
            person = people[0]
            # Every joint still projects onto the pixel it was seen at.
            seen = person.confidence > 0
            np.testing.assert_allclose(
                project(person.xyz[seen], intrinsics.k), person.uv[seen], atol=1e-6
            )
            estimate = pipeline.bone_lengths(person.id)
            assert (estimate is not None) == correction
            conf = np.minimum(
                person.confidence[[p for p, _ in MAIN_BONES]],
                person.confidence[[c for _, c in MAIN_BONES]],
            )
            frames.append((
                person.id,
                bone_lengths(person.xyz, MAIN_BONES),
                estimate[MAIN_ROWS] if estimate is not None else TABLE_LENGTHS_M[MAIN_ROWS],
                conf,
            ))  # fmt: skip
    finally:
        pipeline.close()
    return _longest_run(frames)


def _longest_run(frames: list[Frame | None]) -> list[Frame]:
    """The longest stretch of consecutive frames with the same person id."""
    best: list[Frame] = []
    run: list[Frame] = []
    for frame in frames:
        if frame is None or (run and run[-1][0] != frame[0]):
            run = []
        if frame is not None:
            run.append(frame)
        if len(run) > len(best):
            best = list(run)
    return best


def check_consistency(image: np.ndarray) -> None:
    frames = play(image, correction=True)
    assert len(frames) >= MIN_TRACKED_FRAMES, f"one id held for only {len(frames)} frames"
    confident = np.all([conf >= MIN_CONFIDENCE for *_, conf in frames], axis=0)
    assert confident.sum() >= 6, "too few confidently seen main bones to judge"
    for index, (_, lengths, estimate, _) in enumerate(frames):
        ratio = (lengths / estimate)[confident]
        worst = float(np.max(np.maximum(ratio, 1.0 / ratio)))
        assert worst <= 1.3, f"frame {index}: worst main bone x{worst:.2f} of its estimate"
    lengths = np.array([f[1][confident] for f in frames])
    estimates = np.array([f[2][confident] for f in frames])
    change = np.abs(np.diff(lengths, axis=0)) / lengths[:-1]
    # Bones at their estimate in both frames: the estimate's own steadiness.
    at_estimate = np.isclose(lengths, estimates, rtol=1e-6)
    governed = at_estimate[1:] & at_estimate[:-1]
    assert governed.mean() > 0.7, "most bones should reach their estimate"
    assert change[governed].max() < 0.05
    # A bone the image shows longer than its estimate follows the model's 2D: bounded, not 5 %.
    # Nearly always within 10 %; a foreshortened bone (bus.jpg's folded forearm) may swing about
    # 20 % in one frame under 1 px of jitter, with the model's own 2D noise: over 32 jitter
    # seeds that single frame appeared in about half, with either crop placement.
    assert np.quantile(change, 0.95) < MAX_CHANGE_FOLLOWING_2D, f"{np.quantile(change, 0.95):.1%}"
    assert change.max() < MAX_SINGLE_CHANGE_FOLLOWING_2D, f"a bone changed {change.max():.1%}"

    # Without the correction the same bones stray much further from the limb table.
    plain = play(image, correction=False)
    ratio = np.array([(f[1] / f[2])[confident] for f in plain])
    assert np.max(np.maximum(ratio, 1.0 / ratio)) > 1.3


def test_person_photo_bones_keep_their_lengths(person_image_path: Path) -> None:
    check_consistency(cv2.imread(str(person_image_path)))


@pytest.mark.parametrize(("photo", "crop", "who"), ULTRALYTICS_PEOPLE)
def test_ultralytics_photo_bones_keep_their_lengths(
    photo: str, crop: tuple[int, int, int, int], who: str
) -> None:
    path = DATA / photo
    if not path.is_file():
        pytest.skip(f"{path} missing: tools/setup-env fetches it from the ultralytics wheel")
    image = cv2.imread(str(path))
    x, y, width, height = crop
    check_consistency(np.ascontiguousarray(image[y : y + height, x : x + width]))
