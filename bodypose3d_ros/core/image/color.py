"""Image colour conversion for the embedded models, which all want contiguous 8-bit RGB."""

from __future__ import annotations

import cv2
import numpy as np


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Contiguous 8-bit RGB from a BGR, BGRA or grey 8-bit image; anything else is a ValueError."""
    if image.dtype != np.uint8:
        raise ValueError(f"expected an 8-bit image, got dtype {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    raise ValueError(f"expected a BGR, BGRA or grey image, got shape {image.shape}")
