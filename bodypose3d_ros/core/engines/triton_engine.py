"""Run BodyPose3DNet on a Triton Inference Server over gRPC: one GPU box serves many cameras.

At start-up the served model's metadata is checked against BodyPose3DNet's tensors exactly as a
local model file is, so a wrong model fails configure with the same expected-vs-found message.
Each frame sends every person's crop in one request (chunked at the served ``max_batch_size``).

Outages do not stop the caller: a failed request marks the server down and raises
:class:`EngineUnavailableError`; later calls fail at once (no waiting, no queue) until a backoff
delay has passed, then reconnect with a fresh channel, re-check the model and carry on.
``tritonclient`` is imported only here, when the engine is created.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from bodypose3d_ros.core.engines.base import (
    EngineUnavailableError,
    ModelLoadError,
    Tensor,
    run_in_batches,
    select_inputs,
)
from bodypose3d_ros.core.engines.bodypose3dnet_io import (
    INPUT_SPECS,
    OUTPUT_SPECS,
    TensorSpec,
    check_model_io,
)
from bodypose3d_ros.core.engines.triton_address import (
    TritonAddress,
    is_local_host,
    parse_triton_url,
)
from bodypose3d_ros.core.engines.triton_server_info import reason as _reason
from bodypose3d_ros.core.engines.triton_server_info import served_models
from bodypose3d_ros.core.engines.triton_shared_memory import (
    RegionsInUseError,
    SharedMemoryIO,
    open_shared_memory,
)

Log = Callable[[str], None]

DEFAULT_MODEL: Final = "bodypose3dnet"
# A request timeout below 10 ms fails on every request (and the start-up checks) however well the
# server runs; above a minute, a frame is long stale and a stuck request holds the node's shutdown.
TIMEOUT_RANGE_S: Final = (0.01, 60.0)
FIRST_RETRY_S: Final = 0.25
MAX_RETRY_S: Final = 2.0
RETRY_REGISTER_S: Final = 1.0
INSTALL_HINT: Final = "pip install 'tritonclient[grpc]' (see requirements/triton-client.txt)"
SERVER_HINT: Final = (
    "start the server on its model repository (python -m bodypose3d_ros.triton_repository writes "
    "one; README 'Serving the model with Triton') or set triton_url to where it runs"
)
# Triton's datatype names -> NumPy's, so the I/O check speaks one language.
_TRITON_TYPES: Final = {
    "FP32": "float32",
    "FP16": "float16",
    "FP64": "float64",
    "INT64": "int64",
    "INT32": "int32",
    "UINT8": "uint8",
}


def _ignore(_message: str) -> None:
    """Default log sink."""


@dataclass(frozen=True)
class TritonSettings:
    """Where the model is served and how to talk to it (node parameters / CLI flags)."""

    url: str
    model: str = DEFAULT_MODEL
    model_version: str = ""
    timeout_s: float = 2.0
    shared_memory: bool = True

    def check(self) -> TritonAddress:
        """The parsed address; ValueError naming the setting that is wrong."""
        address = parse_triton_url(self.url)
        if not self.model.strip():
            raise ValueError("triton_model is empty: name the model the server serves")
        if self.model_version and not (
            self.model_version.isdigit() and int(self.model_version) > 0
        ):
            raise ValueError(
                f"triton_model_version {self.model_version!r} must be a positive integer, or "
                "empty for the latest version"
            )
        low, high = TIMEOUT_RANGE_S
        if not low <= self.timeout_s <= high:
            raise ValueError(
                f"triton_timeout_s={self.timeout_s!r} must be within [{low:g}, {high:g}] seconds"
            )
        return address


def _spec(tensor: Mapping[str, Any]) -> TensorSpec:
    shape = tuple(int(d) for d in tensor.get("shape", []))
    dtype = str(tensor.get("datatype", "?"))
    return TensorSpec(str(tensor["name"]), shape, _TRITON_TYPES.get(dtype, dtype))


def _row_dims(spec: TensorSpec) -> list[int]:
    """The per-row shape (no batch) as integers, -1 where the server leaves a size open."""
    return [d if isinstance(d, int) else -1 for d in spec.shape[1:]]


class TritonEngine:
    """A gRPC client of one served BodyPose3DNet; reconnects by itself after an outage."""

    name = "triton"

    def __init__(
        self,
        settings: TritonSettings,
        max_batch_size: int = 8,
        log: Log = _ignore,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        try:
            address = settings.check()
        except ValueError as error:
            raise ModelLoadError(str(error)) from None
        try:
            import tritonclient.grpc as grpcclient
            from tritonclient.utils import InferenceServerException
        except ImportError as error:
            raise ModelLoadError(
                f"engine 'triton' needs the tritonclient package ({error}) — {INSTALL_HINT}"
            ) from None
        self._grpc: Any = grpcclient
        self._server_error: type[Exception] = InferenceServerException
        self.settings = settings
        self.address = address
        self._log = log
        self._wanted_batch = max_batch_size
        self._lock = threading.Lock()
        self._interrupted = threading.Event()  # interrupt() closed the channel under a call
        self._client: Any = None
        self._shared: SharedMemoryIO | None = None
        # Set while the server still holds the regions for a request that timed out: tensors
        # then go over gRPC, and registering again is retried every RETRY_REGISTER_S.
        self._regions_held_since: float | None = None
        self._down_reason = ""
        self._retry_at = 0.0
        self._retry_delay = FIRST_RETRY_S
        self.failures = 0
        self.reconnects = 0
        try:
            self._connect(at_start=True)
        except Exception:
            self.close()  # the channel, not left open behind a failed configure
            raise
        self._use_shared_memory = settings.shared_memory and is_local_host(address.host)
        if self._use_shared_memory:
            self._shared = open_shared_memory(
                self._client,
                self._input_shapes,
                self._output_shapes,
                self.max_batch_size,
                self.address.url,
                self._log,
            )

    # ------------------------------------------------------------------ connecting
    def _connect(self, at_start: bool) -> None:
        """A fresh client; check the server is live and serves a matching, ready model."""
        if self._client is not None:
            self._client.close()
        s, url = self.settings, self.address.url
        self._client = self._grpc.InferenceServerClient(url=self.address.target)
        try:
            self._client.is_server_live(client_timeout=s.timeout_s)
        except self._server_error as error:
            reason = _reason(error)
            if "DEADLINE_EXCEEDED" in reason:  # something listens, but not within the timeout
                raise ModelLoadError(
                    f"the Triton server at {url} did not answer within triton_timeout_s="
                    f"{s.timeout_s:g} s ({reason}) — raise triton_timeout_s, or check that a "
                    "Triton server (not another service) listens there and is not overloaded"
                ) from None
            raise ModelLoadError(
                f"cannot reach the Triton server at {url} ({reason}) — {SERVER_HINT}"
            ) from None
        version = f" version {s.model_version}" if s.model_version else ""
        try:
            ready = bool(
                self._client.is_model_ready(s.model, s.model_version, client_timeout=s.timeout_s)
            )
        except self._server_error as error:
            raise ModelLoadError(
                f"the Triton server at {url} did not answer for model {s.model!r} "
                f"({_reason(error)}) — {SERVER_HINT}"
            ) from None
        if not ready:
            listed = served_models(self._client, self.settings.timeout_s, self._server_error)
            listing = f" (it serves: {listed})" if listed else ""
            raise ModelLoadError(
                f"the Triton server at {url} has no ready model {s.model!r}{version}{listing} — "
                "set triton_model (and triton_model_version) to the served model's name, or load "
                "the model on the server"
            )
        try:
            metadata = self._client.get_model_metadata(
                s.model, s.model_version, as_json=True, client_timeout=s.timeout_s
            )
            config = self._client.get_model_config(
                s.model, s.model_version, as_json=True, client_timeout=s.timeout_s
            ).get("config", {})
        except self._server_error as error:
            raise ModelLoadError(
                f"cannot read model {s.model!r} from the Triton server at {url} "
                f"({_reason(error)}) — {SERVER_HINT}"
            ) from None
        inputs = [_spec(t) for t in metadata.get("inputs", [])]
        outputs = [_spec(t) for t in metadata.get("outputs", [])]
        try:
            fixed_batch = check_model_io(inputs, outputs)
        except ModelLoadError as error:
            raise ModelLoadError(
                f"model {s.model!r} served at {url}: {error}".replace("set model_path to", "serve")
            ) from None
        served_batch = int(config.get("max_batch_size", 0) or 0)
        limits = [self._wanted_batch] + [b for b in (served_batch, fixed_batch) if b]
        self.max_batch_size = min(limits)
        self._fixed_batch = fixed_batch if not served_batch else None
        self._platform = str(config.get("platform") or config.get("backend") or "unknown")
        self._served_version = (
            str(metadata.get("versions", ["?"])[-1]) if not s.model_version else s.model_version
        )
        self._input_shapes = {t.name: _row_dims(t) for t in inputs}
        self._output_shapes = {t.name: _row_dims(t) for t in outputs}
        if not at_start and self._shared is not None:
            self._register_again()
            # The regions were sized at start: a server now allowing more rows gets chunks.
            self.max_batch_size = min(self.max_batch_size, self._shared.max_rows)

    def _register_again(self) -> None:
        """Register the regions with the (new) server; over gRPC while it still holds them."""
        assert self._shared is not None
        try:
            self._shared.register(self._client)
        except RegionsInUseError as error:  # a request that timed out still runs there
            if self._regions_held_since is None:
                self._log(f"triton: {error} (a request that timed out); sending tensors over gRPC")
                self._regions_held_since = time.monotonic()
            return
        if self._regions_held_since is not None:
            self._log("triton: shared memory regions free again; tensors via shared memory")
        self._regions_held_since = None

    # ------------------------------------------------------------------ running
    @property
    def precision(self) -> str:
        """What the server computes in is its own setting; ONNX Runtime models run in fp32."""
        return "fp32" if "onnx" in self._platform else "set on the server"

    @property
    def shared_memory(self) -> bool:
        """True while tensors travel through system shared memory instead of gRPC messages."""
        return self._shared is not None and self._regions_held_since is None

    @property
    def available(self) -> bool:
        """False between a failed request and the next successful reconnect."""
        return not self._down_reason

    @property
    def description(self) -> str:
        transport = "shared memory" if self.shared_memory else "gRPC"
        return (
            f"triton {self.address.url} model {self.settings.model} v{self._served_version} "
            f"({self._platform}, batch <= {self.max_batch_size}, tensors via {transport})"
        )

    def run(self, feeds: Mapping[str, npt.NDArray[np.generic]]) -> dict[str, Tensor]:
        used = select_inputs(feeds, [s.name for s in INPUT_SPECS])
        with self._lock:
            if self._client is None:
                raise RuntimeError("the Triton engine was closed")
            if self._interrupted.is_set():  # the channel was closed: a fresh one, checked again
                self._interrupted.clear()
                try:
                    self._connect(at_start=False)
                except Exception as error:
                    raise self._mark_down(str(error).splitlines()[0][:300]) from None
            self._ensure_connected()
            held_since = self._regions_held_since
            if held_since is not None and time.monotonic() - held_since >= RETRY_REGISTER_S:
                self._regions_held_since = time.monotonic()  # next try in RETRY_REGISTER_S
                self._register_again()
            try:
                return run_in_batches(self._run_batch, used, self.max_batch_size)
            except self._server_error as error:
                if self._interrupted.is_set():  # not the server's fault: the caller is stopping
                    raise EngineUnavailableError(
                        f"request to the Triton server at {self.address.url} interrupted (stopping)"
                    ) from None
                raise self._mark_down(_reason(error)) from None

    def interrupt(self) -> None:
        """End a request waiting on the server now (the caller is stopping; see Interruptible).

        Closing the channel ends every call in flight on it; that call fails, and the next one
        opens a fresh channel (a request the server still runs keeps its shared memory regions:
        see triton_shared_memory).
        """
        self._interrupted.set()
        client = self._client
        if client is not None:
            client.close()

    def _ensure_connected(self) -> None:
        """Fail fast while backing off; once the delay passed, reconnect or back off longer."""
        if not self._down_reason:
            return
        now = time.monotonic()
        if now < self._retry_at:
            raise EngineUnavailableError(self._unavailable_text(self._retry_at - now))
        try:
            self._connect(at_start=False)
        except Exception as error:  # ModelLoadError, or the server failing mid-check
            raise self._mark_down(str(error).splitlines()[0][:300]) from None
        self._log(f"triton: server at {self.address.url} is back; resuming")
        self.reconnects += 1
        self._down_reason = ""
        self._retry_delay = FIRST_RETRY_S

    def _mark_down(self, reason: str) -> EngineUnavailableError:
        if not self._down_reason:
            self._log(f"triton: lost the server at {self.address.url} ({reason}); reconnecting")
        else:
            self._retry_delay = min(self._retry_delay * 2, MAX_RETRY_S)
        self.failures += 1
        self._down_reason = reason
        self._retry_at = time.monotonic() + self._retry_delay
        return EngineUnavailableError(self._unavailable_text(self._retry_delay))

    def _unavailable_text(self, retry_in_s: float) -> str:
        return (
            f"Triton server at {self.address.url} unavailable ({self._down_reason}); "
            f"retrying in {max(retry_in_s, 0.0):.1f} s"
        )

    def _run_batch(self, feeds: dict[str, Tensor]) -> dict[str, Tensor]:
        rows = len(next(iter(feeds.values())))
        if self._fixed_batch and rows < self._fixed_batch:
            padded = {
                name: np.concatenate(
                    [value, np.zeros((self._fixed_batch - rows, *value.shape[1:]), np.float32)]
                )
                for name, value in feeds.items()
            }
            return {name: value[:rows] for name, value in self._request(padded).items()}
        return self._request(feeds)

    def _request(self, feeds: dict[str, Tensor]) -> dict[str, Tensor]:
        s, grpc = self.settings, self._grpc
        rows = len(next(iter(feeds.values())))
        shared = self._shared if self.shared_memory else None
        if shared is not None:
            inputs, outputs = shared.request(feeds, grpc.InferInput, grpc.InferRequestedOutput)
        else:
            inputs = []
            for name, array in feeds.items():
                tensor = grpc.InferInput(name, list(array.shape), "FP32")
                tensor.set_data_from_numpy(array)
                inputs.append(tensor)
            outputs = [grpc.InferRequestedOutput(spec.name) for spec in OUTPUT_SPECS]
        result = self._client.infer(
            s.model,
            inputs,
            model_version=s.model_version,
            outputs=outputs,
            client_timeout=s.timeout_s,
        )
        if shared is not None:
            return shared.answer(self._output_shapes, rows)
        answers: dict[str, Tensor] = {}
        for spec in OUTPUT_SPECS:
            value = result.as_numpy(spec.name)
            if value is None:
                raise self._server_error(f"the server's answer has no output {spec.name!r}")
            answers[spec.name] = np.asarray(value, dtype=np.float32)
        return answers

    def close(self) -> None:
        """Free the shared-memory regions and the channel; safe to call twice."""
        with self._lock:
            shared, self._shared = self._shared, None
            client, self._client = self._client, None
            if shared is not None:
                if self._interrupted.is_set() and client is not None:
                    client.close()  # interrupt() closed its channel: unregister through a new one
                    client = self._grpc.InferenceServerClient(url=self.address.target)
                shared.close(client)
            if client is not None:
                client.close()
