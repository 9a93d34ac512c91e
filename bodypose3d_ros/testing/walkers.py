"""Multi-person sequences from real photos: people cut out of a photo, pasted onto a background.

A TEST FIXTURE for tracking tests and benchmarks: real people (so a real detector and pose model
see real bodies) moved along known paths, so where each one is, and who is in front, is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Frame = npt.NDArray[np.uint8]
SIZE = (1280, 720)
TOP = 80  # px from the top edge where every cut-out is pasted
# bus.jpg (810x1080, ultralytics' assets): the two people seen in full (x0, y0, x1, y1 in px).
BUS_FULL_PEOPLE = {"left": (30.0, 370.0, 230.0, 920.0), "middle": (205.0, 380.0, 360.0, 880.0)}


@dataclass(frozen=True)
class Cutout:
    """A real person cut out of a photo, ready to paste at a given left edge."""

    pixels: Frame

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


def walkers(photo: Frame, height: int = 560) -> tuple[Cutout, Cutout, Frame]:
    """bus.jpg's two full people as cut-outs ``height`` px tall, and the photo blurred to
    1280x720 as a background no detector finds people in."""
    cutouts = []
    for x0, y0, x1, y1 in BUS_FULL_PEOPLE.values():
        cut = photo[int(y0) : int(y1), int(x0) : int(x1)]
        scale = height / cut.shape[0]
        cutouts.append(Cutout(np.ascontiguousarray(cv2.resize(cut, None, fx=scale, fy=scale))))
    background = cv2.GaussianBlur(cv2.resize(photo, SIZE), (0, 0), 30)
    return cutouts[0], cutouts[1], np.ascontiguousarray(background, dtype=np.uint8)


def scene(background: Frame, placed: Sequence[tuple[Cutout, float]]) -> Frame:
    """Paste each cut-out with its left edge at x; later ones are in front of earlier ones."""
    frame: Frame = background.copy()
    for cutout, x in placed:
        x0 = round(x)
        left, right = max(0, x0), min(frame.shape[1], x0 + cutout.width)
        if right > left:
            rows = slice(TOP, TOP + cutout.pixels.shape[0])
            frame[rows, left:right] = cutout.pixels[:, left - x0 : right - x0]
    return frame


def owner(uv: npt.NDArray[np.float64], places: dict[str, tuple[Cutout, float]]) -> str | None:
    """Which pasted person the keypoints ``uv`` (N, 2) lie on (their median x), if any."""
    if len(uv) == 0:
        return None
    x = float(np.median(uv[:, 0]))
    for name, (cutout, left) in places.items():
        if left <= x <= left + cutout.width:
            return name
    return None
