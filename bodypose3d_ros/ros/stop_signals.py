"""Ctrl-C and SIGTERM as a request to stop, handled where the node can still clean up.

rclpy's own handlers shut the ROS context down inside the signal: a frame in flight then fails
with "publisher's context is invalid", nothing can be published any more (no DELETEALL for the
RViz skeletons), and a SIGTERM during configure ends in an ``RCLError`` traceback and exit 1.
Instead, the first SIGINT/SIGTERM only sets a flag that the main loop checks between steps, so
the node stops in order: last frame finished, markers cleared, then the context shut down. A
second signal interrupts at once (``KeyboardInterrupt``), for a node stuck in a long call.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


class StopRequest:
    """Installs SIGINT and SIGTERM handlers (main thread only); ``requested`` once one came."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal_name = ""
        for signum in self.SIGNALS:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._event.is_set():
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()
