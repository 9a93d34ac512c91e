"""BlazePose's own person detector, run directly with ai-edge-litert: where a person is, and the
region the landmark network should look at for them.

mediapipe's pose graph finds a newcomer with this network (``pose_detection.tflite``, checked by
``blazepose_file``) before its landmark network sees them; we run it where we have nothing better
to place the crop on (a whole-image search, a box without keypoints). It finds a person by their
face and upper body, and answers with a box and four keypoints: the hip centre, a point at the
radius of a circle holding the whole body, the shoulder centre and a point at the radius of the
upper body's circle. The first two are the same *alignment points* the landmark network gives
(``blazepose_roi``), so the region comes from :func:`roi_from_alignment_points` unchanged.

Every constant comes from mediapipe's graph in the 0.10.14 wheel
(``modules/pose_landmark/pose_landmark_cpu.binarypb``, whose ``PoseDetectionCpu`` and
``PoseDetectionToRoi`` subgraphs ``CalculatorGraph(...).text_config`` expands), node by node:

- ``ImageToTensorCalculator {output_tensor_width: 224, output_tensor_height: 224,
  keep_aspect_ratio: true, output_tensor_float_range {min: -1 max: 1}, border_mode:
  BORDER_ZERO}``: the image letterboxed into a 224 x 224 square (its long side across, black
  bars beside the short one), pixel / 127.5 - 1. We cut the square as the landmark network's
  crop is cut (an upright :class:`Roi` centred on the image, its long side wide), so removing the
  letterbox (``DetectionLetterboxRemovalCalculator``) is mapping back through that square. Any
  box, not only the whole image, can be searched the same way.
- ``SsdAnchorsCalculator {input_size 224 x 224, min_scale: 0.1484375, max_scale: 0.75,
  anchor_offset_x/y: 0.5, num_layers: 5, strides: 8 16 32 32 32, aspect_ratios: 1,
  fixed_anchor_size: true}`` and the calculator's default ``interpolated_scale_aspect_ratio:
  1``: two anchors a layer at every cell of each stride's grid (ceil(224 / stride) cells a
  side), layers of equal stride sharing their grid: 2 x 28² + 2 x 14² + 6 x 7² = 2254 anchors,
  centred on (cell + 0.5) / cells. With a fixed anchor size every anchor is 1 x 1: the scales
  drop out, only the centres matter.
- ``TensorsToDetectionsCalculator {num_classes: 1, num_boxes: 2254, num_coords: 12,
  x/y/w/h_scale: 224, box_coord_offset: 0, keypoint_coord_offset: 4, num_keypoints: 4,
  num_values_per_keypoint: 2, reverse_output_order: true, sigmoid_score: true,
  score_clipping_thresh: 100, min_score_thresh: 0.5}``: per anchor, x centre, y centre, width,
  height, then x, y of each keypoint (x first: ``reverse_output_order``), all in input pixels
  relative to the anchor's centre: value / 224 + anchor centre (sizes value / 224); the score is
  the logit clipped to +-100 through a sigmoid, kept from 0.5.
- ``NonMaxSuppressionCalculator {min_suppression_threshold: 0.3, overlap_type:
  INTERSECTION_OVER_UNION, algorithm: WEIGHTED}``: best score first, every remaining detection
  whose box overlaps the best one's by an IoU over 0.3 (itself included) is merged into it: box
  corners and keypoints averaged, weighted by score; the best score stays. On the tensor's
  normalised coordinates, as mediapipe's runs before the letterbox removal.
- ``AlignmentPointsRectsCalculator {rotation_vector_start_keypoint_index: 0,
  rotation_vector_end_keypoint_index: 1, rotation_vector_target_angle_degrees: 90}`` and
  ``RectTransformationCalculator {scale_x: 1.25, scale_y: 1.25, square_long: true}``: the region
  from keypoints 0 and 1, which is what :func:`roi_from_alignment_points` does (centre on the
  first point, 2 x their distance wide, turned so the second points up, grown by 1.25; the
  region is square in pixels, so ``square_long`` changes nothing).

mediapipe's graph keeps only its best detection; we keep them all, best first, so a caller can
choose (the best one inside a box).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from scipy.special import expit

from bodypose3d_ros.core.engines.base import ModelLoadError
from bodypose3d_ros.core.image.color import to_rgb
from bodypose3d_ros.core.models.blazepose_network import cut_roi
from bodypose3d_ros.core.models.blazepose_roi import Roi, roi_from_alignment_points
from bodypose3d_ros.core.models.litert_interpreter import open_interpreter
from bodypose3d_ros.core.people.track_motion import iou_corners
from bodypose3d_ros.core.types import Box, FloatArray

INPUT_SIZE: Final = 224
# SsdAnchorsCalculator: the strides of the network's five output layers, and the anchors at each
# cell of a layer (one aspect ratio plus the interpolated scale).
ANCHOR_STRIDES: Final = (8, 16, 32, 32, 32)
ANCHORS_PER_LAYER: Final = 2
ANCHOR_OFFSET: Final = 0.5
NUM_ANCHORS: Final = 2254
NUM_COORDS: Final = 12
NUM_KEYPOINTS: Final = 4
KEYPOINT_OFFSET: Final = 4
SCORE_CLIPPING: Final = 100.0
MIN_SCORE: Final = 0.5
NMS_MIN_IOU: Final = 0.3
# The keypoints' meaning (mediapipe's pose detector): the two alignment points of the whole body,
# then those of the upper body.
HIP_CENTRE: Final = 0
BODY_POINT: Final = 1


def ssd_anchors(input_size: int = INPUT_SIZE) -> FloatArray:
    """(2254, 2) anchor centres (x, y), normalised to the input, in the network's output order.

    Layers of equal stride share one grid; at each cell come all of their anchors. With
    ``fixed_anchor_size`` the anchors at a cell are identical, so only their count matters.
    """
    centres: list[FloatArray] = []
    layer = 0
    while layer < len(ANCHOR_STRIDES):
        stride = ANCHOR_STRIDES[layer]
        same = 1
        while layer + same < len(ANCHOR_STRIDES) and ANCHOR_STRIDES[layer + same] == stride:
            same += 1
        cells = math.ceil(input_size / stride)
        grid = (np.arange(cells, dtype=np.float64) + ANCHOR_OFFSET) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")  # row-major: y outer, x inner
        cell_centres = np.column_stack([xs.ravel(), ys.ravel()])
        centres.append(np.repeat(cell_centres, same * ANCHORS_PER_LAYER, axis=0))
        layer += same
    return np.concatenate(centres)


@dataclass(frozen=True)
class RawDetections:
    """Detections on the network's input, coordinates normalised to it (0..1 across).

    ``scores`` (n,), ``boxes`` (n, 4) x min, y min, x max, y max, ``keypoints`` (n, 4, 2).
    """

    scores: FloatArray
    boxes: FloatArray
    keypoints: FloatArray

    def __len__(self) -> int:
        return len(self.scores)


def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: FloatArray) -> RawDetections:
    """The network's two outputs (batch removed: (2254, 12), (2254, 1)) -> the detections whose
    score reaches MIN_SCORE, in anchor order."""
    values = np.asarray(raw_boxes, dtype=np.float64).reshape(NUM_ANCHORS, NUM_COORDS)
    logits = np.clip(
        np.asarray(raw_scores, dtype=np.float64).reshape(NUM_ANCHORS),
        -SCORE_CLIPPING,
        SCORE_CLIPPING,
    )
    scores = expit(logits)
    keep = scores >= MIN_SCORE
    values, anchor = values[keep], anchors[keep]
    centre = values[:, 0:2] / INPUT_SIZE + anchor
    half = values[:, 2:4] / INPUT_SIZE / 2.0
    points = values[:, KEYPOINT_OFFSET : KEYPOINT_OFFSET + 2 * NUM_KEYPOINTS].reshape(
        -1, NUM_KEYPOINTS, 2
    )
    return RawDetections(
        scores=scores[keep],
        boxes=np.column_stack([centre - half, centre + half]),
        keypoints=points / INPUT_SIZE + anchor[:, None, :],
    )


def weighted_nms(found: RawDetections, min_iou: float = NMS_MIN_IOU) -> RawDetections:
    """mediapipe's weighted non-max suppression: best first, each merged with everything left
    that overlaps it by more than ``min_iou`` (score-weighted mean of boxes and keypoints; its
    own score kept)."""
    remaining = np.argsort(-found.scores, kind="stable")
    scores, boxes, keypoints = [], [], []
    while remaining.size:
        best = remaining[0]
        overlap = iou_corners(found.boxes[best][None], found.boxes[remaining])[0] > min_iou
        # A best box without area overlaps nothing, not even itself: mediapipe keeps it as it
        # is and stops there.
        merged = remaining[overlap] if overlap.any() else remaining[:1]
        weights = found.scores[merged]
        total = float(weights.sum())
        scores.append(found.scores[best])
        boxes.append(weights @ found.boxes[merged] / total)
        keypoints.append(np.einsum("n,nkd->kd", weights, found.keypoints[merged]) / total)
        if not overlap.any():
            break
        remaining = remaining[~overlap]
    if not scores:
        return found
    return RawDetections(np.array(scores), np.array(boxes), np.array(keypoints))


@dataclass(frozen=True)
class PersonDetection:
    """One person the detector found, in source-image pixels.

    ``box``: the detection's box (around the head and shoulders, not the whole person);
    ``keypoints`` (4, 2): hip centre, whole-body point, shoulder centre, upper-body point.
    """

    score: float
    box: Box
    keypoints: FloatArray

    @property
    def hips(self) -> tuple[float, float]:
        return float(self.keypoints[HIP_CENTRE, 0]), float(self.keypoints[HIP_CENTRE, 1])

    @property
    def roi(self) -> Roi | None:
        """The landmark network's region for this person, as mediapipe's graph places it."""
        return roi_from_alignment_points(self.keypoints[HIP_CENTRE], self.keypoints[BODY_POINT])


def search_square(region: Box) -> Roi:
    """The upright square the detector sees for ``region``: centred on it, its long side wide
    (the letterbox ``keep_aspect_ratio`` makes)."""
    cx, cy = region.center
    return Roi(cx, cy, max(region.width, region.height), 0.0)


class PersonDetectionNetwork:
    """One ai-edge-litert interpreter for ``pose_detection.tflite``, reused for every search.

    ``num_threads``: the runtime's CPU threads (0: 2, or the cores there are if fewer), as for
    the landmark network.
    """

    def __init__(self, model_path: str | Path, num_threads: int = 0) -> None:
        self._interpreter, self.threads = open_interpreter(model_path, num_threads)
        self._input = self._interpreter.get_input_details()[0]["index"]
        by_shape = {
            tuple(d["shape"][1:]): d["index"] for d in self._interpreter.get_output_details()
        }
        try:
            self._boxes = by_shape[(NUM_ANCHORS, NUM_COORDS)]
            self._scores = by_shape[(NUM_ANCHORS, 1)]
        except KeyError as exc:
            raise ModelLoadError(
                f"the person detector lacks the output of shape {exc}: not pose_detection"
            ) from exc
        self._anchors = ssd_anchors()

    def detect_raw(self, image: np.ndarray, square: Roi) -> RawDetections:
        """The detections in ``square`` of the image, on the network's input, after NMS.

        ``image`` is 8-bit BGR, BGRA or grey, as the frame comes: only the 224 x 224 crop is
        turned to RGB, as the landmark network's crops are.
        """
        if self._interpreter is None:
            raise RuntimeError("PersonDetectionNetwork is closed")
        rgb = to_rgb(cut_roi(image, square, size=INPUT_SIZE))
        tensor = rgb[None].astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)
        it = self._interpreter
        it.set_tensor(self._input, tensor)
        it.invoke()
        found = decode(it.get_tensor(self._boxes)[0], it.get_tensor(self._scores)[0], self._anchors)
        return weighted_nms(found)

    def detect(self, image: np.ndarray, region: Box | None = None) -> list[PersonDetection]:
        """The people found in the square around ``region`` of the image (8-bit BGR, BGRA or
        grey; the whole image by default), best first.

        Parts of the square past the image border are black, as mediapipe's letterbox is.
        """
        height, width = image.shape[:2]
        square = search_square(region if region is not None else Box.full_image(width, height))
        found = self.detect_raw(image, square)
        people = []
        for score, box, keypoints in zip(found.scores, found.boxes, found.keypoints, strict=True):
            (x0, y0), (x1, y1) = square.to_image(box.reshape(2, 2)).tolist()
            corners = Box(x0, y0, x1 - x0, y1 - y0)
            people.append(PersonDetection(float(score), corners, square.to_image(keypoints)))
        return people

    def close(self) -> None:
        """Drop the interpreter; safe to call twice."""
        self._interpreter = None
