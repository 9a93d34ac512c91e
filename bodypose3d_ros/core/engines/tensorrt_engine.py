"""Run the network with TensorRT 10, building the engine from ONNX once and caching it.

An engine is only valid for the TensorRT version, GPU and settings it was built with, so the cache
file name is a key of all of them (``engine_cache_key``): a TensorRT upgrade or another GPU gets
a fresh build instead of an "incompatible plan" error, and an unchanged setup loads in seconds
instead of rebuilding for minutes. ``tensorrt`` and ``cuda-python`` are imported only here, and
only when an engine is created, so everything else runs without them.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import numpy as np
import numpy.typing as npt

from bodypose3d_ros.core.engines.base import (
    ModelLoadError,
    Tensor,
    run_in_batches,
    select_inputs,
)
from bodypose3d_ros.core.engines.batch_padding import BatchRange, run_padded
from bodypose3d_ros.core.engines.bodypose3dnet_io import (
    INPUT_NAMES,
    INPUT_SPECS,
    TensorSpec,
    check_model_file,
    check_model_io,
)

if TYPE_CHECKING:
    import tensorrt as trt

PRECISIONS: Final[tuple[str, ...]] = ("fp16", "fp32")
ONNX_SUFFIXES: Final[tuple[str, ...]] = (".onnx",)
ENGINE_SUFFIXES: Final[tuple[str, ...]] = (".engine", ".plan", ".trt")
NOT_INSTALLED: Final = "TensorRT is not installed"
FALLBACK_HINT: Final = "set engine to 'onnxruntime' (or 'auto' to pick what is available)"

T = TypeVar("T")
Log = Callable[[str], None]


def _ignore(_message: str) -> None:
    """Default log sink."""


# --------------------------------------------------------------------------- pure helpers


def _slug(text: str, limit: int = 32) -> str:
    """Filesystem-safe lower-case text: 'NVIDIA H100 80GB' -> 'nvidia-h100-80gb'."""
    slug = re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")
    return slug[:limit].strip("-.") or "unknown"


def engine_cache_key(
    trt_version: str,
    gpu_name: str,
    compute_capability: tuple[int, int],
    precision: str,
    max_batch_size: int,
    onnx_sha256: str,
) -> str:
    """The cache file stem for an engine: readable parts plus a hash of every ingredient.

    The readable parts tell a user which file belongs to which setup; the hash makes the key change
    whenever any ingredient does, even where the readable parts are truncated or slugged alike.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    if max_batch_size < 1:
        raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
    if not re.fullmatch(r"[0-9a-fA-F]{64}", onnx_sha256):
        raise ValueError(f"onnx_sha256 must be 64 hex digits, got {onnx_sha256!r}")
    major, minor = compute_capability
    ingredients = "\n".join(
        [trt_version, gpu_name, f"{major}.{minor}", precision, str(max_batch_size), onnx_sha256]
    )
    digest = hashlib.sha256(ingredients.encode("utf-8")).hexdigest()[:16]
    readable = [
        f"trt{_slug(trt_version, 16)}",
        _slug(gpu_name),
        f"sm{int(major)}{int(minor)}",
        precision,
        f"b{max_batch_size}",
        onnx_sha256[:8].lower(),
    ]
    return "_".join([*readable, digest])


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks (model files are tens of MB)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        for chunk in iter(lambda: stream.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/bodypose3d_ros/tensorrt`` (``~/.cache/...`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bodypose3d_ros" / "tensorrt"


def engine_cache_path(cache_dir: str | Path, key: str) -> Path:
    """Where the engine for ``key`` lives."""
    return Path(cache_dir).expanduser() / f"{key}.engine"


def timing_cache_path(
    cache_dir: str | Path, trt_version: str, gpu_name: str, compute_capability: tuple[int, int]
) -> Path:
    """The timing cache: shared by all builds on one GPU and TensorRT, so rebuilds go faster."""
    major, minor = compute_capability
    stem = f"timing_trt{_slug(trt_version, 16)}_{_slug(gpu_name)}_sm{int(major)}{int(minor)}"
    return Path(cache_dir).expanduser() / f"{stem}.cache"


def write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so a crash never leaves a half-written engine."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _try_deserialize(deserialize: Callable[[bytes], T | None], data: bytes) -> T | None:
    try:
        return deserialize(data)
    except Exception:  # any failure to read a cached engine means "rebuild"
        return None


def load_or_build(
    cache_file: Path,
    deserialize: Callable[[bytes], T | None],
    build: Callable[[], bytes],
    *,
    force_rebuild: bool = False,
    log: Log = _ignore,
) -> T:
    """Load the engine cached in ``cache_file``, else build, cache and load it.

    ``deserialize`` returns None (or raises) for bytes it cannot use: a damaged file or one from
    another TensorRT. Such a file is deleted and rebuilt. A cache that cannot be written is
    reported and the freshly built engine is used anyway.
    """
    if cache_file.is_file():
        if force_rebuild:
            log(f"force_rebuild is set: rebuilding {cache_file.name}")
        else:
            engine = _try_deserialize(deserialize, cache_file.read_bytes())
            if engine is not None:
                log(f"loaded cached TensorRT engine {cache_file}")
                return engine
            log(f"cached engine {cache_file} is unreadable (damaged or incompatible): rebuilding")
            cache_file.unlink(missing_ok=True)
    data = build()
    try:
        write_atomically(cache_file, data)
        log(f"cached TensorRT engine at {cache_file}")
    except OSError as error:
        log(
            f"warning: cannot write engine cache {cache_file} ({error}); "
            "it will be rebuilt on the next start"
        )
    engine = _try_deserialize(deserialize, data)
    if engine is None:
        raise ModelLoadError(
            "TensorRT built an engine it cannot load back; delete the engine cache directory "
            f"{cache_file.parent} and retry, or {FALLBACK_HINT}"
        )
    return engine


# --------------------------------------------------------------------------- availability


def _import_cudart() -> Any | None:
    """cuda-python's runtime module (module path differs between releases), or None."""
    try:
        from cuda.bindings import runtime  # type: ignore[import-not-found,import-untyped,unused-ignore]

        return runtime
    except ImportError:
        pass
    try:
        from cuda import cudart  # type: ignore[import-not-found,import-untyped,unused-ignore]

        return cudart
    except ImportError:
        return None


def tensorrt_available() -> tuple[bool, str]:
    """Whether a real TensorRT, cuda-python and a CUDA GPU are present, and why not.

    ``tensorrt-stubs`` installs a stub-only ``tensorrt`` folder that imports as an empty namespace
    package, so a successful import proves nothing: the real package has ``Builder``.
    """
    try:
        import tensorrt
    except Exception:  # a broken install raises OSError as well as ImportError
        return False, f"{NOT_INSTALLED} (no tensorrt Python package)"
    if not hasattr(tensorrt, "Builder") or not hasattr(tensorrt, "__version__"):
        return False, f"{NOT_INSTALLED} (only its type stubs, tensorrt-stubs, are)"
    cudart = _import_cudart()
    if cudart is None:
        return False, "cuda-python is not installed (pip install cuda-python)"
    error, count = cudart.cudaGetDeviceCount()
    if error != cudart.cudaError_t.cudaSuccess or count < 1:
        return False, f"no CUDA GPU ({error})"
    return True, f"TensorRT {tensorrt.__version__} with {count} CUDA device(s)"


def _cuda(cudart: Any, what: str, result: Any) -> Any:
    """Unpack cuda-python's (error, value...) tuples, raising on an error code."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA {what} failed: {error}")
    return values[0] if len(values) == 1 else tuple(values)


def gpu_identity(cudart: Any) -> tuple[str, tuple[int, int]]:
    """Name and compute capability of the current CUDA device (ingredients of the cache key)."""
    device = _cuda(cudart, "cudaGetDevice", cudart.cudaGetDevice())
    props = _cuda(cudart, "cudaGetDeviceProperties", cudart.cudaGetDeviceProperties(device))
    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else props.name
    return str(name).rstrip("\x00").strip(), (int(props.major), int(props.minor))


# --------------------------------------------------------------------------- engine


def _dtype_name(trt_module: Any, dtype: trt.DataType) -> str:
    names = {
        trt_module.DataType.FLOAT: "float32",
        trt_module.DataType.HALF: "float16",
        trt_module.DataType.INT32: "int32",
        trt_module.DataType.INT64: "int64",
    }
    return names.get(dtype, str(dtype))


def _dims(dims: trt.Dims) -> tuple[int, ...]:
    return tuple(int(dims[i]) for i in range(len(dims)))


def _use_timing_cache(config: trt.IBuilderConfig, path: Path, log: Log) -> None:
    """Start from the saved timing cache when it is usable, else from an empty one."""
    try:
        cache = config.create_timing_cache(path.read_bytes() if path.is_file() else b"")
        # bool(): the stubs type these results as objects, TensorRT returns bools.
        usable = bool(config.set_timing_cache(cache, ignore_mismatch=False))
    except Exception:  # a damaged cache file is not worth failing a build for
        usable = False
    if not usable:
        log(f"timing cache {path} is unusable: starting a new one")
        config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)


def _build_engine(
    onnx_path: Path,
    precision: str,
    max_batch_size: int,
    timing_cache_file: Path,
    logger: trt.ILogger,
    log: Log,
) -> bytes:
    """Parse the ONNX, check its I/O, build with an optimisation profile of batch 1 / max / max."""
    import tensorrt as trt

    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not bool(parser.parse_from_file(str(onnx_path))):
        errors = "; ".join(str(parser.get_error(i)) for i in range(min(parser.num_errors, 5)))
        raise ModelLoadError(f"TensorRT cannot parse {onnx_path}: {errors} — {FALLBACK_HINT}")
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    outputs = [network.get_output(i) for i in range(network.num_outputs)]
    check_model_io(
        [TensorSpec(t.name, _dims(t.shape), _dtype_name(trt, t.dtype)) for t in inputs],
        [TensorSpec(t.name, _dims(t.shape), _dtype_name(trt, t.dtype)) for t in outputs],
    )

    config = builder.create_builder_config()
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    contract = {s.name: [d for d in s.shape[1:] if isinstance(d, int)] for s in INPUT_SPECS}
    for tensor in inputs:
        # Sizes the file leaves symbolic take the contract's value (the I/O check allows them).
        rest = [
            d if d > 0 else c
            for d, c in zip(_dims(tensor.shape)[1:], contract[tensor.name], strict=True)
        ]
        profile.set_shape(
            tensor.name,
            trt.Dims([1, *rest]),
            trt.Dims([max_batch_size, *rest]),
            trt.Dims([max_batch_size, *rest]),
        )
    config.add_optimization_profile(profile)
    _use_timing_cache(config, timing_cache_file, log)
    log(
        f"building a TensorRT {precision} engine from {onnx_path.name} (batch 1..{max_batch_size});"
        " this takes a few minutes and happens once per TensorRT version, GPU and setting"
    )
    started = time.monotonic()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelLoadError(
            f"TensorRT failed to build an engine from {onnx_path} (see its messages above) — "
            f"{FALLBACK_HINT}"
        )
    log(f"TensorRT engine built in {time.monotonic() - started:.0f} s")
    try:
        write_atomically(timing_cache_file, bytes(config.get_timing_cache().serialize()))
    except OSError as error:
        log(f"warning: cannot write timing cache {timing_cache_file} ({error})")
    return bytes(serialized)


def _engine_batch_range(engine: trt.ICudaEngine) -> BatchRange:
    """The rows one call may take: the static batch, or optimisation profile 0's min..max."""
    static_batch = _dims(engine.get_tensor_shape(INPUT_NAMES[0]))[0]
    if static_batch > 0:
        return BatchRange(static_batch, static_batch)
    profile = engine.get_tensor_profile_shape(INPUT_NAMES[0], 0)
    return BatchRange.of_engine(static_batch, _dims(profile[0])[0], _dims(profile[2])[0])


class TensorRTEngine:
    """A TensorRT execution context with device buffers sized for ``max_batch_size`` rows."""

    name = "tensorrt"

    def __init__(
        self,
        model_path: str | Path,
        cache_dir: str | Path | None = None,
        precision: str = "fp16",
        max_batch_size: int = 8,
        force_rebuild: bool = False,
        log: Log = _ignore,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        path = check_model_file(model_path)
        available, reason = tensorrt_available()
        if not available:
            raise ModelLoadError(f"TensorRT engine unavailable: {reason} — {FALLBACK_HINT}")
        import tensorrt as trt

        cudart = _import_cudart()
        if cudart is None:  # tensorrt_available() checked it; keeps the type precise
            raise ModelLoadError(f"cuda-python is not installed — {FALLBACK_HINT}")
        self._cudart: Any = cudart
        self._logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(self._logger)
        self._runtime = runtime
        self.precision = precision
        suffix = path.suffix.lower()
        if suffix in ONNX_SUFFIXES:
            engine = self._engine_from_onnx(path, cache_dir, max_batch_size, force_rebuild, log)
        elif suffix in ENGINE_SUFFIXES:
            engine = runtime.deserialize_cuda_engine(path.read_bytes())
            if engine is None:
                raise ModelLoadError(
                    f"cannot load TensorRT engine {path}: it was built by another TensorRT "
                    "version or for another GPU, or the file is damaged — rebuild it here, or set "
                    "model_path to the .onnx so an engine is built and cached automatically"
                )
            log(f"loaded TensorRT engine {path}")
        else:
            raise ModelLoadError(
                f"unsupported model file {path}: expected .onnx, .engine or .plan "
                f"(got {suffix or 'no suffix'})"
            )
        self._engine = engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        is_input = {n: engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        specs = {
            n: TensorSpec(
                n, _dims(engine.get_tensor_shape(n)), _dtype_name(trt, engine.get_tensor_dtype(n))
            )
            for n in names
        }
        check_model_io(
            [specs[n] for n in names if is_input[n]], [specs[n] for n in names if not is_input[n]]
        )
        self.input_names = [n for n in names if is_input[n]]
        self.output_names = [n for n in names if not is_input[n]]
        self._batch_range = _engine_batch_range(engine)
        self.max_batch_size = min(max_batch_size, self._batch_range.largest)
        self._context = engine.create_execution_context()
        self._stream = _cuda(self._cudart, "cudaStreamCreate", self._cudart.cudaStreamCreate())
        self._buffers: dict[str, int] = {}
        buffer_rows = self._batch_range.rows_per_call(self.max_batch_size)  # padding included
        for n in names:
            per_row = int(np.prod(_dims(engine.get_tensor_shape(n))[1:]))
            nbytes = per_row * buffer_rows * np.dtype(np.float32).itemsize
            pointer = _cuda(self._cudart, "cudaMalloc", self._cudart.cudaMalloc(nbytes))
            self._buffers[n] = int(pointer)
            self._context.set_tensor_address(n, int(pointer))
        self._description = (
            f"tensorrt {trt.__version__} {precision} (batch <= {self.max_batch_size})"
        )

    def _engine_from_onnx(
        self,
        path: Path,
        cache_dir: str | Path | None,
        max_batch_size: int,
        force_rebuild: bool,
        log: Log,
    ) -> trt.ICudaEngine:
        import tensorrt as trt

        gpu_name, capability = gpu_identity(self._cudart)
        directory = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ModelLoadError(
                f"cannot create the engine cache directory {directory} ({error}) — set "
                "engine_cache_dir to a writable folder"
            ) from None
        key = engine_cache_key(
            trt.__version__, gpu_name, capability, self.precision, max_batch_size, file_sha256(path)
        )
        timings = timing_cache_path(directory, trt.__version__, gpu_name, capability)
        runtime = self._runtime
        return load_or_build(
            engine_cache_path(directory, key),
            runtime.deserialize_cuda_engine,
            lambda: _build_engine(path, self.precision, max_batch_size, timings, self._logger, log),
            force_rebuild=force_rebuild,
            log=log,
        )

    @property
    def description(self) -> str:
        return self._description

    def run(self, feeds: Mapping[str, npt.NDArray[np.generic]]) -> dict[str, Tensor]:
        if not self._buffers:
            raise RuntimeError("the TensorRT engine was closed")
        used = select_inputs(feeds, self.input_names)
        return run_in_batches(self._run_batch, used, self.max_batch_size)

    def _run_batch(self, feeds: dict[str, Tensor]) -> dict[str, Tensor]:
        # A static-batch engine (or a profile with min > 1) gets zero rows up to what it takes.
        return run_padded(self._run_exact, feeds, self._batch_range)

    def _run_exact(self, feeds: dict[str, Tensor]) -> dict[str, Tensor]:
        cudart, stream = self._cudart, self._stream
        to_device = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        to_host = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for name in self.input_names:
            array = feeds[name]
            if not self._context.set_input_shape(name, array.shape):
                raise ValueError(f"TensorRT rejected shape {array.shape} for input {name!r}")
            _cuda(
                cudart,
                "cudaMemcpyAsync",
                cudart.cudaMemcpyAsync(
                    self._buffers[name], array.ctypes.data, array.nbytes, to_device, stream
                ),
            )
        if not self._context.execute_async_v3(int(stream)):
            raise RuntimeError("TensorRT inference failed (see its messages above)")
        outputs: dict[str, Tensor] = {}
        for name in self.output_names:
            host = np.empty(_dims(self._context.get_tensor_shape(name)), dtype=np.float32)
            _cuda(
                cudart,
                "cudaMemcpyAsync",
                cudart.cudaMemcpyAsync(
                    host.ctypes.data, self._buffers[name], host.nbytes, to_host, stream
                ),
            )
            outputs[name] = host
        _cuda(cudart, "cudaStreamSynchronize", cudart.cudaStreamSynchronize(stream))
        return outputs

    def close(self) -> None:
        """Free device buffers and the stream; safe to call twice."""
        buffers, self._buffers = getattr(self, "_buffers", {}), {}
        for pointer in buffers.values():
            self._cudart.cudaFree(pointer)
        stream = getattr(self, "_stream", None)
        if stream is not None:
            self._cudart.cudaStreamDestroy(stream)
            self._stream = None
        self.__dict__.pop("_context", None)
        self.__dict__.pop("_engine", None)
