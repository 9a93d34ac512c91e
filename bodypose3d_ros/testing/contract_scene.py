"""TEST FIXTURE: images the contract model (``contract_model``) can read, with known answers.

Each keypoint of a person becomes a small Gaussian blob, drawn inside that keypoint's window of
the person's crop and in the colour of the channel the fixture reads for it. A pipeline that crops,
normalises and maps back correctly finds every blob on the image pixel it was drawn at.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from bodypose3d_ros.core.models.bodypose3dnet_crop import CROP_HEIGHT, CROP_WIDTH, crop_box_for
from bodypose3d_ros.core.skeleton import NUM_KEYPOINTS
from bodypose3d_ros.core.types import Box
from bodypose3d_ros.testing.contract_model import keypoint_channel, keypoint_window

# Pure BGR colours that light input0 channel 0, 1, 2 under each normalisation.
BGR_UNIT_COLOURS: list[tuple[int, int, int]] = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
RGB_MEAN_COLOURS: list[tuple[int, int, int]] = [(0, 0, 255), (0, 255, 0), (255, 0, 0)]


def add_blob(
    image: npt.NDArray[np.uint8], u: float, v: float, sigma: float, colour: tuple[int, int, int]
) -> None:
    """A Gaussian blob centred on the sub-pixel point (u, v), max-combined into the image."""
    reach = int(np.ceil(4 * sigma))
    x0, x1 = max(int(u) - reach, 0), min(int(u) + reach + 2, image.shape[1])
    y0, y1 = max(int(v) - reach, 0), min(int(v) + reach + 2, image.shape[0])
    ys, xs = np.mgrid[y0:y1, x0:x1]
    blob = 255.0 * np.exp(-((xs - u) ** 2 + (ys - v) ** 2) / (2 * sigma**2))
    for channel, value in enumerate(colour):
        if value:
            patch = image[y0:y1, x0:x1, channel]
            np.maximum(patch, np.round(blob).astype(np.uint8), out=patch)


def draw_person(
    image: npt.NDArray[np.uint8],
    box: Box,
    rng: np.random.Generator,
    colours: list[tuple[int, int, int]] | None = None,
    sigma_crop: float = 2.0,
    margin_crop: int = 9,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """Draw one person's 34 blobs for the crop the pipeline will take of ``box``.

    Returns ``drawn`` (34,) — False where the blob would leave the image — and ``uv`` (34, 2),
    the image pixel of each blob's centre.
    """
    colours = colours or BGR_UNIT_COLOURS
    height, width = image.shape[:2]
    crop = crop_box_for(box)
    sx, sy = crop.width / CROP_WIDTH, crop.height / CROP_HEIGHT
    drawn = np.zeros(NUM_KEYPOINTS, bool)
    uv = np.zeros((NUM_KEYPOINTS, 2))
    for k in range(NUM_KEYPOINTS):
        x0, y0, x1, y1 = keypoint_window(k)
        x = rng.uniform(x0 + margin_crop, x1 - margin_crop)
        y = rng.uniform(y0 + margin_crop, y1 - margin_crop)
        u, v = crop.x + x * sx, crop.y + y * sy  # crop -> image: integer = pixel centre
        reach = 4 * sigma_crop * sx
        if not (reach <= u <= width - 1 - reach and reach <= v <= height - 1 - reach):
            continue
        add_blob(image, u, v, sigma_crop * sx, colours[keypoint_channel(k)])
        drawn[k] = True
        uv[k] = u, v
    return drawn, uv
