"""Engines that take only some batch sizes (static-batch ONNX / TensorRT engines, TensorRT
profiles with a minimum above 1) are padded up to a size they accept; the padding's outputs are
dropped. The TensorRT engine runs exactly this helper around its device copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from test_engines import _feeds

from bodypose3d_ros.core.engines.base import Tensor, run_in_batches
from bodypose3d_ros.core.engines.batch_padding import BatchRange, drop_padding, pad_rows, run_padded
from bodypose3d_ros.core.engines.onnxruntime_engine import OnnxRuntimeEngine
from bodypose3d_ros.testing.contract_model import write_contract_model


@pytest.mark.parametrize(
    ("static", "lo", "hi", "expected"),
    [(4, -1, -1, (4, 4)), (-1, 1, 8, (1, 8)), (-1, 2, 6, (2, 6)), (8, 1, 8, (8, 8))],
)
def test_batch_range_of_static_and_dynamic_engines(
    static: int, lo: int, hi: int, expected: tuple[int, int]
) -> None:
    batch_range = BatchRange.of_engine(static, lo, hi)
    assert (batch_range.smallest, batch_range.largest) == expected
    assert batch_range.is_static == (expected[0] == expected[1])


def test_rows_per_call_pads_up_to_the_smallest_accepted_size() -> None:
    static = BatchRange(4, 4)
    assert [static.rows_per_call(n) for n in (1, 2, 3, 4)] == [4, 4, 4, 4]
    profile = BatchRange(2, 8)
    assert [profile.rows_per_call(n) for n in (1, 2, 5, 8)] == [2, 2, 5, 8]
    for bad in (0, 5):
        with pytest.raises(ValueError, match="rows"):
            static.rows_per_call(bad)
    with pytest.raises(ValueError, match="batch range"):
        BatchRange(3, 2)


def test_pad_rows_appends_zero_rows_and_keeps_the_real_ones() -> None:
    feeds = {"a": np.arange(6, dtype=np.float64).reshape(2, 3), "b": np.ones((2, 2, 2))}
    padded = pad_rows(feeds, 5)  # type: ignore[arg-type]
    assert padded["a"].shape == (5, 3)
    assert padded["b"].shape == (5, 2, 2)
    assert padded["a"].dtype == np.float32
    assert padded["a"].flags.c_contiguous
    np.testing.assert_array_equal(padded["a"][:2], feeds["a"])
    assert not padded["a"][2:].any()
    assert not padded["b"][2:].any()
    with pytest.raises(ValueError, match="cannot pad"):
        pad_rows(feeds, 1)  # type: ignore[arg-type]
    kept = drop_padding({"out": np.arange(10.0).reshape(5, 2)}, 2)  # type: ignore[dict-item]
    np.testing.assert_array_equal(kept["out"], [[0, 1], [2, 3]])


@pytest.fixture(scope="module")
def static_batch4_session(tmp_path_factory: pytest.TempPathFactory) -> ort.InferenceSession:
    path = write_contract_model(tmp_path_factory.mktemp("static") / "b4.onnx", batch=4)
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_a_static_batch_engine_refuses_fewer_rows_without_padding(
    static_batch4_session: ort.InferenceSession,
) -> None:
    """What TensorRT's set_input_shape does on a static engine, as ONNX Runtime does it here."""
    with pytest.raises(Exception, match=r"(?i)dimension|shape"):
        static_batch4_session.run(None, _feeds(3))


@pytest.mark.parametrize("people", [1, 3, 4, 6, 9])
def test_fewer_people_than_a_static_batch_are_padded_and_only_theirs_returned(
    static_batch4_session: ort.InferenceSession, tmp_path: Path, people: int
) -> None:
    calls: list[int] = []
    names = [o.name for o in static_batch4_session.get_outputs()]

    def exact_batch_engine(feeds: dict[str, Tensor]) -> dict[str, Tensor]:
        calls.append(len(feeds["input0"]))
        outputs = static_batch4_session.run(names, feeds)
        return dict(zip(names, outputs, strict=True))

    feeds = _feeds(people, seed=people)
    got = run_in_batches(
        lambda chunk: run_padded(exact_batch_engine, chunk, BatchRange(4, 4)), feeds, 4
    )
    assert calls == [4] * -(-people // 4)  # every call is a full static batch
    dynamic = OnnxRuntimeEngine(write_contract_model(tmp_path / "dynamic.onnx"))
    reference = dynamic.run(feeds)
    assert set(got) == set(reference)
    for name, value in reference.items():
        assert got[name].shape == value.shape  # exactly one output row per person
        np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-5)
