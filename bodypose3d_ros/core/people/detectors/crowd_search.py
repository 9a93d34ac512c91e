"""Finding more people than one detector call can return: looking again with the found masked.

A detector such as MoveNet MultiPose returns at most a fixed number of people per call (6). When
a whole-image pass comes back full, there may be more people: the image is split into two tiles
along its long side, overlapping by a little more than the widest person found (so everyone is
whole in at least one tile), and each tile is looked at again, at about 5/8 of the first pass's
scale, with every person found so far painted over. A tile is looked at again while its last
pass came back full and found someone new, at most ``max_passes_per_tile`` times: each pass
finds up to the per-call maximum of new people, so the cost grows with the crowd and is bounded.

Measured (``bench/crowd.py``, 1920x1080 frames of 8 to 30 upright people 300-500 px tall): a
tile pass costs about a quarter to a third of the whole-image pass, so 30 people take 6 to 7
calls. Masked passes over the whole image at the first pass's scale cost a full pass per 6
people (6 passes for 30); tiles without masking cannot hold fewer than 6 people each in such a
crowd without many more of them (the overlap a whole person needs puts everyone near an edge in
two tiles).

A person whose box touches a tile's inner edge may be cut by it: they are not painted over (the
other tile sees them whole), and a later, uncut view of them replaces the cut one. Two views of
one person are told apart by the detector's own duplicate check (``same_person``), the one it
uses within a single pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

import cv2
import numpy as np

from bodypose3d_ros.core.people.detection import Detection
from bodypose3d_ros.core.types import Box

# A box edge this close to a tile's inner edge (fraction of the tile's side) counts as cut: a
# cut person's box often ends a little short of the edge.
_CUT_TOLERANCE: Final = 0.04
# The tiles overlap by this many times the widest (or, split vertically, tallest) person found.
_OVERLAP_FACTOR: Final = 1.25
# ... and by at least this share of the image's long side.
_MIN_OVERLAP: Final = 0.1


class Pass(NamedTuple):
    """One detector call: the people it kept (image pixels) and whether it came back full."""

    people: list[Detection]
    full: bool


# One call on an image at a long side of ``input_size`` px.
OnePass = Callable[[np.ndarray, int], Pass]
SamePerson = Callable[[Detection, Detection], bool]


@dataclass(frozen=True)
class CrowdSearchParams:
    """How hard to look again after a full pass.

    ``scale``: the later passes' scale relative to the first pass's (5/8: people the first pass
    sees at 80 px are seen at 50 px, still well found; measured by ``bench/crowd.py``).
    ``max_passes_per_tile``: at most this many passes per tile (2 tiles: the search costs at
    most 2 x this many calls, each about a quarter to a third of the first pass on a 16:9 image,
    and finds at most 6 people a call).
    """

    scale: float = 0.625
    max_passes_per_tile: int = 4

    def __post_init__(self) -> None:
        if not 0.0 < self.scale <= 1.0 or self.max_passes_per_tile < 0:
            raise ValueError("crowd search scale must be in (0, 1], max_passes_per_tile >= 0")


@dataclass
class _Found:
    detection: Detection
    cut: bool  # touches the inner edge of the tile it was found in


def search_crowd(
    image: np.ndarray,
    first: Sequence[Detection],
    first_size: int,
    one_pass: OnePass,
    same_person: SamePerson,
    params: CrowdSearchParams,
    stride: int = 32,
) -> list[Detection]:
    """Everyone in ``image`` (H x W x 3): ``first`` (a full pass at a long side of
    ``first_size``) and the people found by looking again in two tiles with the found painted
    over, best score first.

    The image is scaled once, to ``params.scale`` x the first pass's scale or a little more: as
    far as the network input the tiles are padded to (sides in multiples of ``stride``) allows,
    as that costs nothing; the tiles are cut from that smaller copy and passed at their own size.
    """
    if params.max_passes_per_tile == 0 or not first:
        return list(first)
    height, width = image.shape[:2]
    scale = _padding_filled(params.scale * first_size / max(width, height), width, height,
                            first, stride)  # fmt: skip
    small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    work = cv2.resize(image, small_size, interpolation=cv2.INTER_AREA)
    fill = work.reshape(-1, work.shape[2]).mean(axis=0).astype(work.dtype)
    found = [_Found(d, False) for d in first]
    for item in found:
        _paint(work, item.detection.box, scale, fill)
    for x0, y0, x1, y1 in _tiles(small_size[0], small_size[1], first, scale):
        for _ in range(params.max_passes_per_tile):
            tile = work[y0:y1, x0:x1]
            result = one_pass(tile, max(tile.shape[:2]))
            new = 0
            for person in result.people:
                cut = _is_cut(person.box, (x0, y0, x1, y1), *small_size, (x0, y0))
                moved = _to_image(person, x0, y0, scale)
                if _merge(found, _Found(moved, cut), same_person):
                    new += 1
                    if not cut:
                        _paint(work, moved.box, scale, fill)
            if not result.full or new == 0:
                break
    return sorted((item.detection for item in found), key=lambda d: -d.score)


def _padding_filled(
    scale: float, width: int, height: int, first: Sequence[Detection], stride: int
) -> float:
    """The largest scale >= ``scale`` (at most 1) whose tiles pad to the same network input."""
    x0, y0, x1, y1 = _tiles(width, height, first, 1.0)[0]
    sides = np.array([x1 - x0, y1 - y0], dtype=np.float64)
    padded = stride * np.ceil(sides * scale / stride)
    # A pixel to spare on each side: the tiles are cut in whole pixels of the scaled image.
    return float(min(1.0, max(scale, np.min((padded - 1.0) / sides))))


def _tiles(
    width: int, height: int, first: Sequence[Detection], scale: float
) -> list[tuple[int, int, int, int]]:
    """Two tiles splitting the (scaled) image along its long side, overlapping by more than the
    widest (or tallest) person found along that side."""
    along_x = width >= height
    long_side = width if along_x else height
    extent = scale * max((d.box.width if along_x else d.box.height) for d in first)
    overlap = max(_OVERLAP_FACTOR * extent, _MIN_OVERLAP * long_side)
    half = min(long_side, math.ceil((long_side + overlap) / 2))
    spans = [(0, half), (long_side - half, long_side)]
    if along_x:
        return [(a, 0, b, height) for a, b in spans]
    return [(0, a, width, b) for a, b in spans]


def _to_image(person: Detection, dx: int, dy: int, scale: float) -> Detection:
    """A detection in a tile of the scaled image, in the image's own pixels."""
    box = person.box
    moved = Box((box.x + dx) / scale, (box.y + dy) / scale, box.width / scale, box.height / scale)
    keypoints = person.keypoints
    if keypoints is not None:
        keypoints = keypoints.copy()
        keypoints[:, 0] = (keypoints[:, 0] + dx) / scale
        keypoints[:, 1] = (keypoints[:, 1] + dy) / scale
    return Detection(moved, person.score, keypoints)


