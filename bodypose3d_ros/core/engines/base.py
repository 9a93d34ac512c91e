"""What every inference engine offers, the start-up error they raise, and batch chunking.

The pipeline only ever talks to an :class:`InferenceEngine`, so ONNX Runtime and TensorRT are
interchangeable and a test can run the whole pipeline on the CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Tensor = npt.NDArray[np.float32]
Feeds = Mapping[str, npt.NDArray[np.generic]]


class ModelLoadError(RuntimeError):
    """A model or engine cannot be loaded; the message names the problem and how to fix it.

    Raised only at start-up, so a node fails early with one readable line instead of a traceback
    from deep inside a runtime library.
    """


class EngineUnavailableError(RuntimeError):
    """The engine cannot run right now (e.g. its inference server is down) but may recover.

    Raised by :meth:`InferenceEngine.run` instead of blocking: the frame is lost, the caller
    counts it and reports the outage, and later frames go through once the engine is back.
    """


@runtime_checkable
class Interruptible(Protocol):
    """An engine (or model) that may wait on a remote answer, and can stop waiting.

    A local engine computes and returns; a remote one (Triton) may wait up to its timeout for a
    server. Whoever stops the caller (a node shutting down) ends that wait with :meth:`interrupt`.
    """

    def interrupt(self) -> None:
        """End a wait for an answer now: the call in flight fails, the next one works again."""
        ...


class InferenceEngine(Protocol):
    """A loaded network: named float32 inputs in, named float32 outputs out, batch first."""

    @property
    def name(self) -> str:
        """The backend: "onnxruntime" or "tensorrt"."""
        ...

    @property
    def precision(self) -> str:
        """What the network computes in: "fp32" or "fp16"."""
        ...

    @property
    def max_batch_size(self) -> int:
        """Most rows per network call; :meth:`run` splits larger batches."""
        ...

    @property
    def description(self) -> str:
        """One line for logs and diagnostics (backend version, providers or GPU)."""
        ...

    def run(self, feeds: Mapping[str, npt.NDArray[np.generic]]) -> dict[str, Tensor]:
        """Run the network on any number of rows (>= 1), same batch size in every input."""
        ...

    def close(self) -> None:
        """Free the session / device memory; the engine is unusable afterwards."""
        ...


def batch_size_of(feeds: Feeds) -> int:
    """The common first dimension of all inputs; a mismatch would silently mix people."""
    if not feeds:
        raise ValueError("no inputs given")
    sizes = {
        name: int(np.shape(array)[0]) if np.ndim(array) else -1 for name, array in feeds.items()
    }
    distinct = set(sizes.values())
    if len(distinct) != 1:
        raise ValueError(f"inputs disagree on the batch size: {sizes}")
    size = distinct.pop()
    if size < 1:
        raise ValueError(f"inputs need a batch dimension with at least one row: {sizes}")
    return size


def select_inputs(feeds: Feeds, input_names: Sequence[str]) -> dict[str, npt.NDArray[np.generic]]:
    """The model's inputs out of ``feeds`` (extras ignored); a clear error if any is missing."""
    missing = [name for name in input_names if name not in feeds]
    if missing:
        raise ValueError(f"missing model inputs: {', '.join(missing)}")
    return {name: feeds[name] for name in input_names}


def run_in_batches(
    run_batch: Callable[[dict[str, Tensor]], dict[str, Tensor]],
    feeds: Feeds,
    max_batch_size: int,
) -> dict[str, Tensor]:
    """Call ``run_batch`` on slices of at most ``max_batch_size`` rows and concatenate outputs.

    Inputs are made contiguous float32 once here, so backends can hand raw buffers to C code.
    """
    if max_batch_size < 1:
        raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
    rows = batch_size_of(feeds)
    arrays = {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in feeds.items()}
    if rows <= max_batch_size:
        return run_batch(arrays)
    chunks = [
        run_batch({name: value[start : start + max_batch_size] for name, value in arrays.items()})
        for start in range(0, rows, max_batch_size)
    ]
    return {name: np.concatenate([chunk[name] for chunk in chunks]) for name in chunks[0]}
