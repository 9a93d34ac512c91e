"""Run the network with ONNX Runtime: the engine that works everywhere (CPU, or CUDA if present)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from bodypose3d_ros.core.engines.base import (
    ModelLoadError,
    Tensor,
    run_in_batches,
    select_inputs,
)
from bodypose3d_ros.core.engines.batch_padding import BatchRange, run_padded
from bodypose3d_ros.core.engines.bodypose3dnet_io import (
    MODEL_FILES_HINT,
    TensorSpec,
    check_model_file,
    check_model_io,
)

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
# ONNX Runtime's worker threads spin (busy-wait) for work after every run by default. In a node
# that runs its own Python stages right after the network (crops, lift, messages) on a CPU it
# shares, the spinning threads take the cores those stages need: on 2 cores the per-person
# cost of everything but the network was about 3x higher with spinning (``make bench``,
# multi_person). Without it the threads sleep between calls; the network's own time did not grow.
ALLOW_SPINNING_KEY = "session.intra_op.allow_spinning"

# ONNX Runtime's element-type names -> NumPy's, so the I/O check speaks one language.
_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(uint8)": "uint8",
}


def available_providers() -> list[str]:
    """The execution providers this ONNX Runtime build offers (CUDA only with onnxruntime-gpu)."""
    return list(ort.get_available_providers())


def _spec(arg: ort.NodeArg) -> TensorSpec:
    return TensorSpec(arg.name, tuple(arg.shape), _ORT_TYPES.get(arg.type, arg.type))


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__


class OnnxRuntimeEngine:
    """An ONNX Runtime session that checks the model's I/O at load and chunks large batches.

    ``spin_wait`` lets ONNX Runtime's worker threads busy-wait for work (its own default); off
    here, so the stages after each run get the CPU (see ``ALLOW_SPINNING_KEY``).
    """

    name = "onnxruntime"
    precision = "fp32"

    def __init__(
        self,
        model_path: str | Path,
        providers: Sequence[str] | None = None,
        max_batch_size: int = 8,
        intra_op_threads: int = 0,
        check_io: bool = True,
        spin_wait: bool = False,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if intra_op_threads < 0:
            raise ValueError(
                f"intra_op_threads must be >= 0 (0 = ONNX Runtime's choice), got {intra_op_threads}"
            )
        path = check_model_file(model_path)
        wanted = list(providers) if providers else [CPU_PROVIDER]
        available = available_providers()
        unavailable = [p for p in wanted if p not in available]
        if unavailable:
            raise ModelLoadError(
                f"ONNX Runtime execution provider(s) not available: {', '.join(unavailable)}; "
                f"this installation offers: {', '.join(available)} — choose one of those "
                "(CUDAExecutionProvider needs the onnxruntime-gpu package and a CUDA GPU)"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.add_session_config_entry(ALLOW_SPINNING_KEY, "1" if spin_wait else "0")
        try:
            session = ort.InferenceSession(str(path), options, providers=wanted)
        # ORT's load errors (InvalidProtobuf, Fail, ...) derive from Exception directly.
        except Exception as error:
            raise ModelLoadError(
                f"cannot load {path} as an ONNX model ({_first_line(error)}) — {MODEL_FILES_HINT}"
            ) from None
        self.model_path = path
        self.spin_wait = spin_wait
        self.input_names = [arg.name for arg in session.get_inputs()]
        self.output_names = [arg.name for arg in session.get_outputs()]
        fixed_batch = None
        if check_io:
            fixed_batch = check_model_io(
                [_spec(a) for a in session.get_inputs()], [_spec(a) for a in session.get_outputs()]
            )
        self._session: ort.InferenceSession | None = session
        self._providers = list(session.get_providers())
        self.max_batch_size = min(max_batch_size, fixed_batch) if fixed_batch else max_batch_size
        self._fixed_batch = fixed_batch

    @property
    def fixed_batch(self) -> int | None:
        """The batch size the model file is fixed to, or None when its batch is dynamic."""
        return self._fixed_batch

    @property
    def providers(self) -> list[str]:
        """The providers the session really uses (ORT drops ones that fail to initialise)."""
        return list(self._providers)

    @property
    def description(self) -> str:
        return f"onnxruntime {ort.__version__} ({', '.join(self.providers)})"

    def run(self, feeds: Mapping[str, npt.NDArray[np.generic]]) -> dict[str, Tensor]:
        used = select_inputs(feeds, self.input_names)
        return run_in_batches(self._run_batch, used, self.max_batch_size)

    def _run_batch(self, feeds: dict[str, Tensor]) -> dict[str, Tensor]:
        if self._fixed_batch:
            return self._run_padded(feeds, self._fixed_batch)
        return self._run_exact(feeds)

    def _run_padded(self, feeds: dict[str, Tensor], batch: int) -> dict[str, Tensor]:
        """A fixed-batch model takes exactly ``batch`` rows: pad with zeros, drop the padding."""
        return run_padded(self._run_exact, feeds, BatchRange(batch, batch))

    def _run_exact(self, feeds: dict[str, Tensor]) -> dict[str, Tensor]:
        outputs = self._live_session().run(self.output_names, feeds)
        return {
            name: np.asarray(value, dtype=np.float32)
            for name, value in zip(self.output_names, outputs, strict=True)
        }

    def _live_session(self) -> ort.InferenceSession:
        if self._session is None:
            raise RuntimeError("the ONNX Runtime engine was closed")
        return self._session

    def close(self) -> None:
        # Dropping the session frees its memory; ORT has no explicit close.
        self._session = None
