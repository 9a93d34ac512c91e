"""Pick and create the inference engine from user settings, saying what was chosen and why."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from bodypose3d_ros.core.engines.base import InferenceEngine, ModelLoadError
from bodypose3d_ros.core.engines.bodypose3dnet_io import check_model_file
from bodypose3d_ros.core.engines.onnxruntime_engine import (
    CPU_PROVIDER,
    CUDA_PROVIDER,
    OnnxRuntimeEngine,
    available_providers,
)
from bodypose3d_ros.core.engines.tensorrt_engine import (
    ENGINE_SUFFIXES,
    PRECISIONS,
    TensorRTEngine,
    tensorrt_available,
)
from bodypose3d_ros.core.engines.triton_engine import TritonEngine, TritonSettings

ENGINES: Final[tuple[str, ...]] = ("auto", "onnxruntime", "tensorrt", "triton")


def _ignore(_message: str) -> None:
    """Default log sink."""


def default_providers() -> list[str]:
    """CUDA first when this ONNX Runtime has it (onnxruntime-gpu), CPU always as the fallback."""
    return (
        [CUDA_PROVIDER, CPU_PROVIDER] if CUDA_PROVIDER in available_providers() else [CPU_PROVIDER]
    )


def create_engine(
    engine: str,
    model_path: str | Path,
    *,
    precision: str = "fp16",
    max_batch_size: int = 8,
    cache_dir: str | Path | None = None,
    force_rebuild: bool = False,
    providers: Sequence[str] | None = None,
    triton: TritonSettings | None = None,
    log: Callable[[str], None] = _ignore,
) -> InferenceEngine:
    """Create the engine named by ``engine``.

    "auto" takes TensorRT when it is usable, else ONNX Runtime on CUDA when available, else on
    the CPU. A TensorRT ``.engine``/``.plan`` file needs TensorRT. ``providers`` (ONNX Runtime
    only) overrides the automatic provider choice. "triton" sends the crops to the server named
    by ``triton`` (``model_path`` is not used; "auto" never picks it). Raises ValueError for bad
    settings and ModelLoadError for a model that cannot be loaded; both messages name the fix.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; valid: {', '.join(ENGINES)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    if max_batch_size < 1:
        raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
    if engine == "triton":
        if triton is None:
            raise ValueError("engine 'triton' needs triton_url (and triton_model) settings")
        log(f"engine: Triton server at {triton.url}, model {triton.model!r}")
        served = TritonEngine(triton, max_batch_size=max_batch_size, log=log)
        log(f"engine ready: {served.description}")
        return served
    path = check_model_file(model_path)
    is_engine_file = path.suffix.lower() in ENGINE_SUFFIXES

    use_tensorrt = engine == "tensorrt"
    if engine == "auto":
        available, reason = tensorrt_available()
        use_tensorrt = available
        if not available:
            if is_engine_file:
                raise ModelLoadError(
                    f"{path.name} is a TensorRT engine but TensorRT cannot run here: {reason} — "
                    "set model_path to the .onnx model to run it with ONNX Runtime"
                )
            log(f"engine auto: TensorRT not usable ({reason}); using ONNX Runtime")
    if use_tensorrt:
        log(f"engine: TensorRT ({precision}, batch <= {max_batch_size}) for {path}")
        created: InferenceEngine = TensorRTEngine(
            path,
            cache_dir=cache_dir,
            precision=precision,
            max_batch_size=max_batch_size,
            force_rebuild=force_rebuild,
            log=log,
        )
        log(f"engine ready: {created.description}")
        return created

    if is_engine_file:
        raise ModelLoadError(
            f"{path.name} is a TensorRT engine file, which ONNX Runtime cannot run — set "
            "model_path to the .onnx model, or engine to 'tensorrt'"
        )
    chosen = list(providers) if providers else default_providers()
    if precision == "fp16":
        log(
            "ONNX Runtime runs the model in its own precision (fp32); precision applies to TensorRT"
        )
    created = OnnxRuntimeEngine(path, providers=chosen, max_batch_size=max_batch_size)
    log(f"engine ready: {created.description}")
    return created
