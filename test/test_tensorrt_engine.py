"""TensorRT: the engine cache key and cache handling (pure), and the engine where possible."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from bodypose3d_ros.core.engines.base import ModelLoadError
from bodypose3d_ros.core.engines.onnxruntime_engine import OnnxRuntimeEngine
from bodypose3d_ros.core.engines.tensorrt_engine import (
    NOT_INSTALLED,
    TensorRTEngine,
    default_cache_dir,
    engine_cache_key,
    engine_cache_path,
    file_sha256,
    load_or_build,
    tensorrt_available,
    timing_cache_path,
)
from bodypose3d_ros.testing.contract_model import write_contract_model

SHA_ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2
SHA_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
BASE = {
    "trt_version": "10.13.0.35",
    "gpu_name": "NVIDIA H100 80GB HBM3",
    "compute_capability": (9, 0),
    "precision": "fp16",
    "max_batch_size": 8,
    "onnx_sha256": SHA_ABC,
}
SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")

TRT_OK, TRT_REASON = tensorrt_available()
if TRT_OK:
    SKIP_REASON = ""
elif TRT_REASON.startswith(NOT_INSTALLED):
    SKIP_REASON = "TensorRT not installed (NVIDIA's wheels are not reachable from here)"
elif "GPU" in TRT_REASON:
    SKIP_REASON = f"no CUDA GPU ({TRT_REASON})"
else:
    SKIP_REASON = TRT_REASON
needs_tensorrt = pytest.mark.skipif(not TRT_OK, reason=SKIP_REASON)


def key(**changes: object) -> str:
    return engine_cache_key(**{**BASE, **changes})  # type: ignore[arg-type]


# ----------------------------------------------------------------- cache key


def test_key_is_stable_for_the_same_ingredients() -> None:
    assert key() == key()
    assert key() == engine_cache_key(
        "10.13.0.35", "NVIDIA H100 80GB HBM3", (9, 0), "fp16", 8, SHA_ABC
    )


@pytest.mark.parametrize(
    "change",
    [
        {"trt_version": "10.13.0.36"},
        {"gpu_name": "NVIDIA H200"},
        {"compute_capability": (9, 1)},
        {"compute_capability": (8, 9)},
        {"precision": "fp32"},
        {"max_batch_size": 4},
        {"onnx_sha256": SHA_EMPTY},
        {"onnx_sha256": SHA_ABC[:-1] + "e"},  # differs only past the readable prefix
    ],
)
def test_key_changes_with_every_ingredient(change: dict[str, object]) -> None:
    assert key(**change) != key()


def test_key_changes_even_where_readable_parts_collide() -> None:
    # Both GPU names slug to the same readable text; the hash still tells them apart.
    assert key(gpu_name="Orin (nvgpu)") != key(gpu_name="orin nvgpu")


def test_key_is_filesystem_safe_and_readable() -> None:
    hostile = key(gpu_name="../../etc/passwd GPU: *?<>|\\ \u00e9", trt_version="10.0 beta/1")
    for name in (key(), hostile):
        assert SAFE_NAME.match(name), name
        assert len(name) < 150
        assert not name.startswith(".")
    readable = key()
    assert "trt10.13.0.35" in readable
    assert "nvidia-h100-80gb-hbm3" in readable
    assert "sm90" in readable
    assert "fp16" in readable
    assert "b8" in readable
    assert SHA_ABC[:8] in readable


def test_key_rejects_bad_ingredients() -> None:
    with pytest.raises(ValueError, match="precision"):
        key(precision="int8")
    with pytest.raises(ValueError, match="max_batch_size"):
        key(max_batch_size=0)
    with pytest.raises(ValueError, match="onnx_sha256"):
        key(onnx_sha256="not-a-digest")


def test_file_sha256_matches_published_vectors(tmp_path: Path) -> None:
    abc = tmp_path / "abc.bin"
    abc.write_bytes(b"abc")
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    assert file_sha256(abc) == SHA_ABC
    assert file_sha256(abc, chunk_size=1) == SHA_ABC  # chunked reading
    assert file_sha256(empty) == SHA_EMPTY


def test_cache_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert engine_cache_path(tmp_path, key()) == tmp_path / f"{key()}.engine"
    timing = timing_cache_path(tmp_path, "10.13.0.35", "NVIDIA H100", (9, 0))
    assert timing.parent == tmp_path
    assert SAFE_NAME.match(timing.name)
    # One timing cache per TensorRT and GPU, shared by precisions and batch sizes.
    assert timing != timing_cache_path(tmp_path, "10.13.0.35", "NVIDIA H200", (9, 0))
    assert timing != timing_cache_path(tmp_path, "10.14.1.0", "NVIDIA H100", (9, 0))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "bodypose3d_ros" / "tensorrt"


# ----------------------------------------------------------------- cache handling


@dataclass
class Recorder:
    """A build that produces a fixed plan, counting how often it ran."""

    plan: bytes = b"PLAN:v1"
    builds: int = 0

    def build(self) -> bytes:
        self.builds += 1
        return self.plan


def deserialize(data: bytes) -> str | None:
    """Accepts only plans this 'runtime' understands, as TensorRT rejects foreign ones."""
    return data.decode() if data.startswith(b"PLAN:") else None


def test_builds_once_then_loads_from_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "x.engine"
    recorder = Recorder()
    messages: list[str] = []
    assert load_or_build(cache, deserialize, recorder.build, log=messages.append) == "PLAN:v1"
    assert cache.read_bytes() == b"PLAN:v1"
    assert recorder.builds == 1
    assert load_or_build(cache, deserialize, recorder.build, log=messages.append) == "PLAN:v1"
    assert recorder.builds == 1  # never rebuilt on a normal start
    assert any("loaded cached" in m for m in messages)
    assert not list(cache.parent.glob("*.tmp"))  # no leftovers from the atomic write


def test_corrupt_cache_is_deleted_and_rebuilt(tmp_path: Path) -> None:
    cache = tmp_path / "x.engine"
    cache.write_bytes(b"\x00garbage from an older TensorRT")
    recorder = Recorder()
    messages: list[str] = []
    assert load_or_build(cache, deserialize, recorder.build, log=messages.append) == "PLAN:v1"
    assert recorder.builds == 1
    assert cache.read_bytes() == b"PLAN:v1"
    assert any("unreadable" in m for m in messages)


def test_deserializer_exceptions_count_as_corrupt(tmp_path: Path) -> None:
    cache = tmp_path / "x.engine"
    cache.write_bytes(b"PLAN:\xff\xfe")  # decode() raises UnicodeDecodeError
    recorder = Recorder()
    assert load_or_build(cache, deserialize, recorder.build) == "PLAN:v1"
    assert recorder.builds == 1


def test_force_rebuild_replaces_a_good_cache(tmp_path: Path) -> None:
    cache = tmp_path / "x.engine"
    cache.write_bytes(b"PLAN:old")
    recorder = Recorder(plan=b"PLAN:new")
    assert load_or_build(cache, deserialize, recorder.build, force_rebuild=True) == "PLAN:new"
    assert recorder.builds == 1
    assert cache.read_bytes() == b"PLAN:new"


def test_unwritable_cache_still_gives_an_engine(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the cache directory should be")
    messages: list[str] = []
    engine = load_or_build(blocker / "x.engine", deserialize, Recorder().build, log=messages.append)
    assert engine == "PLAN:v1"
    assert any("cannot write engine cache" in m for m in messages)


def test_unloadable_fresh_build_is_a_model_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="cannot load back"):
        load_or_build(tmp_path / "x.engine", deserialize, Recorder(plan=b"broken").build)


# ----------------------------------------------------------------- availability and engine


def test_availability_reports_a_reason() -> None:
    available, reason = tensorrt_available()
    assert isinstance(available, bool)
    assert reason
    if not available:
        with pytest.raises(ModelLoadError, match="onnxruntime"):
            TensorRTEngine(Path(__file__))  # an existing file: fails on TensorRT, not the path


def test_engine_settings_are_validated_before_tensorrt(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="precision"):
        TensorRTEngine(tmp_path / "m.onnx", precision="int8")
    with pytest.raises(ModelLoadError, match="not found"):
        TensorRTEngine(tmp_path / "m.onnx")


@pytest.fixture(scope="module")
def contract_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_contract_model(tmp_path_factory.mktemp("trt") / "contract.onnx")


def _feeds(rows: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "input0": rng.uniform(0, 1, (rows, 3, 256, 192)).astype(np.float32),
        "k_inv": rng.normal(size=(rows, 3, 3)).astype(np.float32),
        "t_form_inv": rng.normal(size=(rows, 3, 3)).astype(np.float32),
        "scale_normalized_mean_limb_lengths": np.ones((rows, 36), np.float32),
        "mean_limb_lengths": np.full((rows, 36), 500.0, np.float32),
    }


@needs_tensorrt
def test_tensorrt_matches_onnxruntime_and_reuses_its_cache(
    contract_path: Path, tmp_path: Path
) -> None:
    messages: list[str] = []
    engine = TensorRTEngine(
        contract_path, tmp_path, precision="fp32", max_batch_size=4, log=messages.append
    )
    assert engine.name == "tensorrt"
    assert engine.max_batch_size == 4
    feeds = _feeds(6)  # more rows than the profile's maximum: chunked
    expected = OnnxRuntimeEngine(contract_path).run(feeds)
    result = engine.run(feeds)
    for name, value in expected.items():
        np.testing.assert_allclose(result[name], value, rtol=1e-3, atol=1e-2)
    engine.close()
    assert len(list(tmp_path.glob("*.engine"))) == 1
    assert list(tmp_path.glob("timing_*.cache"))

    messages.clear()
    again = TensorRTEngine(
        contract_path, tmp_path, precision="fp32", max_batch_size=4, log=messages.append
    )
    assert any("loaded cached" in m for m in messages)
    assert not any("building" in m for m in messages)
    again.close()

    plan = next(tmp_path.glob("*.engine"))
    direct = TensorRTEngine(plan, precision="fp32")  # a user-supplied engine file
    np.testing.assert_allclose(direct.run(feeds)["pose25d"], expected["pose25d"], atol=1e-2)
    direct.close()


@needs_tensorrt
def test_tensorrt_rebuilds_a_corrupt_cache(contract_path: Path, tmp_path: Path) -> None:
    TensorRTEngine(contract_path, tmp_path, precision="fp16", max_batch_size=2).close()
    plan = next(tmp_path.glob("*.engine"))
    plan.write_bytes(b"corrupted")
    messages: list[str] = []
    engine = TensorRTEngine(
        contract_path, tmp_path, precision="fp16", max_batch_size=2, log=messages.append
    )
    assert any("unreadable" in m for m in messages)
    assert engine.run(_feeds(2))["pose25d"].shape == (2, 34, 4)
    engine.close()
