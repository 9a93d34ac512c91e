"""A clip's overlays kept as a video and a contact sheet (the offline CLI's pictures of a clip).

The sheet shows ``SHEET_FRAMES`` frames spread over the clip when its length is known, else the
first ones; the video is written where OpenCV has an MPEG-4 encoder (the sheet always is).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import cv2
import numpy as np

from bodypose3d_ros.core.output.drawing import contact_sheet

SHEET_FRAMES: Final = 12
SHEET_COLUMNS: Final = 4
SHEET_THUMB_WIDTH: Final = 320


def sheet_indices(count: int) -> set[int]:
    """Frames for the contact sheet, spread over the clip (empty when the length is unknown)."""
    if count <= 0:
        return set()
    return {int(i) for i in np.linspace(0, count - 1, min(count, SHEET_FRAMES)).round()}


def thumbnail(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    if width <= SHEET_THUMB_WIDTH:
        return image
    size = (SHEET_THUMB_WIDTH, max(1, round(height * SHEET_THUMB_WIDTH / width)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def open_video_writer(path: Path, fps: float, width: int, height: int) -> cv2.VideoWriter | None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    if writer.isOpened():
        return writer
    writer.release()
    return None


class OverlayRecording:
    """Overlays in, ``video_path`` and ``sheet_path`` out; frames are counted from 0."""

    def __init__(
        self, video_path: Path, sheet_path: Path, fps: float, width: int, height: int, count: int
    ) -> None:
        self.video_path = video_path
        self.sheet_path = sheet_path
        self._size = (width, height)
        self._writer = open_video_writer(video_path, fps, width, height)
        self.has_video = self._writer is not None
        self._picks = sheet_indices(count)
        self._thumbs: list[np.ndarray] = []
        self._added = 0

    def add(self, overlay: np.ndarray, index: int | None = None) -> None:
        """The next frame's overlay (``index``: its place in the clip, when frames were
        skipped); one of another size is scaled to the video's."""
        index = self._added if index is None else index
        self._added += 1
        if self._writer is not None:
            if overlay.shape[1::-1] != self._size:
                overlay = cv2.resize(overlay, self._size, interpolation=cv2.INTER_AREA)
            self._writer.write(overlay)
        if index in self._picks or (not self._picks and len(self._thumbs) < SHEET_FRAMES):
            self._thumbs.append(thumbnail(overlay))

    def finish(self) -> bool:
        """Close the video and write the sheet; False if the sheet cannot be written."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if not self._thumbs:
            return True
        return bool(cv2.imwrite(str(self.sheet_path), contact_sheet(self._thumbs, SHEET_COLUMNS)))
