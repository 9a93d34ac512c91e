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
    """A composed frame and where each pasted person is, in pixels: the rectangle pasted
    (:meth:`SmallPeopleComposer.frame`) or the person's own box, head to feet
    (:meth:`SmallPeopleComposer.crowd`, whose pasted rectangles may overlap)."""

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

    def crowd(
        self, width: int, height: int, rows: int, per_row: int, heights: tuple[int, int], seed: int
    ) -> SmallPeopleFrame:
        """``rows`` x ``per_row`` upright people standing in rows, as a crowd seen from eye level.

        People grow from ``heights[0]`` px (back row, top) to ``heights[1]`` px (front row,
        bottom); every other row stands in the gaps of the row behind, so no one's own box
        overlaps another's, while their pasted rectangles may (each is blended in from its
        person's box to its edge, so a rectangle never covers a neighbour with background).
        Raises ValueError when they do not fit. ``seed`` picks who stands where.
        """
        rng = np.random.default_rng(seed)
        image = self.background(width, height).astype(np.float32)
        slot = width / per_row
        margin = max(2, round(0.01 * height))
        grow = np.linspace(*heights, rows) if rows > 1 else np.array([float(heights[1])])
        feet = (
            np.linspace(margin + grow[0], height - margin, rows) if rows > 1 else [height - margin]
        )
        boxes: list[Box] = []
        for row in range(rows):
            person_height = round(float(grow[row]))
            for k in range(per_row):
                cut = self.people[int(rng.integers(len(self.people)))]
                scale = person_height / (cut.shape[0] / (1 + 2 * CUT_MARGIN))
                w, h = max(1, round(cut.shape[1] * scale)), max(1, round(cut.shape[0] * scale))
                body_w, pad_x, pad_y = (
                    w / (1 + 2 * CUT_MARGIN),
                    w * CUT_MARGIN / (1 + 2 * CUT_MARGIN),
                    h * CUT_MARGIN / (1 + 2 * CUT_MARGIN),
                )
                centre = (k + (0.75 if row % 2 else 0.25)) * slot
                body = Box(
                    centre - body_w / 2,
                    float(feet[row]) - person_height,
                    body_w,
                    float(person_height),
                )
                if body.x < 0 or body.x + body.width > width or body.y < 0:
                    raise ValueError(f"a {person_height} px person does not fit {width}x{height}")
                if any(_overlap(body, other) for other in boxes):
                    raise ValueError(
                        f"{rows} x {per_row} people of {heights} px overlap in {width}x{height}"
                    )
                boxes.append(body)
                _blend(
                    image,
                    cv2.resize(cut, (w, h), interpolation=cv2.INTER_AREA),
                    round(body.x - pad_x),
                    round(body.y - pad_y),
                    pad_x,
                    pad_y,
                )
        return SmallPeopleFrame(np.clip(image, 0, 255).astype(np.uint8), tuple(boxes))


def _overlap(a: Box, b: Box) -> bool:
    return (
        a.x < b.x + b.width
        and b.x < a.x + a.width
        and a.y < b.y + b.height
        and b.y < a.y + a.height
    )


def _blend(
    image: np.ndarray, patch: np.ndarray, x: int, y: int, pad_x: float, pad_y: float
) -> None:
    """Paste ``patch`` at (x, y): fully inside its person's box, fading out across the margin."""
    h, w = patch.shape[:2]
    ramp_x = np.clip(np.minimum(np.arange(w) + 0.5, w - np.arange(w) - 0.5) / max(pad_x, 1.0), 0, 1)
    ramp_y = np.clip(np.minimum(np.arange(h) + 0.5, h - np.arange(h) - 0.5) / max(pad_y, 1.0), 0, 1)
    alpha = np.minimum(ramp_y[:, None], ramp_x[None, :])[..., None]
    y0, x0 = max(0, y), max(0, x)
    y1, x1 = min(image.shape[0], y + h), min(image.shape[1], x + w)
    sub = alpha[y0 - y : y1 - y, x0 - x : x1 - x]
    image[y0:y1, x0:x1] = (
        sub * patch[y0 - y : y1 - y, x0 - x : x1 - x] + (1 - sub) * image[y0:y1, x0:x1]
    )


def hits(people: tuple[Box, ...], boxes: list[Box]) -> list[int]:
    """For each person, how many detector boxes are centred inside their box (1: found once)."""
    return [
        sum(
            1 for b in boxes
            if p.x <= b.center[0] <= p.x + p.width and p.y <= b.center[1] <= p.y + p.height
        )
        for p in people
    ]  # fmt: skip


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
