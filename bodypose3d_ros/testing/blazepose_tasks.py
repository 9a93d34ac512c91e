"""REFERENCE ONLY (tests and benchmarks): BlazePose through mediapipe's own Tasks PoseLandmarker.

The node runs BlazePose's landmark network directly (``core/models/blazepose.py``). This module
keeps mediapipe's Tasks path, which the package used before, as the reference that path is held
to (equivalence tests) and measured against (``bench/multi_person.py``): the ``.task`` bundle
built from the wheel's two networks, and :class:`TasksBlazePoseModel`, one axis-aligned square
crop per box through the ``PoseLandmarker`` (its own face-based person detector included).

BlazePose's Tasks bundle (``.task``), assembled once from the two models in the mediapipe wheel.

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

import math
import os
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np

from bodypose3d_ros.core.camera.intrinsics import Intrinsics
from bodypose3d_ros.core.engines.base import ModelLoadError
from bodypose3d_ros.core.image.color import to_rgb
from bodypose3d_ros.core.model_cache import resolve_cache_dir, write_atomically
from bodypose3d_ros.core.models.blazepose import landmarks_to_pose25d
from bodypose3d_ros.core.types import Box, Pose25D

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


# Each crop shows its box grown by this fraction of the box's width (left and right) and height
# (top and bottom), so the person fills most of it (the landmarker's detector wants 40% or more).
CROP_MARGIN: Final = 0.2
# Crops larger than this are scaled down to it (the networks read 224 and 256 px).
MAX_CROP_SIDE: Final = 512


def crop_regions(box: Box, width: int, height: int, margin: float = CROP_MARGIN) -> tuple[Box, Box]:
    """(square, visible) for ``box``: what the model looks at.

    ``visible`` is the box grown by ``margin`` of its size on every side, cut to the image (a
    person at the border stays big); ``square`` is the smallest square centred on it. Only the
    visible part is shown, the rest of the square is black: a neighbour standing beside a tall,
    thin person stays out of that person's crop. An empty ``visible`` means the box lies
    outside the image.
    """
    x0 = max(0.0, box.x - margin * box.width)
    y0 = max(0.0, box.y - margin * box.height)
    x1 = min(float(width), box.x + (1.0 + margin) * box.width)
    y1 = min(float(height), box.y + (1.0 + margin) * box.height)
    if x1 - x0 < 1.0 or y1 - y0 < 1.0:
        return Box(x0, y0, 0.0, 0.0), Box(x0, y0, 0.0, 0.0)
    side = max(x1 - x0, y1 - y0)
    square = Box((x0 + x1 - side) / 2.0, (y0 + y1 - side) / 2.0, side, side)
    return square, Box(x0, y0, x1 - x0, y1 - y0)


def _cut_square(rgb: np.ndarray, square: Box, visible: Box) -> np.ndarray:
    """The square's pixels, scaled to at most MAX_CROP_SIDE wide, black outside ``visible``."""
    size = max(1, min(MAX_CROP_SIDE, math.ceil(square.width)))
    scale = size / square.width
    # Only the visible part is resampled; the rest of the square stays black.
    vx0, vy0 = (visible.x - square.x) * scale, (visible.y - square.y) * scale
    vx1, vy1 = vx0 + visible.width * scale, vy0 + visible.height * scale
    cx0, cy0 = max(0, math.floor(vx0)), max(0, math.floor(vy0))
    cx1, cy1 = min(size, math.ceil(vx1)), min(size, math.ceil(vy1))
    crop = np.zeros((size, size, 3), dtype=np.uint8)
    if cx1 > cx0 and cy1 > cy0:
        # Crop pixel (cx0 + i, cy0 + j) samples source (square.x + (cx0 + i) / scale, ...).
        warp = np.array(
            [[1 / scale, 0.0, square.x + cx0 / scale], [0.0, 1 / scale, square.y + cy0 / scale]]
        )
        crop[cy0:cy1, cx0:cx1] = cv2.warpAffine(
            rgb, warp, (cx1 - cx0, cy1 - cy0),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0),
        )  # fmt: skip
    return crop


