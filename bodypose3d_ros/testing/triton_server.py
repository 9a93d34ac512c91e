"""Start and stop a real Triton Inference Server on loopback for tests and benchmarks.

The server runs ``pytriton_serve.py`` in the separate Python 3.13 environment that
``tools/setup-triton-server-env`` builds (whatever Python runs the client), in its own process
group: stopping it kills the whole group, so the ``tritonserver`` child never outlives it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

SERVE_SCRIPT: Final = Path(__file__).with_name("pytriton_serve.py")
SETUP_SCRIPT: Final = Path(__file__).resolve().parents[2] / "tools" / "setup-triton-server-env"
NO_PYTHON_313: Final = 3  # setup script's exit status when no Python 3.13 exists
NOT_BUILT: Final = 4  # setup script's exit status for --check when the environment is not ready


class ServerEnvironmentMissingError(RuntimeError):
    """No Python 3.13 here, so no server environment can exist (tests skip, saying why)."""


def server_python(build: bool = True, timeout_s: float = 1800.0) -> Path:
    """The server environment's python, building the environment first if needed and ``build``.

    Raises ServerEnvironmentMissingError when this machine has no Python 3.13 (or, without
    ``build``, when the environment is not built yet), RuntimeError when the setup failed.
    """
    if not SETUP_SCRIPT.is_file():
        raise ServerEnvironmentMissingError(f"{SETUP_SCRIPT} not found (not a source tree)")
    command = [str(SETUP_SCRIPT)] + ([] if build else ["--check"])
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode in (NO_PYTHON_313, NOT_BUILT):
        raise ServerEnvironmentMissingError(done.stderr.strip().splitlines()[-1])
    if done.returncode != 0:
        raise RuntimeError(f"{SETUP_SCRIPT} failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TritonTestServer:
    """ONNX files served under model names; ``start``/``stop`` may repeat (same ports each time)."""

    def __init__(
        self,
        python: Path,
        models: Mapping[str, Path],
        workdir: Path,
        max_batch: int = 8,
        delay_s: float = 0.0,
        command_prefix: Sequence[str] = (),
        slow_rows: int = 0,
    ) -> None:
        """``delay_s`` delays the answers to batches of ``slow_rows`` rows or more (all: 0);
        ``command_prefix`` runs the server under another command (a tracer: strace -f)."""
        self.python = python
        self.command_prefix = list(command_prefix)
        self.delay_s = delay_s
        self.slow_rows = slow_rows
        self.models = dict(models)
        self.workdir = workdir
        self.max_batch = max_batch
        self.grpc_port, self.http_port, self.metrics_port = free_port(), free_port(), free_port()
        self.log_path = workdir / f"triton_{self.grpc_port}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._workspace: Path | None = None

    @property
    def url(self) -> str:
        return f"grpc://127.0.0.1:{self.grpc_port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 180.0) -> None:
        """Start the server; wait until every model is ready (RuntimeError with its log if not)."""
        if self.running:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        # pytriton puts Unix sockets in its workspace, and a socket path may not exceed 107
        # bytes: a short folder of its own, not one below the (long) pytest folders.
        self._workspace = Path(tempfile.mkdtemp(prefix="bp3d_triton_"))
        workspace = self._workspace / "ws"
        command = [
            *self.command_prefix,
            str(self.python),
            str(SERVE_SCRIPT),
            *(f"--model={name}={path}" for name, path in self.models.items()),
            f"--max-batch={self.max_batch}",
            f"--grpc-port={self.grpc_port}",
            f"--http-port={self.http_port}",
            f"--metrics-port={self.metrics_port}",
            f"--workspace={workspace}",
            f"--delay-s={self.delay_s}",
            f"--slow-rows={self.slow_rows}",
        ]
        with self.log_path.open("ab") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._process = process
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and process.poll() is None:
            if self._models_ready():
                return
            time.sleep(0.2)
        self.stop()
        tail = self.log_path.read_text(errors="replace")[-4000:]
        raise RuntimeError(
            f"Triton did not serve {list(self.models)} in {timeout_s:.0f} s:\n{tail}"
        )

    def _models_ready(self) -> bool:
        """Every model reports ready and answers a one-row request of zeros.

        "Ready" alone comes before pytriton's Python backend has connected to the process that
        runs the model; on a busy machine the first requests then fail. Tests start on an
        answering server.
        """
        import numpy as np
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException

        client = grpcclient.InferenceServerClient(url=f"127.0.0.1:{self.grpc_port}")
        try:
            for name in self.models:
                if not client.is_model_ready(name, client_timeout=1.0):
                    return False
                inputs = []
                for tensor in client.get_model_metadata(name, as_json=True)["inputs"]:
                    shape = [max(int(d), 1) for d in tensor["shape"]]
                    request = grpcclient.InferInput(tensor["name"], shape, tensor["datatype"])
                    request.set_data_from_numpy(np.zeros(shape, np.float32))
                    inputs.append(request)
                client.infer(name, inputs, client_timeout=30.0)
            return True
        except InferenceServerException:
            return False
        finally:
            client.close()

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's log (all its starts), for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"

    def stop(self) -> None:
        """Kill the server's whole process group (TERM, then KILL), wait, remove its workspace."""
        process, self._process = self._process, None
        try:
            if process is not None:
                _kill_group(process)
        finally:
            if self._workspace is not None:
                shutil.rmtree(self._workspace, ignore_errors=True)
                self._workspace = None

    def kill(self) -> None:
        """Kill the server abruptly (SIGKILL to the group), as a crash or power loss would."""
        process = self._process
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        self.stop()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """TERM the process group, then KILL it, each time waiting until no member runs."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and (process.poll() is None or _group_alive(process.pid)):
            time.sleep(0.05)
        if process.poll() is not None and not _group_alive(process.pid):
            return
    process.wait()


def _group_alive(pgid: int) -> bool:
    """True while a process of the group still runs (zombies waiting to be reaped do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
