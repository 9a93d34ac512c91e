"""The camera's intrinsics for each image: the newest CameraInfo, checked, cached, explained.

Intrinsics rarely change, so the node keeps the newest CameraInfo instead of pairing each image
with one by stamp (pairing fails on rate or QoS mismatches, a common complaint). The result is
cached per (CameraInfo, image size): a stream of frames costs one conversion, not one per frame.
What is in use (source, distortion model) and what was wrong with the input is kept for
diagnostics; each problem is logged once or throttled, never per frame.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sensor_msgs.msg import CameraInfo

from bodypose3d_ros.core.camera.intrinsics import Intrinsics, IntrinsicsError, default_intrinsics
from bodypose3d_ros.ros.conversions import camera_info_to_intrinsics

LOG_THROTTLE_S = 5.0
# A stream of ever-new distortion model names must not grow memory: at most this many are kept.
MAX_DISTORTION_WARNINGS = 32


class IntrinsicsSource:
    """Turns the newest CameraInfo into :class:`Intrinsics` for an image of a given size."""

    def __init__(
        self, logger: Any, topic: Callable[[], str], report_error: Callable[[str], None]
    ) -> None:
        """``topic`` names the (resolved) CameraInfo topic for messages; ``report_error``
        records a problem as the node's last error (the frame itself is still served)."""
        self._logger = logger
        self._topic = topic
        self._report_error = report_error
        self._lock = threading.Lock()
        self.latest: CameraInfo | None = None
        self.source = "none yet"
        self.distortion = "none"
        self._distortion_warnings: set[str] = set()
        self._rejected = 0
        self._last_bad: CameraInfo | None = None
        # The last result, with the CameraInfo (by identity, kept alive here) and image size.
        self._cache: tuple[CameraInfo | None, int, int, Intrinsics] | None = None

    def on_camera_info(self, msg: CameraInfo) -> None:
        """Keep the newest CameraInfo (called from the subscription)."""
        self.latest = msg

    @property
    def rejected(self) -> int:
        """CameraInfo messages that could not be used, each counted once."""
        with self._lock:
            return self._rejected

    @property
    def distortion_warnings(self) -> int:
        return len(self._distortion_warnings)

    def for_image(
        self, width: int, height: int, default_focal_ratio: float, use_rectified: bool
    ) -> Intrinsics:
        """Intrinsics for a ``width`` x ``height`` image; the default guess (said so) without a
        usable CameraInfo."""
        info = self.latest
        cache = self._cache
        if cache is not None and cache[0] is info and cache[1:3] == (width, height):
            return cache[3]
        intrinsics: Intrinsics
        if info is None:
            intrinsics = default_intrinsics(width, height, default_focal_ratio)
            self._logger.warning(
                f"no CameraInfo received on '{self._topic()}': using default intrinsics "
                f"f={intrinsics.fx:.1f}px (default_focal_ratio x width); metric depth will be off",
                throttle_duration_sec=LOG_THROTTLE_S,
            )
        else:
            try:
                intrinsics = camera_info_to_intrinsics(info, width, height, use_rectified)
            except IntrinsicsError as error:
                intrinsics = default_intrinsics(width, height, default_focal_ratio)
                self._bad_camera_info(info, f"bad CameraInfo ({error}); using default intrinsics")
        self._cache = (info, width, height, intrinsics)
        self.source = intrinsics.source
        self._note_distortion(intrinsics)
        return intrinsics

    def _note_distortion(self, intrinsics: Intrinsics) -> None:
        """Show the distortion in use in diagnostics; warn once about each one ignored."""
        warning = intrinsics.distortion_warning
        if warning:
            self.distortion = f"ignored: {warning}"
            if (
                warning not in self._distortion_warnings
                and len(self._distortion_warnings) < MAX_DISTORTION_WARNINGS
            ):
                self._distortion_warnings.add(warning)
                self._logger.warning(f"CameraInfo lens distortion ignored: {warning}")
        else:
            self.distortion = intrinsics.distortion.model if intrinsics.distortion else "none"

    def _bad_camera_info(self, info: CameraInfo, message: str) -> None:
        """Count a CameraInfo message that cannot be used once, however many frames it serves.

        The frame itself is processed (with default intrinsics), so it is not a rejected frame.
        """
        with self._lock:
            if info is not self._last_bad:
                self._last_bad = info
                self._rejected += 1
        self._report_error(message)
