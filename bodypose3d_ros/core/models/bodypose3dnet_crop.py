"""Person boxes -> BodyPose3DNet's five input tensors (crop, camera and limb-length inputs).

Pixel convention (used by every function here): integer coordinates are pixel centres, in the
image and in the 192x256 crop alike (OpenCV's convention). Crop pixel (x, y) samples image point
``u = x * crop_w / 192 + crop_left``, ``v = y * crop_h / 256 + crop_top``. That one affine map is
``t_form_inv``; it is handed to ``cv2.warpAffine`` as the inverse map, so the pixels the model
sees and the coordinates we map its keypoints back with agree exactly.

The crop may extend past the image: outside pixels are black, so the crop keeps its 3:4 shape
and position (NVIDIA's clamping can break the aspect ratio; black fill cannot).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from bodypose3d_ros.core.skeleton import MEAN_LIMB_LENGTHS_MM, SCALE_NORMALIZED_MEAN_LIMB_LENGTHS
from bodypose3d_ros.core.types import Box, FloatArray

CROP_WIDTH: Final = 192
CROP_HEIGHT: Final = 256
NVIDIA_CROP_FOCAL: Final = 800.79041
NORMALIZATIONS: Final[tuple[str, ...]] = ("bgr_unit", "rgb_mean")
K_INV_MODES: Final[tuple[str, ...]] = ("crop_camera", "nvidia_fixed")
# The model's input names, in the order its ONNX graph declares them.
INPUT_NAMES: Final[tuple[str, ...]] = (
    "input0",
    "k_inv",
    "t_form_inv",
    "scale_normalized_mean_limb_lengths",
    "mean_limb_lengths",
)
# ImageNet means for the "rgb_mean" normalisation, R, G, B.
RGB_MEAN: Final[npt.NDArray[np.float32]] = np.array([123.675, 116.28, 103.53], dtype=np.float32)

Float32Array = npt.NDArray[np.float32]
_UNIT_SCALE: Final = np.float32(1.0 / 255.0)

# OpenCV's bilinear warp of 4-channel pixels runs its vector path and costs half what the same
# warp of 3-channel pixels does, with the same result bit for bit. Converting the image to BGRA
# once pays for itself when the crops hold more than about 1/11 of the image's pixels (measured:
# a 1280x720 conversion costs as much as 1.7 crops save), so it is done from that point on.
_BGRA_PAYS_OFF_RATIO: Final = 11

# NVIDIA's virtual crop camera: fixed focal length, principal point at the crop centre.
NVIDIA_CROP_K: Final[FloatArray] = np.array(
    [
        [NVIDIA_CROP_FOCAL, 0.0, CROP_WIDTH / 2.0],
        [0.0, NVIDIA_CROP_FOCAL, CROP_HEIGHT / 2.0],
        [0.0, 0.0, 1.0],
    ],
    dtype=np.float64,
)
NVIDIA_CROP_K_INV: Final[FloatArray] = np.linalg.inv(NVIDIA_CROP_K).astype(np.float64)


def _round_half_up(value: float) -> int:
    """C-style rounding (0.5 goes up), as the reference's ``round`` does, not banker's."""
    return math.floor(value + 0.5)


def crop_box_for(box: Box) -> Box:
    """The 3:4 crop the model looks at for a person box.

    A square of side round(1.25 * max(w, h)) centred on the box, then stretched to height
    round(side * 4 / 3) about the same centre. Not clamped to the image.
    """
    values = (box.x, box.y, box.width, box.height)
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"box has non-finite values: {box}")
    if box.width < 0 or box.height < 0 or max(box.width, box.height) <= 0:
        raise ValueError(f"box must have a positive size: {box}")
    side = max(1, _round_half_up(1.25 * max(box.width, box.height)))
    crop_height = _round_half_up(side * 4.0 / 3.0)
    cx, cy = box.center
    return Box(cx - side / 2.0, cy - crop_height / 2.0, float(side), float(crop_height))


def crop_to_image_transform(crop: Box) -> FloatArray:
    """The 3x3 affine map from crop pixels (192x256 space) to image pixels: ``t_form_inv``."""
    return np.array(
        [
            [crop.width / CROP_WIDTH, 0.0, crop.x],
            [0.0, crop.height / CROP_HEIGHT, crop.y],
            [0.0, 0.0, 1.0],
        ],
        dtype=np.float64,
    )


def crop_to_image(xy: npt.ArrayLike, crop: Box) -> FloatArray:
    """Map (..., 2) crop-pixel coordinates to image pixels."""
    pts = np.asarray(xy, dtype=np.float64)
    if pts.ndim == 0 or pts.shape[-1] != 2:
        raise ValueError(f"expected points of shape (..., 2), got {pts.shape}")
    scale = np.array([crop.width / CROP_WIDTH, crop.height / CROP_HEIGHT])
    offset = np.array([crop.x, crop.y])
    result: FloatArray = pts * scale + offset
    return result


def _as_k(intrinsics_k: npt.ArrayLike) -> FloatArray:
    k = np.asarray(intrinsics_k, dtype=np.float64)
    if k.shape != (3, 3) or not np.all(np.isfinite(k)):
        raise ValueError(f"intrinsics matrix must be a finite 3x3 array, got shape {k.shape}")
    return k


def crop_camera_k_inv(intrinsics_k: npt.ArrayLike, crop: Box) -> FloatArray:
    """Inverse K of the virtual camera that sees the 192x256 crop.

    K_crop = A @ K with A the image -> crop affine (the inverse of ``t_form_inv``), so
    K_crop^-1 = K^-1 @ t_form_inv: a crop pixel's ray is the ray of the image pixel it samples.
    """
    k = _as_k(intrinsics_k)
    result: FloatArray = np.linalg.inv(k) @ crop_to_image_transform(crop)
    return result


@dataclass
class CropBatch:
    """The model inputs for N people, plus the crops they came from (to map keypoints back)."""

    input0: Float32Array  # (N, 3, 256, 192) NCHW
    t_form_inv: Float32Array  # (N, 3, 3)
    k_inv: Float32Array  # (N, 3, 3)
    scale_normalized_mean_limb_lengths: Float32Array  # (N, 36)
    mean_limb_lengths: Float32Array  # (N, 36) millimetres
    crops: list[Box] = field(default_factory=list)

    def feeds(self) -> dict[str, np.ndarray]:
        """The inference feed dict, keyed by the model's input names."""
        return {
            "input0": self.input0,
            "k_inv": self.k_inv,
            "t_form_inv": self.t_form_inv,
            "scale_normalized_mean_limb_lengths": self.scale_normalized_mean_limb_lengths,
            "mean_limb_lengths": self.mean_limb_lengths,
        }

    def __len__(self) -> int:
        return int(self.input0.shape[0])


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(choices)}")