def _is_cut(
    box: Box, tile: tuple[int, int, int, int], width: int, height: int, origin: tuple[int, int]
) -> bool:
    """Whether ``box`` (in tile pixels) reaches an edge of ``tile`` that lies inside the
    ``width`` x ``height`` image."""
    x0, y0, x1, y1 = tile
    tx, ty = _CUT_TOLERANCE * (x1 - x0), _CUT_TOLERANCE * (y1 - y0)
    left, top = box.x + origin[0], box.y + origin[1]
    return (
        (x0 > 0 and left <= x0 + tx)
        or (x1 < width and left + box.width >= x1 - tx)
        or (y0 > 0 and top <= y0 + ty)
        or (y1 < height and top + box.height >= y1 - ty)
    )


def _merge(found: list[_Found], new: _Found, same_person: SamePerson) -> bool:
    """Add ``new`` unless it is someone already found; an uncut view replaces a cut one.
    Returns whether it was added or replaced a view."""
    box = new.detection.box
    for i, item in enumerate(found):
        other = item.detection.box
        if not (
            box.x <= other.x + other.width
            and other.x <= box.x + box.width
            and box.y <= other.y + other.height
            and other.y <= box.y + box.height
        ):
            continue  # apart: two people (the check below needs shared keypoints in one place)
        if same_person(new.detection, item.detection):
            if item.cut and not new.cut:
                found[i] = new
                return True
            return False
    found.append(new)
    return True


def _paint(image: np.ndarray, box: Box, scale: float, fill: np.ndarray) -> None:
    """Paint ``box`` (image pixels) over in the scaled ``image`` with ``fill`` (its mean
    colour): nobody is seen there any more."""
    height, width = image.shape[:2]
    x0, y0 = max(0, math.floor(box.x * scale)), max(0, math.floor(box.y * scale))
    x1 = min(width, math.ceil((box.x + box.width) * scale))
    y1 = min(height, math.ceil((box.y + box.height) * scale))
    if x1 > x0 and y1 > y0:
        image[y0:y1, x0:x1] = fill
