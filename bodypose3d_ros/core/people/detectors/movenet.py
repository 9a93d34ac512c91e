"""MoveNet MultiPose Lightning as a :class:`~bodypose3d_ros.core.people.detection.PersonDetector`.

One call finds at most 6 people, each with a box and COCO's 17 keypoints. The network takes any
input shape whose sides are multiples of 32: the image is scaled so its long side is
``input_size`` and padded (black, bottom and right) to the next multiple of 32, so the aspect
ratio is kept and the padding never shifts coordinates. The input size trades speed against the
smallest person found: ``bench/detector_sizes.py`` measures it (people about 60 px tall in a
768×576 frame need a long side of 384–512; 256 misses them).

MoveNet fills all 6 of its slots, mostly with low-scored boxes that are not people, and small
people score low too (a 60 px tall person often 0.05-0.3, a close-up one 0.4-0.6). A box is kept
only when its score reaches ``min_score``, at least ``min_keypoints`` keypoints reach
``min_keypoint_score``, it is at least ``min_box_side`` pixels on each side and its sides' ratio
is at most ``max_aspect``. A box whose confident keypoints sit where a better box's are (median
gap at most ``duplicate_distance`` x body size) is the same person seen twice and is dropped.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Final

import cv2
import numpy as np

from bodypose3d_ros.core.engines.base import ModelLoadError
from bodypose3d_ros.core.image.color import to_rgb
from bodypose3d_ros.core.people.detection import Detection
from bodypose3d_ros.core.types import Box

LITERT_REQUIREMENT: Final = "ai-edge-litert==2.3.0"
MAX_PEOPLE_PER_CALL: Final = 6  # fixed by the network's output (1, 6, 56)
NUM_KEYPOINTS: Final = 17
STRIDE: Final = 32
# Measured by bench/detector_sizes.py: the smallest long side that finds ~60 px tall people.
DEFAULT_INPUT_SIZE: Final = 512


@dataclass(frozen=True)
class MoveNetParams:
    """How MoveNet runs and which of its boxes count as people.

    ``input_size``: the long side the image is scaled to (a multiple of 32, 128..1024).
    ``min_score``: MoveNet's person score a box needs (0.1: keeps most 60 px tall people,
    which score 0.05-0.3; boxes on an empty street scored at most 0.1 and never showed 5
    confident keypoints).
    ``min_keypoint_score`` / ``min_keypoints``: a person shows at least 5 keypoints at 0.2 or
    more (a face alone has 5: nose, eyes, ears).
    ``duplicate_distance``: two boxes whose shared confident keypoints lie a median of at most
    this fraction of the body size apart are one person (distinct people measured >= 0.3).
    ``min_box_side``: boxes thinner than 4 px in the source image are noise.
    ``max_aspect``: a box more than 5 times as wide as tall (or tall as wide) is not a person,
    standing, sitting or lying.
    ``num_threads``: CPU threads of the runtime (0: up to 4, the cores there are).
    """

    input_size: int = DEFAULT_INPUT_SIZE
    min_score: float = 0.1
    min_keypoint_score: float = 0.2
    min_keypoints: int = 5
    duplicate_distance: float = 0.1
    min_box_side: float = 4.0
    max_aspect: float = 5.0
    num_threads: int = 0

    def __post_init__(self) -> None:
        if self.input_size % STRIDE or not 128 <= self.input_size <= 1024:
            raise ValueError(
                f"detector input size must be a multiple of {STRIDE} in 128..1024, "
                f"got {self.input_size}"
            )
        if not 0.0 <= self.min_score <= 1.0 or not 0.0 <= self.min_keypoint_score <= 1.0:
            raise ValueError("detector scores must be in 0..1")
        if not 0 <= self.min_keypoints <= NUM_KEYPOINTS or self.duplicate_distance < 0.0:
            raise ValueError(
                f"min_keypoints must be in 0..{NUM_KEYPOINTS}, duplicate_distance >= 0"
            )
        if self.max_aspect < 1.0 or self.min_box_side < 0.0 or self.num_threads < 0:
            raise ValueError("max_aspect must be >= 1, min_box_side and num_threads >= 0")


@dataclass(frozen=True)
class Letterbox:
    """How a source image maps onto the network input: scaled by ``scale``, padded at the end."""

    scale: float
    resized: tuple[int, int]  # width, height of the scaled image
    padded: tuple[int, int]  # width, height of the network input (multiples of STRIDE)

    @staticmethod
    def fit(width: int, height: int, input_size: int) -> Letterbox:
        scale = input_size / max(width, height)
        rw, rh = max(1, round(width * scale)), max(1, round(height * scale))
        pad = (STRIDE * math.ceil(rw / STRIDE), STRIDE * math.ceil(rh / STRIDE))
        return Letterbox(scale, (rw, rh), pad)


class MoveNetDetector:
    """People (boxes, 17 keypoints) in an image, from MoveNet MultiPose Lightning on the CPU."""

    name = "movenet"

    def __init__(self, model_path: str | os.PathLike[str], params: MoveNetParams) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise ModelLoadError(
                f"the movenet detector needs ai-edge-litert ({exc}); install it with: "
                f"pip install {LITERT_REQUIREMENT}"
            ) from exc
        self.params = params
        threads = params.num_threads or min(4, os.cpu_count() or 1)
        try:
            self._interpreter: Any = Interpreter(model_path=str(model_path), num_threads=threads)
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"ai-edge-litert cannot load {model_path}: {exc}") from exc
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._shape: tuple[int, int] | None = None  # network input (width, height) allocated
        self._threads = threads

    @property
    def description(self) -> str:
        from ai_edge_litert import __version__ as litert_version

        return (
            f"MoveNet MultiPose Lightning, long side {self.params.input_size} px "
            f"(ai-edge-litert {litert_version}, CPU, {self._threads} threads)"
        )

    def detect(self, image_bgr: np.ndarray, stamp: float) -> list[Detection]:
        """Every person found, best score first (at most 6); ``stamp`` is not needed here."""
        if self._interpreter is None:
            raise RuntimeError("MoveNetDetector is closed")
        rows, letterbox = self.raw_output(image_bgr)
        return self._people(rows, letterbox, image_bgr.shape[1], image_bgr.shape[0])

    def raw_output(self, image_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """The network's (6, 56) rows for the image and how the image was fitted to its input."""
        rgb = to_rgb(image_bgr)
        height, width = rgb.shape[:2]
        box = Letterbox.fit(width, height, self.params.input_size)
        tensor = np.zeros((1, box.padded[1], box.padded[0], 3), dtype=np.uint8)
        tensor[0, : box.resized[1], : box.resized[0]] = cv2.resize(
            rgb, box.resized, interpolation=cv2.INTER_AREA if box.scale < 1 else cv2.INTER_LINEAR
        )
        if self._shape != box.padded:
            self._interpreter.resize_tensor_input(self._input, tensor.shape, strict=False)
            self._interpreter.allocate_tensors()
            self._shape = box.padded
        self._interpreter.set_tensor(self._input, tensor)
        self._interpreter.invoke()
        rows = np.array(self._interpreter.get_tensor(self._output)[0], dtype=np.float64)
        return rows, box

    def _people(
        self, rows: np.ndarray, letterbox: Letterbox, width: int, height: int
    ) -> list[Detection]:
        p = self.params
        # Normalised network-input coordinates -> source pixels.
        to_px_x = letterbox.padded[0] / letterbox.scale
        to_px_y = letterbox.padded[1] / letterbox.scale
        people: list[Detection] = []
        for row in rows:
            score = float(row[55])
            if not score >= p.min_score:  # also rejects NaN
                continue
            kp = row[:51].reshape(NUM_KEYPOINTS, 3)  # y, x, score
            keypoints = np.column_stack((kp[:, 1] * to_px_x, kp[:, 0] * to_px_y, kp[:, 2]))
            if np.count_nonzero(keypoints[:, 2] >= p.min_keypoint_score) < p.min_keypoints:
                continue
            y0, y1 = row[51] * to_px_y, row[53] * to_px_y
            x0, x1 = row[52] * to_px_x, row[54] * to_px_x
            box_w, box_h = x1 - x0, y1 - y0
            if not (box_w >= p.min_box_side and box_h >= p.min_box_side):
                continue
            if max(box_w / box_h, box_h / box_w) > p.max_aspect:
                continue
            if not np.all(np.isfinite(keypoints)):
                continue
            people.append(Detection(Box(float(x0), float(y0), float(box_w), float(box_h)),
                                    score, keypoints))  # fmt: skip
        people.sort(key=lambda d: -d.score)
        kept: list[Detection] = []
        for person in people:
            if not any(self._same_person(person, better) for better in kept):
                kept.append(person)
        return kept

    def _same_person(self, a: Detection, b: Detection) -> bool:
        """Whether two boxes put their shared confident keypoints in (nearly) the same places."""
        if a.keypoints is None or b.keypoints is None:
            return False
        threshold = self.params.min_keypoint_score
        shared = (a.keypoints[:, 2] >= threshold) & (b.keypoints[:, 2] >= threshold)
        if np.count_nonzero(shared) < 3:
            return False
        gaps = np.linalg.norm(a.keypoints[shared, :2] - b.keypoints[shared, :2], axis=1)
        size = max(a.box.width, a.box.height, b.box.width, b.box.height)
        return float(np.median(gaps)) <= self.params.duplicate_distance * size

    def close(self) -> None:
        """Drop the interpreter; safe to call twice."""
        self._interpreter = None
