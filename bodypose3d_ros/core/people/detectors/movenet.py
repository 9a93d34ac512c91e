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

A pass whose 6 slots all score as people may have left people out: the detector then looks again
(``crowd_search``: two tiles with the people found painted over), so a crowd is found whole.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import cv2
import numpy as np

from bodypose3d_ros.core.engines.base import ModelLoadError
from bodypose3d_ros.core.image.color import to_rgb
from bodypose3d_ros.core.people.detection import Detection
from bodypose3d_ros.core.people.detectors.crowd_search import CrowdSearchParams, Pass, search_crowd
from bodypose3d_ros.core.types import Box

LITERT_REQUIREMENT: Final = "ai-edge-litert==2.3.0"
MAX_PEOPLE_PER_CALL: Final = 6  # fixed by the network's output (1, 6, 56)
NUM_KEYPOINTS: Final = 17
STRIDE: Final = 32
# Measured by bench/detector_sizes.py: the smallest long side that finds ~60 px tall people.
DEFAULT_INPUT_SIZE: Final = 512
# Interpreters kept, one per network input shape (the first pass's and the crowd search's).
_INTERPRETERS: Final = 3


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
    ``crowd``: how to look again when a pass comes back full (``max_passes_per_tile`` 0: never).
    """

    input_size: int = DEFAULT_INPUT_SIZE
    min_score: float = 0.1
    min_keypoint_score: float = 0.2
    min_keypoints: int = 5
    duplicate_distance: float = 0.1
    min_box_side: float = 4.0
    max_aspect: float = 5.0
    num_threads: int = 0
    crowd: CrowdSearchParams = field(default_factory=CrowdSearchParams)

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
        path = str(model_path)
        self._new_interpreter: Callable[[], Any] = lambda: Interpreter(
            model_path=path, num_threads=threads
        )
        try:
            self._interpreter: Any = self._new_interpreter()
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"ai-edge-litert cannot load {model_path}: {exc}") from exc
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        # One interpreter per network input (width, height): reshaping one costs a re-plan.
        self._by_shape: dict[tuple[int, int], Any] = {}
        self._threads = threads

    @property
    def description(self) -> str:
        from ai_edge_litert import __version__ as litert_version

        return (
            f"MoveNet MultiPose Lightning, long side {self.params.input_size} px "
            f"(ai-edge-litert {litert_version}, CPU, {self._threads} threads)"
        )

    def detect(self, image_bgr: np.ndarray, stamp: float) -> list[Detection]:
        """Every person found, best score first; ``stamp`` is not needed here.

        One pass finds at most 6; when it comes back full, the crowd search looks again.
        """
        if self._interpreter is None:
            raise RuntimeError("MoveNetDetector is closed")
        rgb = to_rgb(image_bgr)
        size = self.params.input_size
        first = self.one_pass(rgb, size)
        if not first.full:
            return first.people
        return search_crowd(
            rgb, first.people, size, self.one_pass, self.same_person, self.params.crowd, STRIDE
        )

    def one_pass(self, rgb: np.ndarray, input_size: int) -> Pass:
        """One network call on an RGB image at a long side of ``input_size`` px: the people kept,
        and whether all of its slots scored as people (then there may be more)."""
        rows, letterbox = self._run(rgb, input_size)
        full = int(np.count_nonzero(rows[:, 55] >= self.params.min_score)) >= MAX_PEOPLE_PER_CALL
        return Pass(self._people(rows, letterbox, rgb.shape[1], rgb.shape[0]), full)

    def raw_output(self, image_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """The network's (6, 56) rows for the image and how the image was fitted to its input."""
        return self._run(to_rgb(image_bgr), self.params.input_size)

    def _run(self, rgb: np.ndarray, input_size: int) -> tuple[np.ndarray, Letterbox]:
        height, width = rgb.shape[:2]
        box = Letterbox.fit(width, height, input_size)
        tensor = np.zeros((1, box.padded[1], box.padded[0], 3), dtype=np.uint8)
        tensor[0, : box.resized[1], : box.resized[0]] = cv2.resize(
            rgb, box.resized, interpolation=cv2.INTER_AREA if box.scale < 1 else cv2.INTER_LINEAR
        )
        interpreter = self._interpreter_for(box.padded, tensor.shape)
        interpreter.set_tensor(self._input, tensor)
        interpreter.invoke()
        rows = np.array(interpreter.get_tensor(self._output)[0], dtype=np.float64)
        return rows, box

    def _interpreter_for(self, padded: tuple[int, int], shape: tuple[int, ...]) -> Any:
        """The interpreter allocated for this input shape (the oldest is reshaped when
        ``_INTERPRETERS`` shapes are in use already)."""
        interpreter = self._by_shape.pop(padded, None)
        if interpreter is None:
            if not self._by_shape:
                interpreter = self._interpreter
            elif len(self._by_shape) < _INTERPRETERS:
                interpreter = self._new_interpreter()
            else:
                interpreter = self._by_shape.pop(next(iter(self._by_shape)))
            interpreter.resize_tensor_input(self._input, shape, strict=False)
            interpreter.allocate_tensors()
        self._by_shape[padded] = interpreter  # newest last
        return interpreter

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
            if not any(self.same_person(person, better) for better in kept):
                kept.append(person)
        return kept

    def same_person(self, a: Detection, b: Detection) -> bool:
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
        """Drop the interpreters; safe to call twice."""
        self._interpreter = None
        self._by_shape.clear()
