"""Pictures of the results: a 2D overlay on the image, a 3D plot, and a contact sheet of frames.

Colours come from ``skeleton.SIDE_COLORS`` so the overlay, the 3D plot and the RViz markers agree
on which side is which. A person published from the detector's keypoints is drawn in one grey,
labelled "det", as RViz draws them apart. matplotlib is imported only inside :func:`plot_3d`,
so the node and the overlay do not pay for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from bodypose3d_ros.core import skeleton
from bodypose3d_ros.core.types import KEYPOINT_SOURCE_DETECTOR, Person3D

_SIDES: Final = ("left", "right", "center")
# Drawn bones grouped by side, as (n, 2) index arrays, so each side is one vectorised draw call.
_BONES_BY_SIDE: Final[dict[str, npt.NDArray[np.intp]]] = {
    side: np.array(
        [bone for bone in skeleton.DRAWN_BONES if skeleton.bone_side(bone) == side], dtype=np.intp
    ).reshape(-1, 2)
    for side in _SIDES
}
_SIDE_JOINTS: Final[dict[str, npt.NDArray[np.bool_]]] = {
    side: np.array([s == side for s in skeleton.KEYPOINT_SIDES]) for side in _SIDES
}
ROI_COLOR_BGR: Final = (255, 255, 255)
LABEL_TEXT_BGR: Final = (0, 0, 0)
DETECTOR_BGR: Final = (179, 179, 179)  # the markers' grey for detector-keypoint people


def side_color_bgr(side: str) -> tuple[int, int, int]:
    """A side's colour as an 8-bit BGR tuple for OpenCV."""
    r, g, b = skeleton.SIDE_COLORS[side]
    return (round(b * 255), round(g * 255), round(r * 255))


def draw_overlay(
    image_bgr: np.ndarray, people: Sequence[Person3D], min_confidence: float = 0.3
) -> np.ndarray:
    """A copy of the image with each person's skeleton, ROI box and id drawn on it.

    Bones are drawn only when both ends reach ``min_confidence``, joints only when they do.
    """
    canvas: np.ndarray = np.array(image_bgr, copy=True, order="C")
    if canvas.ndim == 2:
        canvas = cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR)
    height, width = canvas.shape[:2]
    thickness = max(1, round(min(height, width) / 240))
    for person in people:
        _draw_roi(canvas, person, thickness)
        ok = np.asarray(person.confidence) >= min_confidence
        ok &= np.all(np.isfinite(person.uv), axis=1)
        pts = np.round(np.asarray(person.uv)).astype(np.int32)
        from_detector = person.keypoint_source == KEYPOINT_SOURCE_DETECTOR
        for side in _SIDES:
            bones = _BONES_BY_SIDE[side]
            bones = bones[ok[bones[:, 0]] & ok[bones[:, 1]]]
            color = DETECTOR_BGR if from_detector else side_color_bgr(side)
            if len(bones):
                cv2.polylines(canvas, list(pts[bones]), False, color, thickness, cv2.LINE_AA)
            for x, y in pts[ok & _SIDE_JOINTS[side]]:
                cv2.circle(canvas, (int(x), int(y)), thickness + 1, color, -1, cv2.LINE_AA)
    return canvas


def _draw_roi(canvas: np.ndarray, person: Person3D, thickness: int) -> None:
    """The person's box and an 'id score' label on a filled tab above it."""
    box = person.box
    x0, y0 = round(box.x), round(box.y)
    x1, y1 = round(box.x + box.width), round(box.y + box.height)
    cv2.rectangle(canvas, (x0, y0), (x1, y1), ROI_COLOR_BGR, thickness)
    label = f"{person.id} {person.score:.2f}"
    if person.keypoint_source == KEYPOINT_SOURCE_DETECTOR:
        label += " det"
    scale, weight = 0.3 * thickness + 0.1, max(1, thickness - 1)
    (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, weight)
    ty = max(y0, th + base)  # keep the tab inside the image when the box touches the top
    cv2.rectangle(canvas, (x0, ty - th - base), (x0 + tw, ty), ROI_COLOR_BGR, -1)
    cv2.putText(
        canvas, label, (x0, ty - base), cv2.FONT_HERSHEY_SIMPLEX, scale, LABEL_TEXT_BGR,
        weight, cv2.LINE_AA,
    )  # fmt: skip


