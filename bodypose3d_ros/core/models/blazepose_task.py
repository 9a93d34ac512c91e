"""BlazePose's Tasks bundle (``.task``), assembled once from the two models in the mediapipe wheel.

mediapipe's Tasks ``PoseLandmarker`` (the API that runs on any image given to it, with no state
carried between calls) loads a ``.task`` file: an uncompressed zip holding
``pose_detector.tflite`` and ``pose_landmarks_detector.tflite``. mediapipe 0.10.14 does not ship
one, but it ships both networks (``modules/pose_detection/pose_detection.tflite`` and
``modules/pose_landmark/pose_landmark_full.tflite``, BlazePose GHUM 3D "full"). Each gets the
image-input metadata the Tasks graph reads (how pixels are normalised: detector
(x - 127.5) / 127.5, landmarks x / 255, as the legacy ``solutions.pose`` graph feeds them) with
mediapipe's own metadata writer, and mediapipe's bundle writer zips them. The result lands in the
model cache, written atomically, and is rebuilt whenever it is missing or damaged. Its world
landmarks equal the legacy solution's (checked by the tests to 0.1 mm).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Final

from bodypose3d_ros.core.engines.base import ModelLoadError
from bodypose3d_ros.core.model_cache import resolve_cache_dir, write_atomically

MEDIAPIPE_FIX: Final = "pip install --no-deps mediapipe==0.10.14 (see requirements/mediapipe.txt)"
# Entry in the bundle -> (file inside the mediapipe package, normalisation mean, std).
BUNDLE_ENTRIES: Final[dict[str, tuple[str, float, float]]] = {
    "pose_detector.tflite": ("modules/pose_detection/pose_detection.tflite", 127.5, 127.5),
    "pose_landmarks_detector.tflite": (
        "modules/pose_landmark/pose_landmark_full.tflite", 0.0, 255.0
    ),
}  # fmt: skip


def _bundle_is_sound(path: Path) -> bool:
    """Whether ``path`` is a readable, uncompressed zip of exactly the two entries, CRCs intact."""
    try:
        with zipfile.ZipFile(path) as bundle:
            infos = bundle.infolist()
            names = sorted(info.filename for info in infos)
            stored = all(info.compress_type == zipfile.ZIP_STORED for info in infos)
            return names == sorted(BUNDLE_ENTRIES) and stored and bundle.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError):
        return False


def _with_image_metadata(model: bytes, mean: float, std: float) -> bytes:
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer

    writer = metadata_writer.MetadataWriter.create(bytearray(model))
    content, _ = writer.add_image_input(norm_mean=[mean], norm_std=[std]).populate()
    return bytes(content)


def _build(mp_root: Path, target: Path) -> None:
    from mediapipe.tasks.python.metadata.metadata_writers import model_asset_bundle_utils

    models: dict[str, bytes] = {}
    for entry, (relative, mean, std) in BUNDLE_ENTRIES.items():
        source = mp_root / relative
        try:
            raw = source.read_bytes()
        except OSError as exc:
            raise ModelLoadError(
                f"BlazePose needs {source}, shipped inside the mediapipe 0.10.14 wheel ({exc}); "
                f"reinstall it: {MEDIAPIPE_FIX}"
            ) from exc
        models[entry] = _with_image_metadata(raw, mean, std)
    # The bundle writer wants a path; write it beside the target, then move it into place.
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        staged = Path(tmp) / target.name
        model_asset_bundle_utils.create_model_asset_bundle(models, str(staged))
        write_atomically(target, staged.read_bytes())


def pose_task_path(mp_module: Any, cache_dir: str | Path | None = None) -> Path:
    """The cached ``.task`` bundle for the installed mediapipe, built first when needed."""
    mp_root = Path(os.path.dirname(os.path.abspath(mp_module.__file__)))
    version = getattr(mp_module, "__version__", "unknown")
    target = resolve_cache_dir(cache_dir) / f"blazepose_ghum3d_full_mediapipe-{version}.task"
    if _bundle_is_sound(target):
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _build(mp_root, target)
    except OSError as exc:
        raise ModelLoadError(
            f"cannot write BlazePose's model bundle into {target.parent} ({exc}): make the "
            "folder writable or give another cache folder"
        ) from exc
    return target
