"""BlazePose's landmark network run directly with ai-edge-litert: crops in, decoded landmarks out.

Every constant comes from mediapipe's pose graph in the 0.10.14 wheel
(``modules/pose_landmark/pose_landmark_cpu.binarypb``, subgraphs expanded), node by node:

- ``ImageToTensorCalculator``: 256 x 256 RGB, ``keep_aspect_ratio: true`` (the ROI is square, so
  the letterbox adds no padding), ``output_tensor_float_range {min: 0 max: 1}``: pixel / 255;
  the ROI's rotated square is resampled bilinearly. One deliberate difference: past the image
  border the crop is black, where mediapipe repeats the edge pixels (``repeat_edges=True``
  reproduces it, as the tests do). For a person cut by the border the repeated rows look like
  smeared limbs: on zidane.jpg's man whose legs are out of the frame BlazePose's hips then hover
  around 0.5 confidence and his trunk bones drop in and out (test_bone_lengths_photos); black, as
  the former Tasks path showed outside its crops, keeps them sure. Crops inside the image are the
  same either way.
- ``SplitTensorVectorCalculator``: outputs 0 landmarks (1, 195), 1 pose flag (1, 1), 2
  segmentation (1, 256, 256, 1), 3 heatmap (1, 64, 64, 39), 4 world landmarks (1, 117). The
  segmentation mask is never used, so it is cut out of the graph before the interpreter is built
  (``tflite_pruning``), with the operators only it needs: the other outputs stay bit-identical
  and a run costs about 40 % less.
- ``ThresholdingCalculator {threshold: 0.5}`` on the pose flag: below it there is no pose.
- ``TensorsToLandmarksCalculator {num_landmarks: 39, input_image_width: 256,
  input_image_height: 256, visibility_activation: SIGMOID, presence_activation: SIGMOID}``:
  five values per landmark, x, y, z in input pixels (divided by 256), visibility and presence
  logits (through a sigmoid).
- ``RefineLandmarksFromHeatmapCalculator {kernel_size: 7}``: each landmark moves to the
  confidence-weighted mean cell of the 7 x 7 heatmap window around it, when the window's best
  confidence (sigmoid of the heatmap) reaches 0.5 (the calculator's default
  ``min_confidence_to_refine``).
- ``SplitNormalizedLandmarkListCalculator``: landmarks 0-32 are the body, 33-34 the alignment
  points for the next ROI (hip centre, body point).
- world landmarks: ``TensorsToLandmarksCalculator {num_landmarks: 39}`` (metres, no scaling),
  the first 33 kept, visibility and presence copied from the image landmarks
  (``VisibilityCopyCalculator``).

Mapping back (``LandmarkProjectionCalculator``, ``WorldLandmarkProjectionCalculator``) is the
ROI's job (:class:`~bodypose3d_ros.core.models.blazepose_roi.Roi`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import cv2
import numpy as np
from scipy.special import expit

from bodypose3d_ros.core.engines.base import ModelLoadError
from bodypose3d_ros.core.models.blazepose_roi import Roi
from bodypose3d_ros.core.models.litert_interpreter import open_interpreter
from bodypose3d_ros.core.models.tflite_pruning import drop_outputs
from bodypose3d_ros.core.types import FloatArray

INPUT_SIZE: Final = 256
NUM_LANDMARKS: Final = 39  # 33 body landmarks, 2 alignment points, 4 unused
NUM_BODY_LANDMARKS: Final = 33
HIP_CENTRE: Final = 33
BODY_POINT: Final = 34
POSE_FLAG_THRESHOLD: Final = 0.5
HEATMAP_KERNEL: Final = 7
HEATMAP_MIN_CONFIDENCE: Final = 0.5
# Output tensors in the order of SplitTensorVectorCalculator, by their shapes (names differ
# between converters, shapes do not).
_LANDMARKS, _FLAG, _HEATMAP, _WORLD = (195,), (1,), (64, 64, 39), (117,)
_SEGMENTATION: Final = (1, INPUT_SIZE, INPUT_SIZE, 1)  # with its batch dimension


@dataclass(frozen=True)
class RawLandmarks:
    """One crop's decoded output, still in the ROI's frame.

    ``xy`` (39, 2) normalised to the ROI (0..1), ``visibility`` and ``presence`` (39,) in 0..1,
    ``world`` (39, 3) metres in the ROI's axes (origin between the hips), ``pose_flag`` in 0..1.
    """

    xy: FloatArray
    visibility: FloatArray
    presence: FloatArray
    world: FloatArray
    pose_flag: float

    @property
    def has_pose(self) -> bool:
        return self.pose_flag >= POSE_FLAG_THRESHOLD


def refine_from_heatmap(xy: FloatArray, heatmap: np.ndarray) -> FloatArray:
    """Landmarks (n, 2), normalised, moved to their heatmap windows' weighted centres.

    ``heatmap`` (H, W, n) holds logits. A landmark whose centre cell lies outside the heatmap, or
    whose window's best confidence is under ``HEATMAP_MIN_CONFIDENCE``, stays where it is.
    """
    height, width, n = heatmap.shape
    out = np.array(xy, dtype=np.float64, copy=True)
    col = np.trunc(out[:, 0] * width).astype(np.int64)  # C++ float -> int truncates
    row = np.trunc(out[:, 1] * height).astype(np.int64)
    inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
    offsets = np.arange(HEATMAP_KERNEL) - (HEATMAP_KERNEL - 1) // 2
    rows = row[:, None] + offsets  # (n, k)
    cols = col[:, None] + offsets
    valid = ((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[:, None]
    values = heatmap[
        np.clip(rows, 0, height - 1)[:, :, None],
        np.clip(cols, 0, width - 1)[:, None, :],
        np.arange(n)[:, None, None],
    ]
    confidence = np.where(valid, expit(values.astype(np.float64)), 0.0)  # (n, k, k)
    total = confidence.sum(axis=(1, 2))
    best = confidence.max(axis=(1, 2))
    refine = inside & (best >= HEATMAP_MIN_CONFIDENCE) & (total > 0.0)
    safe = np.where(total > 0.0, total, 1.0)
    mean_col = (confidence * cols[:, None, :]).sum(axis=(1, 2)) / safe
    mean_row = (confidence * rows[:, :, None]).sum(axis=(1, 2)) / safe
    out[refine, 0] = mean_col[refine] / width
    out[refine, 1] = mean_row[refine] / height
    return out


def decode(
    landmarks: np.ndarray, flag: float, heatmap: np.ndarray, world: np.ndarray
) -> RawLandmarks:
    """The network's outputs for one crop (batch dimension removed) -> :class:`RawLandmarks`."""
    raw = np.asarray(landmarks, dtype=np.float64).reshape(NUM_LANDMARKS, 5)
    xy = refine_from_heatmap(raw[:, :2] / INPUT_SIZE, heatmap)
    return RawLandmarks(
        xy=xy,
        visibility=expit(raw[:, 3]),
        presence=expit(raw[:, 4]),
        world=np.asarray(world, dtype=np.float64).reshape(NUM_LANDMARKS, 3),
        pose_flag=float(flag),
    )


