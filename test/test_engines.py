"""Engines: clear start-up errors for wrong model files, batching, the I/O check and the factory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bodypose3d_ros.core.engines.base import ModelLoadError, batch_size_of, run_in_batches
from bodypose3d_ros.core.engines.bodypose3dnet_io import (
    INPUT_SPECS,
    OUTPUT_SPECS,
    TensorSpec,
    check_model_io,
)
from bodypose3d_ros.core.engines.factory import create_engine
from bodypose3d_ros.core.engines.onnxruntime_engine import OnnxRuntimeEngine, available_providers
from bodypose3d_ros.core.engines.tensorrt_engine import tensorrt_available
from bodypose3d_ros.testing.contract_model import write_contract_model, write_signature_model

CONTRACT_INPUTS = {s.name: s.shape for s in INPUT_SPECS}
CONTRACT_OUTPUTS = {s.name: s.shape for s in OUTPUT_SPECS}


@pytest.fixture(scope="module")
def contract_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_contract_model(tmp_path_factory.mktemp("models") / "contract.onnx")


def _feeds(rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "input0": rng.uniform(0, 1, (rows, 3, 256, 192)).astype(np.float32),
        "k_inv": rng.normal(size=(rows, 3, 3)).astype(np.float32),
        "t_form_inv": rng.normal(size=(rows, 3, 3)).astype(np.float32),
        "scale_normalized_mean_limb_lengths": rng.uniform(0.5, 2, (rows, 36)).astype(np.float32),
        "mean_limb_lengths": rng.uniform(100, 900, (rows, 36)).astype(np.float32),
    }


# ----------------------------------------------------------------- wrong model files


def test_missing_file_names_path_and_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "bodypose3dnet.onnx"
    with pytest.raises(ModelLoadError) as info:
        OnnxRuntimeEngine(missing)
    message = str(info.value)
    assert "not found" in message
    assert str(missing) in message
    assert "bodypose3dnet_performance.onnx" in message
    assert "NGC" in message


def test_directory_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not a file"):
        OnnxRuntimeEngine(tmp_path)


def test_text_file_renamed_onnx(tmp_path: Path) -> None:
    fake = tmp_path / "model.onnx"
    fake.write_text("this is not a network\n")
    with pytest.raises(ModelLoadError) as info:
        OnnxRuntimeEngine(fake)
    message = str(info.value)
    assert "cannot load" in message
    assert "as an ONNX model" in message
    assert str(fake) in message
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_wrong_input_names_list_expected_and_found(tmp_path: Path) -> None:
    inputs = dict(CONTRACT_INPUTS)
    inputs["image"] = inputs.pop("input0")
    path = write_signature_model(tmp_path / "renamed.onnx", inputs, CONTRACT_OUTPUTS)
    with pytest.raises(ModelLoadError) as info:
        OnnxRuntimeEngine(path)
    message = str(info.value)
    assert "missing inputs: input0" in message
    assert "unexpected inputs: image" in message
    assert "expected inputs:  input0 [batch, 3, 256, 192] float32" in message
    assert "found inputs:     k_inv" in message
    assert "image [batch, 3, 256, 192]" in message


def test_wrong_input_shape_named(tmp_path: Path) -> None:
    inputs = dict(CONTRACT_INPUTS, input0=("batch", 3, 224, 224))
    path = write_signature_model(tmp_path / "shape.onnx", inputs, CONTRACT_OUTPUTS)
    with pytest.raises(ModelLoadError) as info:
        OnnxRuntimeEngine(path)
    assert "input input0 [batch, 3, 224, 224] float32 should be input0 [batch, 3, 256, 192]" in str(
        info.value
    )


def test_wrong_output_shape_and_missing_output(tmp_path: Path) -> None:
    outputs = dict(CONTRACT_OUTPUTS, pose25d=("batch", 17, 4))
    del outputs["pose3d"]
    path = write_signature_model(tmp_path / "out.onnx", CONTRACT_INPUTS, outputs)
    with pytest.raises(ModelLoadError) as info:
        OnnxRuntimeEngine(path)
    message = str(info.value)
    assert "missing outputs: pose3d" in message
    assert "pose25d [batch, 17, 4] float32 should be pose25d [batch, 34, 4]" in message


def test_io_check_can_be_disabled(tmp_path: Path) -> None:
    outputs = dict(CONTRACT_OUTPUTS, pose25d=("batch", 17, 4))
    path = write_signature_model(tmp_path / "out.onnx", CONTRACT_INPUTS, outputs)
    engine = OnnxRuntimeEngine(path, check_io=False)
    assert engine.run(_feeds(2))["pose25d"].shape == (2, 17, 4)


def test_io_check_accepts_symbolic_dims_and_reports_fixed_batch() -> None:
    dynamic_in = [TensorSpec(s.name, (None, *s.shape[1:])) for s in INPUT_SPECS]
    unknown_out = [TensorSpec(s.name, ("b", "unk", -1)) for s in OUTPUT_SPECS]
    assert check_model_io(dynamic_in, unknown_out) is None
    fixed_in = [TensorSpec(s.name, (4, *s.shape[1:])) for s in INPUT_SPECS]
    assert check_model_io(fixed_in, list(OUTPUT_SPECS)) == 4
    half = [TensorSpec(s.name, s.shape, "float16") for s in INPUT_SPECS]
    with pytest.raises(ModelLoadError, match="input0 has type float16, expected float32"):
        check_model_io(half, list(OUTPUT_SPECS))


def test_unavailable_provider_lists_the_available_ones(contract_path: Path) -> None:
    with pytest.raises(ModelLoadError) as info:
        OnnxRuntimeEngine(contract_path, providers=["NoSuchExecutionProvider"])
    message = str(info.value)
    assert "NoSuchExecutionProvider" in message
    assert all(p in message for p in available_providers())


def test_bad_settings_are_value_errors(contract_path: Path) -> None:
    with pytest.raises(ValueError, match="max_batch_size"):
        OnnxRuntimeEngine(contract_path, max_batch_size=0)
    with pytest.raises(ValueError, match="intra_op_threads"):
        OnnxRuntimeEngine(contract_path, intra_op_threads=-1)


# ----------------------------------------------------------------- running and batching


def test_engine_describes_itself(contract_path: Path) -> None:
    engine = OnnxRuntimeEngine(contract_path, max_batch_size=3)
    assert engine.name == "onnxruntime"
    assert engine.precision == "fp32"
    assert engine.max_batch_size == 3
    assert engine.providers == ["CPUExecutionProvider"]
    assert "CPUExecutionProvider" in engine.description


def test_worker_threads_do_not_spin_unless_asked(contract_path: Path) -> None:
    """Spinning ORT threads would take the CPU from the Python stages after every run."""
    for spin_wait, expected in ((False, "0"), (True, "1")):
        engine = OnnxRuntimeEngine(contract_path, spin_wait=spin_wait)
        options = engine._live_session().get_session_options()
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == expected
        assert engine.run(_feeds(2))["pose25d"].shape == (2, 34, 4)
        engine.close()


def test_large_batch_is_chunked_and_equals_row_by_row(contract_path: Path) -> None:
    feeds = _feeds(10, seed=5)
    batched = OnnxRuntimeEngine(contract_path, max_batch_size=4).run(feeds)
    single = OnnxRuntimeEngine(contract_path, max_batch_size=1)
    rows = [single.run({k: v[i : i + 1] for k, v in feeds.items()}) for i in range(10)]
    for name in ("pose2d", "pose2d_org_img", "pose25d", "pose3d"):
        assert batched[name].shape[0] == 10
        np.testing.assert_allclose(
            batched[name], np.concatenate([r[name] for r in rows]), rtol=1e-5, atol=1e-5
        )
    # The rows really differ, so a chunking mix-up could not go unnoticed.
    assert not np.allclose(batched["pose3d"][0], batched["pose3d"][1])


def test_fixed_batch_model_pads_and_caps_batch(tmp_path: Path, contract_path: Path) -> None:
    fixed = OnnxRuntimeEngine(write_contract_model(tmp_path / "b4.onnx", batch=4), max_batch_size=8)
    assert fixed.max_batch_size == 4
    feeds = _feeds(6, seed=6)  # one full chunk of 4, one padded chunk of 2
    reference = OnnxRuntimeEngine(contract_path).run(feeds)
    result = fixed.run(feeds)
    for name, value in reference.items():
        np.testing.assert_allclose(result[name], value, rtol=1e-5, atol=1e-5)


def test_run_in_batches_chunk_sizes_and_order() -> None:
    seen: list[int] = []

    def double(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        seen.append(len(feeds["a"]))
        return {"out": feeds["a"] * 2}

    values = np.arange(11, dtype=np.float64).reshape(11, 1)
    result = run_in_batches(double, {"a": values}, 4)
    assert seen == [4, 4, 3]
    assert result["out"].dtype == np.float32
    np.testing.assert_array_equal(result["out"][:, 0], np.arange(11) * 2)


def test_inconsistent_batch_sizes_are_rejected(contract_path: Path) -> None:
    feeds = _feeds(3)
    feeds["k_inv"] = feeds["k_inv"][:2]
    with pytest.raises(ValueError, match="disagree on the batch size"):
        OnnxRuntimeEngine(contract_path).run(feeds)
    with pytest.raises(ValueError, match="at least one row"):
        batch_size_of({"a": np.zeros((0, 3))})


def test_missing_input_and_closed_engine(contract_path: Path) -> None:
    engine = OnnxRuntimeEngine(contract_path)
    feeds = _feeds(1)
    del feeds["mean_limb_lengths"]
    with pytest.raises(ValueError, match="missing model inputs: mean_limb_lengths"):
        engine.run(feeds)
    engine.close()
    with pytest.raises(RuntimeError, match="closed"):
        engine.run(_feeds(1))


# ----------------------------------------------------------------- factory


def test_factory_rejects_unknown_settings(contract_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown engine 'cuda'.*auto, onnxruntime, tensorrt"):
        create_engine("cuda", contract_path)
    with pytest.raises(ValueError, match="unknown precision 'int8'"):
        create_engine("onnxruntime", contract_path, precision="int8")
    with pytest.raises(ModelLoadError, match="not found"):
        create_engine("auto", contract_path.with_name("missing.onnx"))


def test_factory_onnxruntime(contract_path: Path) -> None:
    messages: list[str] = []
    engine = create_engine(
        "onnxruntime",
        contract_path,
        max_batch_size=2,
        providers=["CPUExecutionProvider"],
        log=messages.append,
    )
    assert engine.name == "onnxruntime"
    assert engine.max_batch_size == 2
    assert engine.run(_feeds(3))["pose25d"].shape == (3, 34, 4)
    assert any("engine ready: onnxruntime" in m for m in messages)


@pytest.mark.skipif(tensorrt_available()[0], reason="TensorRT is usable here: auto picks it")
def test_factory_auto_falls_back_to_onnxruntime_and_says_why(contract_path: Path) -> None:
    messages: list[str] = []
    engine = create_engine("auto", contract_path, log=messages.append)
    assert engine.name == "onnxruntime"
    expected = (
        "CUDAExecutionProvider"
        if "CUDAExecutionProvider" in available_providers()
        else ("CPUExecutionProvider")
    )
    assert expected in engine.description
    assert any("TensorRT not usable" in m and tensorrt_available()[1] in m for m in messages)


@pytest.mark.skipif(tensorrt_available()[0], reason="TensorRT is usable here")
def test_factory_tensorrt_without_tensorrt_names_the_fallback(contract_path: Path) -> None:
    with pytest.raises(ModelLoadError) as info:
        create_engine("tensorrt", contract_path)
    assert tensorrt_available()[1] in str(info.value)
    assert "onnxruntime" in str(info.value)


def test_factory_engine_file_needs_tensorrt(tmp_path: Path) -> None:
    plan = tmp_path / "model.engine"
    plan.write_bytes(b"\x00not a plan")
    with pytest.raises(ModelLoadError, match="ONNX Runtime cannot run"):
        create_engine("onnxruntime", plan)
    if not tensorrt_available()[0]:
        with pytest.raises(ModelLoadError, match="TensorRT engine but TensorRT cannot run here"):
            create_engine("auto", plan)
