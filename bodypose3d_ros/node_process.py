"""bodypose3d_node in its own process, as `ros2 run` starts it: for the demo, benchmarks and tests.

Its log is drained as it comes (a chatty node never blocks on a full pipe) and kept for error
messages; stopping sends SIGINT, like Ctrl-C, so the node shuts down cleanly. A command prefix
(``strace -f -o FILE``) runs the node under a tracer: the two then get a process group of their
own, and signals go to the group, since a tracer ignores SIGINT and passes it on to no one.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence


class NodeProcess:
    """``python -m bodypose3d_ros.node`` with the given parameters and remappings."""

    def __init__(
        self,
        parameters: Mapping[str, object] | None = None,
        remaps: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        keep_log_lines: int = 500,
        command_prefix: Sequence[str] = (),
    ) -> None:
        args = [*command_prefix, sys.executable, "-m", "bodypose3d_ros.node", "--ros-args"]
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
            start_new_session=bool(command_prefix),
        )
        self._own_group = bool(command_prefix)
        self._log: collections.deque[str] = collections.deque(maxlen=keep_log_lines)
        stderr = self.process.stderr
        assert stderr is not None
        threading.Thread(
            target=lambda: self._log.extend(iter(stderr.readline, "")), daemon=True
        ).start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def send_signal(self, sig: int) -> None:
        """``sig`` to the node (and to its tracer's group, when it runs under a prefix)."""
        if self._own_group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)

    def running(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        """The last lines the node logged."""
        return "".join(list(self._log))

    def stop(self, timeout_s: float = 15.0) -> str:
        """SIGINT, wait up to ``timeout_s``, then kill; returns the node's log."""
        if self.process.poll() is None:
            self.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.send_signal(signal.SIGKILL)
                self.process.wait()
        return self.log()