def cut_roi(
    image: np.ndarray, roi: Roi, repeat_edges: bool = False, size: int = INPUT_SIZE
) -> np.ndarray:
    """The ROI's rotated square, ``size`` x ``size`` (the landmark network's 256 by default), in
    ``image``'s own channels (the networks want RGB); black past the image border, or the edge
    pixels repeated as mediapipe does with ``repeat_edges``."""
    # The ROI's corners go to the input's corners (0 and 256) in OpenCV's pixel coordinates, as
    # mediapipe's OpenCV ImageToTensor converter maps them (checked against its own crops: with
    # mediapipe's ROI the landmarks agree to 0.2 px, see test_blazepose_direct).
    return cv2.warpAffine(
        image, roi.crop_to_image(size), (size, size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE if repeat_edges else cv2.BORDER_CONSTANT,
    )  # fmt: skip


class LandmarkNetwork:
    """One ai-edge-litert interpreter for ``pose_landmark_full.tflite``, reused for every crop.

    ``batched``: several crops go through one ``invoke`` with a batch dimension (the input is
    resized when the number of crops changes); else one ``invoke`` per crop on a batch of one.
    ``num_threads``: the runtime's CPU threads (0: 2, or the cores there are if fewer), as for
    MoveNet; more than two would only compete with the stages after the network for the cores
    of a small robot computer. ``segmentation``: keep the unused segmentation mask in the graph
    (only to show that cutting it changes no other output).
    """

    def __init__(
        self,
        model_path: str | Path,
        num_threads: int = 0,
        batched: bool = False,
        segmentation: bool = False,
    ) -> None:
        try:
            content = Path(model_path).read_bytes()
        except OSError as exc:
            raise ModelLoadError(f"cannot read {model_path}: {exc}") from exc
        if not segmentation:
            try:
                content = drop_outputs(content, [_SEGMENTATION])
            except ModelLoadError as exc:
                raise ModelLoadError(f"{model_path}: {exc}") from exc
        self._interpreter, self.threads = open_interpreter(model_path, num_threads, content)
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._outputs = self._output_indices()
        self.batched = batched
        self._batch = 1

    def _output_indices(self) -> tuple[int, int, int, int]:
        by_shape = {
            tuple(d["shape"][1:]): d["index"] for d in self._interpreter.get_output_details()
        }
        try:
            return by_shape[_LANDMARKS], by_shape[_FLAG], by_shape[_HEATMAP], by_shape[_WORLD]
        except KeyError as exc:
            raise ModelLoadError(
                f"the landmark network lacks the output of shape {exc}: not pose_landmark_full"
            ) from exc

    def _resize(self, batch: int) -> None:
        if batch != self._batch:
            self._interpreter.resize_tensor_input(
                self._input, (batch, INPUT_SIZE, INPUT_SIZE, 3), strict=False
            )
            self._interpreter.allocate_tensors()
            self._batch = batch

    def _invoke(self, tensor: np.ndarray) -> list[RawLandmarks]:
        self._resize(tensor.shape[0])
        it = self._interpreter
        it.set_tensor(self._input, tensor)
        it.invoke()
        lm, flag, heat, world = (it.get_tensor(i) for i in self._outputs)
        return [decode(lm[b], float(flag[b, 0]), heat[b], world[b]) for b in range(tensor.shape[0])]

    def run(self, crops: Sequence[np.ndarray]) -> list[RawLandmarks]:
        """Decoded landmarks for each 256 x 256 uint8 RGB crop, in order."""
        if self._interpreter is None:
            raise RuntimeError("LandmarkNetwork is closed")
        if not crops:
            return []
        tensor = np.stack(crops).astype(np.float32) * np.float32(1.0 / 255.0)
        if self.batched:
            return self._invoke(tensor)
        return [out for i in range(len(crops)) for out in self._invoke(tensor[i : i + 1])]

    def close(self) -> None:
        """Drop the interpreter; safe to call twice."""
        self._interpreter = None
