"""Frames of small, far-away people built from real photos, with known person rectangles.

No photo here shows many small people, so frames are composed from real people: each person
(outlined by hand in the photos the environment setup fetches) is cut out with a little of their
background, scaled to a chosen height and pasted at a known place on a real pavement texture.
Tests and ``bench/detector_sizes.py`` check which of them a detector finds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import cv2
import numpy as np

from bodypose3d_ros.core.types import Box

# Full-body people, boxes outlined by hand on a pixel grid (head to feet, arms included):
# bus.jpg (810x1080): the man in the beige coat and the man in the black coat;
# person.jpg (640x424): the person standing with the back to the camera.
PEOPLE: Final[tuple[tuple[str, Box], ...]] = (
    ("bus.jpg", Box(45.0, 395.0, 200.0, 510.0)),
    ("bus.jpg", Box(215.0, 400.0, 135.0, 465.0)),
    ("person.jpg", Box(185.0, 95.0, 95.0, 285.0)),
)
# bus.jpg's pavement, below everyone's feet: a real street texture with nobody on it.
PAVEMENT: Final = ("bus.jpg", Box(0.0, 910.0, 810.0, 170.0))
CUT_MARGIN: Final = 0.08  # background kept around each person, fraction of their box


@dataclass(frozen=True)
class SmallPeopleFrame:
    """A composed frame and where each pasted person is (the rectangle pasted, in pixels)."""

    image: np.ndarray
    people: tuple[Box, ...]


def _cut(photo: np.ndarray, box: Box, margin: float) -> np.ndarray:
    x0 = max(0, round(box.x - margin * box.width))
    y0 = max(0, round(box.y - margin * box.height))
    x1 = min(photo.shape[1], round(box.x + (1 + margin) * box.width))
    y1 = min(photo.shape[0], round(box.y + (1 + margin) * box.height))
    return photo[y0:y1, x0:x1]


PHOTO_NAMES: Final = ("bus.jpg", "person.jpg")


class SmallPeopleComposer:
    """Builds frames of ``count`` people of a given height from the photos (PHOTO_NAMES)."""

    def __init__(self, photo_paths: Mapping[str, Path]) -> None:
        photos: dict[str, np.ndarray] = {}
        for name in PHOTO_NAMES:
            image = cv2.imread(str(photo_paths[name]))
            if image is None:
                raise FileNotFoundError(f"{photo_paths[name]} missing (tools/setup-env fetches it)")
            photos[name] = image
        cuts = [_cut(photos[name], box, CUT_MARGIN) for name, box in PEOPLE]
        # Mirrored copies double the variety: a person seen from the other side.
        self.people = cuts + [np.ascontiguousarray(c[:, ::-1]) for c in cuts]
        self.pavement = _cut(photos[PAVEMENT[0]], PAVEMENT[1], 0.0)

    @staticmethod
    def from_folder(folder: Path) -> SmallPeopleComposer:
        """The composer for a folder holding PHOTO_NAMES (the setup's ``.cache/data``)."""
        return SmallPeopleComposer({name: folder / name for name in PHOTO_NAMES})

    def background(self, width: int, height: int) -> np.ndarray:
        """The pavement tiled to ``width`` x ``height``, mirrored at every seam (no hard edges)."""
        tile = np.concatenate((self.pavement, self.pavement[::-1]), axis=0)
        tile = np.concatenate((tile, tile[:, ::-1]), axis=1)
        reps = (-(-height // tile.shape[0]), -(-width // tile.shape[1]), 1)
        return np.ascontiguousarray(np.tile(tile, reps)[:height, :width])

    def frame(
        self, width: int, height: int, person_height: int, count: int, seed: int
    ) -> SmallPeopleFrame:
        """``count`` people ``person_height`` px tall (head to feet) at non-overlapping places.

        Places are a jittered grid, so people are spread over the whole frame, away from the
        border; ``seed`` picks the jitter and which person stands where.
        """
        rng = np.random.default_rng(seed)
        image = self.background(width, height)
        columns = int(np.ceil(np.sqrt(count * width / height)))
        rows = int(np.ceil(count / columns))
        cells = rng.permutation(rows * columns)[:count]
        cell_w, cell_h = width / columns, height / rows
        pasted: list[Box] = []
        for i, cell in enumerate(cells):
            cut = self.people[(seed + i) % len(self.people)]
            scale = person_height / (cut.shape[0] / (1 + 2 * CUT_MARGIN))
            w, h = max(1, round(cut.shape[1] * scale)), max(1, round(cut.shape[0] * scale))
            if w > cell_w or h > cell_h:
                raise ValueError(f"{count} people of {person_height} px overflow {width}x{height}")
            row, col = divmod(int(cell), columns)
            x = round(col * cell_w + rng.uniform(0, cell_w - w))
            y = round(row * cell_h + rng.uniform(0, cell_h - h))
            image[y : y + h, x : x + w] = cv2.resize(cut, (w, h), interpolation=cv2.INTER_AREA)
            pasted.append(Box(float(x), float(y), float(w), float(h)))
        return SmallPeopleFrame(image, tuple(pasted))


def found(people: tuple[Box, ...], boxes: list[Box]) -> list[bool]:
    """For each person, whether one detector box (each used once) is centred on them."""
    unused = list(boxes)
    result = []
    for person in people:
        hit = next(
            (
                b for b in unused
                if person.x <= b.center[0] <= person.x + person.width
                and person.y <= b.center[1] <= person.y + person.height
            ),
            None,
        )  # fmt: skip
        if hit is not None:
            unused.remove(hit)
        result.append(hit is not None)
    return result
