"""Feeding engines that accept only some batch sizes: pad the rows up, drop the padding after.

A static-batch model (an ONNX file or a TensorRT ``.engine`` exported for exactly N rows) and a
TensorRT optimisation profile whose minimum is above 1 both refuse a call with fewer people than
they were built for. The rows are padded with zeros up to the smallest size the engine takes, and
the padded rows' outputs are dropped, so every engine serves 1..max people. Pure NumPy, so the
rule is tested without TensorRT.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from bodypose3d_ros.core.engines.base import Tensor, batch_size_of


@dataclass(frozen=True)
class BatchRange:
    """The batch sizes one engine call accepts: ``smallest``..``largest`` rows."""

    smallest: int
    largest: int

    def __post_init__(self) -> None:
        if not 1 <= self.smallest <= self.largest:
            raise ValueError(f"invalid engine batch range {self.smallest}..{self.largest}")

    @classmethod
    def of_engine(cls, static_batch: int, profile_min: int, profile_max: int) -> BatchRange:
        """The range of an engine whose input batch dimension is ``static_batch`` (-1: dynamic,
        then the optimisation profile's ``profile_min``..``profile_max`` rows apply)."""
        if static_batch > 0:
            return cls(static_batch, static_batch)
        return cls(profile_min, profile_max)

    @property
    def is_static(self) -> bool:
        return self.smallest == self.largest

    def rows_per_call(self, rows: int) -> int:
        """How many rows the engine is called with to serve ``rows`` people (>= rows)."""
        if not 1 <= rows <= self.largest:
            raise ValueError(f"{rows} rows do not fit this engine (at most {self.largest})")
        return max(rows, self.smallest)


def pad_rows(feeds: Mapping[str, Tensor], rows: int) -> dict[str, Tensor]:
    """Every input with zero rows appended up to ``rows`` (contiguous float32, ready for C)."""
    have = batch_size_of(feeds)
    if rows < have:
        raise ValueError(f"cannot pad {have} rows down to {rows}")
    padded: dict[str, Tensor] = {}
    for name, value in feeds.items():
        array = np.ascontiguousarray(value, dtype=np.float32)
        if rows > have:
            array = np.concatenate([array, np.zeros((rows - have, *array.shape[1:]), np.float32)])
        padded[name] = array
    return padded


def drop_padding(outputs: Mapping[str, Tensor], rows: int) -> dict[str, Tensor]:
    """The outputs of the first ``rows`` (real) rows only."""
    return {name: np.asarray(value, dtype=np.float32)[:rows] for name, value in outputs.items()}


def run_padded(
    run_rows: Callable[[dict[str, Tensor]], Mapping[str, Tensor]],
    feeds: Mapping[str, Tensor],
    batch_range: BatchRange,
) -> dict[str, Tensor]:
    """``run_rows`` (an engine call that takes only ``batch_range`` sizes) on ``feeds``' rows:
    padded up to a size it accepts, and only the real rows' outputs returned."""
    rows = batch_size_of(feeds)
    outputs = run_rows(pad_rows(feeds, batch_range.rows_per_call(rows)))
    return drop_padding(outputs, rows)