def plot_3d(
    people: Sequence[Person3D], path: str, min_confidence: float = 0.3, title: str | None = None
) -> None:
    """Save a 3D plot of the skeletons in the camera optical frame, drawn upright.

    Plot axes: x (right) and z (forward, away from the camera) on the ground, -y (up) vertical,
    all in metres with equal scale so limb proportions are true.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 6.4), dpi=100)
    FigureCanvasAgg(fig)  # the Agg canvas, without touching pyplot's global backend
    ax: Any = fig.add_subplot(projection="3d")  # an Axes3D
    shown: list[npt.NDArray[np.float64]] = []
    for person in people:
        xyz = np.asarray(person.xyz, dtype=np.float64)
        ok = (np.asarray(person.confidence) >= min_confidence) & np.all(np.isfinite(xyz), axis=1)
        plot_pts = np.column_stack((xyz[:, 0], xyz[:, 2], -xyz[:, 1]))  # (x, z, -y)
        for side in _SIDES:
            color = skeleton.SIDE_COLORS[side]
            bones = _BONES_BY_SIDE[side]
            for a, b in bones[ok[bones[:, 0]] & ok[bones[:, 1]]]:
                seg = plot_pts[[a, b]]
                ax.plot(seg[:, 0], seg[:, 1], seg[:, 2], color=color, linewidth=2)
            joints = plot_pts[ok & _SIDE_JOINTS[side]]
            ax.scatter(joints[:, 0], joints[:, 1], joints[:, 2], color=color, s=8)
        if ok.any():
            shown.append(plot_pts[ok])
            top = plot_pts[ok][np.argmax(plot_pts[ok][:, 2])]
            ax.text(top[0], top[1], top[2] + 0.1, person.id)
    _set_equal_axes(ax, np.concatenate(shown) if shown else np.zeros((0, 3)))
    ax.set_xlabel("x right (m)")
    ax.set_ylabel("z forward (m)")
    ax.set_zlabel("-y up (m)")
    ax.view_init(elev=15.0, azim=-70.0)  # from behind and a little beside the camera
    ax.set_title(title if title is not None else f"{len(people)} person(s), camera frame")
    fig.savefig(path)


def _set_equal_axes(ax: Any, pts: npt.NDArray[np.float64]) -> None:
    """Same metres per unit on all three axes, framed on the points (a unit cube if none)."""
    if len(pts) == 0:
        centre, half = np.array([0.0, 2.0, 0.0]), 1.0
    else:
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        centre, half = (lo + hi) / 2.0, max(float((hi - lo).max()) / 2.0, 0.25) * 1.1
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_zlim(centre[2] - half, centre[2] + half)
    ax.set_box_aspect((1.0, 1.0, 1.0))
    ax.locator_params(nbins=5)  # readable tick labels on the small axes


def contact_sheet(images: Sequence[np.ndarray], columns: int) -> np.ndarray:
    """Tile images row by row into one picture (all scaled to the first one's size).

    Empty cells of the last row stay black.
    """
    if not images:
        raise ValueError("contact_sheet needs at least one image")
    if columns < 1:
        raise ValueError(f"columns must be >= 1, got {columns}")
    first = images[0]
    height, width = first.shape[:2]
    columns = min(columns, len(images))
    rows = math.ceil(len(images) / columns)
    sheet = np.zeros((rows * height, columns * width, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if image.shape[:2] != (height, width):
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        r, c = divmod(i, columns)
        sheet[r * height : (r + 1) * height, c * width : (c + 1) * width] = image[:, :, :3]
    return sheet
