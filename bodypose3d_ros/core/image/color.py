"""Image colour conversion for the embedded models, which all want contiguous 8-bit RGB."""

from __future__ import annotations

import cv2
import numpy as np


def check_colour_image(image: np.ndarray) -> None:
    """ValueError unless ``image`` is an 8-bit BGR, BGRA or grey image (what :func:`to_rgb`
    takes): for models that cut their crops from the image first and convert only the crops."""
    if image.dtype != np.uint8:
        raise ValueError(f"expected an 8-bit image, got dtype {image.dtype}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
        raise ValueError(f"expected a BGR, BGRA or grey image, got shape {image.shape}")


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Contiguous 8-bit RGB from a BGR, BGRA or grey 8-bit image; anything else is a ValueError."""
    check_colour_image(image)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