def _normalize_into(out: Float32Array, pixels: npt.NDArray[np.uint8], normalization: str) -> None:
    """One (H, W, 3 or 4) uint8 BGR(A) crop -> ``out``, its (3, H, W) float32 slot in the batch
    (alpha, if any, is dropped).

    The crop is split into its planes by OpenCV and each plane converted by one NumPy call into
    its contiguous output plane: the same float32 arithmetic as one transposed NumPy pass, and
    faster (a strided read per element was most of that pass).
    """
    planes = cv2.split(pixels)[:3]  # B, G, R
    if normalization == "bgr_unit":
        for c, plane in enumerate(planes):
            np.multiply(plane, _UNIT_SCALE, out=out[c], dtype=np.float32)
    else:  # rgb_mean: R, G, B minus their means, then scaled
        for c, plane in enumerate(reversed(planes)):
            np.subtract(plane, RGB_MEAN[c], out=out[c], dtype=np.float32)
        out *= _UNIT_SCALE


def _warp_source(image: npt.NDArray[np.uint8], crops: int) -> npt.NDArray[np.uint8]:
    """The image the crops are warped from: itself, or its BGRA copy when that is cheaper."""
    height, width = image.shape[:2]
    if crops * CROP_WIDTH * CROP_HEIGHT * _BGRA_PAYS_OFF_RATIO >= width * height:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2BGRA), dtype=np.uint8)
    return image


def prepare_batch(
    image_bgr: npt.NDArray[np.uint8],
    boxes: Sequence[Box],
    k: npt.ArrayLike,
    normalization: str = "bgr_unit",
    k_inv_mode: str = "crop_camera",
) -> CropBatch:
    """Crop, resize and normalise every person box into one batch of model inputs.

    ``k`` is the image's 3x3 intrinsics matrix (used by ``k_inv_mode="crop_camera"``).
    Each crop is one ``cv2.warpAffine`` (bilinear, black outside the image) into a reused uint8
    buffer, at once normalised plane by plane into its slot of the float32 batch.
    With several crops the warps read one BGRA copy of the image (``_BGRA_PAYS_OFF_RATIO``).
    """
    _check_choice(normalization, NORMALIZATIONS, "normalization")
    _check_choice(k_inv_mode, K_INV_MODES, "k_inv_mode")
    image = np.asarray(image_bgr)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"image must be (H, W, 3) uint8 BGR, got shape {image.shape} dtype {image.dtype}"
        )
    k_img = _as_k(k)

    crops = [crop_box_for(box) for box in boxes]
    n = len(crops)
    t_form = np.empty((n, 3, 3), dtype=np.float64)
    source = _warp_source(image, n)
    # One crop's pixels at a time, normalised while they are still in the cache.
    pixels = np.empty((CROP_HEIGHT, CROP_WIDTH, source.shape[2]), dtype=np.uint8)
    input0 = np.empty((n, 3, CROP_HEIGHT, CROP_WIDTH), dtype=np.float32)
    for i, crop in enumerate(crops):
        t_form[i] = crop_to_image_transform(crop)
        cv2.warpAffine(
            source,
            t_form[i, :2],
            (CROP_WIDTH, CROP_HEIGHT),
            dst=pixels,
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0, 0),
        )
        _normalize_into(input0[i], pixels, normalization)

    if k_inv_mode == "crop_camera":
        k_inv = np.linalg.inv(k_img) @ t_form  # broadcasts over the batch
    else:
        k_inv = np.broadcast_to(NVIDIA_CROP_K_INV, (n, 3, 3))
    return CropBatch(
        input0=input0,
        t_form_inv=t_form.astype(np.float32),
        k_inv=np.ascontiguousarray(k_inv, dtype=np.float32),
        scale_normalized_mean_limb_lengths=np.tile(SCALE_NORMALIZED_MEAN_LIMB_LENGTHS, (n, 1)),
        mean_limb_lengths=np.tile(MEAN_LIMB_LENGTHS_MM, (n, 1)),
        crops=crops,
    )
