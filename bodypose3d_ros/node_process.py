"""bodypose3d_node in its own process, as `ros2 run` starts it: for the demo, benchmarks and tests.

Its log is drained as it comes (a chatty node never blocks on a full pipe) and kept for error
messages; stopping sends SIGINT, like Ctrl-C, so the node shuts down cleanly.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping


class NodeProcess:
    """``python -m bodypose3d_ros.node`` with the given parameters and remappings."""

    def __init__(
        self,
        parameters: Mapping[str, object] | None = None,
        remaps: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        keep_log_lines: int = 500,
    ) -> None:
        args = [sys.executable, "-m", "bodypose3d_ros.node", "--ros-args"]
        for name, value in (parameters or {}).items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            args += ["-p", f"{name}:={text}"]
        for name, target in (remaps or {}).items():
            args += ["-r", f"{name}:={target}"]
        self.process = subprocess.Popen(
            args,
            env=dict(env if env is not None else os.environ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._log: collections.deque[str] = collections.deque(maxlen=keep_log_lines)
        stderr = self.process.stderr
        assert stderr is not None
        threading.Thread(
            target=lambda: self._log.extend(iter(stderr.readline, "")), daemon=True
        ).start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        """The last lines the node logged."""
        return "".join(list(self._log))

    def stop(self, timeout_s: float = 15.0) -> str:
        """SIGINT, wait up to ``timeout_s``, then kill; returns the node's log."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.log()