class TasksBlazePoseModel:
    """BlazePose GHUM 3D through mediapipe's Tasks PoseLandmarker, one square crop per box (CPU).

    The package's former BlazePose path, kept as a reference (see the module doc)."""

    name = "blazepose_tasks"
    precision = "fp32"

    def __init__(
        self,
        min_detection_confidence: float = 0.5,
        min_presence_confidence: float = 0.5,
        crop_margin: float = CROP_MARGIN,
        cache_dir: str | Path | None = None,
    ) -> None:
        if crop_margin < 0.0:
            raise ValueError(f"crop_margin must be >= 0, got {crop_margin}")
        try:
            import mediapipe as mp
            from mediapipe.tasks.python import BaseOptions, vision
        except ImportError as exc:
            raise ImportError(
                f"the Tasks reference needs mediapipe ({exc}); install it with: {MEDIAPIPE_FIX}"
            ) from exc
        # mediapipe 0.10.14 calls a protobuf API that warns on every call.
        warnings.filterwarnings(
            "ignore", r"SymbolDatabase\.GetPrototype\(\) is deprecated", UserWarning
        )
        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(pose_task_path(mp, cache_dir))),
            running_mode=vision.RunningMode.IMAGE,  # no state: crops change from call to call
            num_poses=1,
            min_pose_detection_confidence=min_detection_confidence,
            min_pose_presence_confidence=min_presence_confidence,
            output_segmentation_masks=False,
        )
        self._mp: Any = mp
        self._landmarker: Any = vision.PoseLandmarker.create_from_options(options)
        self.crop_margin = crop_margin

    @property
    def description(self) -> str:
        """The runtime in use, for logs and diagnostics."""
        return f"mediapipe {self._mp.__version__} BlazePose GHUM 3D (Tasks, TFLite, CPU)"

    def estimate(
        self, image_bgr: np.ndarray, boxes: Sequence[Box], intrinsics: Intrinsics
    ) -> list[Pose25D]:
        """One person per box where the model finds one (no boxes: the whole image).

        The intrinsics are not needed (BlazePose's depth is relative; the lift applies K).
        """
        if self._landmarker is None:
            raise RuntimeError("TasksBlazePoseModel is closed")
        rgb = to_rgb(image_bgr)
        height, width = rgb.shape[:2]
        poses: list[Pose25D] = []
        for box in boxes or [Box.full_image(width, height)]:
            square, visible = crop_regions(box, width, height, self.crop_margin)
            if visible.width < 1.0:
                continue
            pose = self._estimate_crop(rgb, square, visible)
            if pose is not None:
                poses.append(pose)
        return poses

    def _estimate_crop(self, rgb: np.ndarray, square: Box, visible: Box) -> Pose25D | None:
        crop = _cut_square(rgb, square, visible)
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=crop)
        result = self._landmarker.detect(image)
        if not result.pose_landmarks or not result.pose_world_landmarks:
            return None
        image_lm = np.array(
            [(p.x, p.y, min(p.visibility or 0.0, p.presence or 0.0))
             for p in result.pose_landmarks[0]]
        )  # fmt: skip
        world = np.array([(p.x, p.y, p.z) for p in result.pose_world_landmarks[0]])
        return landmarks_to_pose25d(
            image_lm, world, square.width, square.height, (square.x, square.y), visible
        )

    def reset(self) -> None:
        """Nothing to forget: every call is independent (tracking lives in the pipeline)."""

    def close(self) -> None:
        """Release the landmarker; safe to call twice."""
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None


def mediapipe_pose_graph(rgb: np.ndarray) -> dict[str, Any] | None:
    """mediapipe's own BlazePose graph (the wheel's ``pose_landmark_cpu``, static image) on ``rgb``:
    the region it cropped for the landmark network (from its pose detector) as (centre x, centre
    y, side, rotation) in pixels, the region its landmarks give for the next frame, and its
    (33, 2) image landmarks in pixels and (33, 3) world landmarks; None when it found nobody.

    The same graph as the Tasks ``PoseLandmarker`` (equal world landmarks, see
    test_blazepose_task), which does not expose its regions.
    """
    from mediapipe.python.solution_base import SolutionBase

    graph = SolutionBase(
        binary_graph_path="mediapipe/modules/pose_landmark/pose_landmark_cpu.binarypb",
        side_inputs={
            "model_complexity": 1,
            "smooth_landmarks": False,
            "enable_segmentation": False,
            "smooth_segmentation": False,
            "use_prev_landmarks": False,
        },
        outputs=[
            "pose_landmarks", "pose_world_landmarks", "pose_rect_from_detection",
            "pose_rect_from_landmarks",
        ],
    )  # fmt: skip
    try:
        result = graph.process({"image": np.ascontiguousarray(rgb)})
    finally:
        graph.close()
    if result.pose_landmarks is None or result.pose_rect_from_detection is None:
        return None
    height, width = rgb.shape[:2]

    def region(rect: Any) -> tuple[float, float, float, float]:
        side = max(rect.width * width, rect.height * height)
        return (rect.x_center * width, rect.y_center * height, side, rect.rotation)

    return {
        "roi": region(result.pose_rect_from_detection),
        "next_roi": region(result.pose_rect_from_landmarks),
        "xy": np.array([(p.x * width, p.y * height) for p in result.pose_landmarks.landmark]),
        "world": np.array([(p.x, p.y, p.z) for p in result.pose_world_landmarks.landmark]),
        "visibility": np.array([p.visibility for p in result.pose_landmarks.landmark]),
    }


def tasks_landmarks(
    rgb: np.ndarray, cache_dir: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """mediapipe's Tasks ``PoseLandmarker`` (IMAGE mode) on ``rgb``: (33, 2) landmarks in pixels
    and (33, 3) world landmarks, or None when it found nobody."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.PoseLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(pose_task_path(mp, cache_dir))),
        running_mode=vision.RunningMode.IMAGE,
        num_poses=1,
    )
    height, width = rgb.shape[:2]
    with vision.PoseLandmarker.create_from_options(options) as landmarker:
        result = landmarker.detect(
            mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        )
    if not result.pose_landmarks:
        return None
    xy = np.array([(p.x * width, p.y * height) for p in result.pose_landmarks[0]])
    world = np.array([(p.x, p.y, p.z) for p in result.pose_world_landmarks[0]])
    return xy, world
