"""TEST FIXTURE: a tiny ONNX network with BodyPose3DNet's exact inputs and outputs.

This is NOT a pose model. It exists so tests can drive our own plumbing (crop, colour order,
normalisation, batching, engines, the adapter) end to end with outputs that are known in
advance, because the real network's weights are not redistributable.

Semantics, per batch row (crop pixel coordinates: integer = pixel centre, 192x256 crop):

* Keypoint ``k`` looks only at its own window of the crop (``keypoint_window(k)``; a 6x6 grid of
  32-pixel-wide cells, rows 0..5 top to bottom) and only at input channel ``k % 3``
  (``keypoint_channel(k)``).
* ``w = max(input0[channel] - THRESHOLD, 0)`` inside the window. ``x, y`` = the ``w``-weighted
  centroid of pixel coordinates; ``confidence = sum(w) / REFERENCE_MASS`` (not clipped: a big
  blob exceeds 1). An empty window gives ``x = y = confidence = 0``.
  Under ``bgr_unit`` a pure blue, green and red blob lights channel 0, 1 and 2 respectively;
  under ``rgb_mean`` channel 0 is red.
* ``zRel_k = Z_REL_TABLE[k] * scale_normalized_mean_limb_lengths[slot 2]`` (slot 2, pelvis-neck,
  is 1.0 in the real table, so zRel equals the table when the row was filled, 0 when not).
* ``pose2d = [x, y, conf]``, ``pose25d = [x, y, zRel, conf]``.
* ``pose2d_org_img = [(t_form_inv @ [x, y, 1])[:2], conf]`` computed in the graph.
* ``pose3d = (k_inv @ [x, y, 1]) * (zRel + mean_limb_lengths[slot 2] * DEPTH_PER_MM)``.

The last two prove that every row received its own ``t_form_inv`` and ``k_inv``.
Run ``python -m bodypose3d_ros.testing.contract_model OUT.onnx`` to write the file.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from bodypose3d_ros.core.engines.bodypose3dnet_io import BATCH, INPUT_SPECS, OUTPUT_SPECS, Dim
from bodypose3d_ros.core.models.bodypose3dnet_crop import CROP_HEIGHT, CROP_WIDTH
from bodypose3d_ros.core.skeleton import NUM_KEYPOINTS

OPSET: Final = 17
IR_VERSION: Final = 8  # the IR that goes with opset 17: readable by older runtimes and TensorRT
GRID_COLUMNS: Final = 6
GRID_ROWS: Final = 6
THRESHOLD: Final = 0.25
REFERENCE_MASS: Final = 25.0
DEPTH_PER_MM: Final = 0.01
LIMB_SLOT_PELVIS_NECK: Final = 2
# A fixed zRel per keypoint (pelvis 0), distinct enough to catch a keypoint mix-up.
Z_REL_TABLE: Final[npt.NDArray[np.float32]] = (
    0.3 * np.sin(np.arange(NUM_KEYPOINTS, dtype=np.float64))
).astype(np.float32)

_COLUMN_EDGES: Final = np.round(np.linspace(0, CROP_WIDTH, GRID_COLUMNS + 1)).astype(int)
_ROW_EDGES: Final = np.round(np.linspace(0, CROP_HEIGHT, GRID_ROWS + 1)).astype(int)
_EPSILON: Final = 1e-6
_ONE: Final = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
_ZERO: Final = helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])


def keypoint_window(k: int) -> tuple[int, int, int, int]:
    """Crop-pixel window ``(x0, y0, x1, y1)`` (half-open) that keypoint ``k`` looks at."""
    if not 0 <= k < NUM_KEYPOINTS:
        raise ValueError(f"keypoint index out of range: {k}")
    row, column = divmod(k, GRID_COLUMNS)
    return (
        int(_COLUMN_EDGES[column]),
        int(_ROW_EDGES[row]),
        int(_COLUMN_EDGES[column + 1]),
        int(_ROW_EDGES[row + 1]),
    )


def keypoint_channel(k: int) -> int:
    """The ``input0`` channel keypoint ``k`` reads (0, 1 or 2)."""
    return k % 3


def _weight_tables() -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Column table (W, 3K) = [mask, mask*x, mask]; row table (3, H, 3K) = [m, m, m*y] by channel.

    ``sum_{c,y} rows * (w @ columns)`` then gives mass, x-moment and y-moment for every keypoint.
    """
    columns = np.zeros((CROP_WIDTH, 3 * NUM_KEYPOINTS), dtype=np.float32)
    rows = np.zeros((3, CROP_HEIGHT, 3 * NUM_KEYPOINTS), dtype=np.float32)
    xs = np.arange(CROP_WIDTH, dtype=np.float32)
    ys = np.arange(CROP_HEIGHT, dtype=np.float32)
    for k in range(NUM_KEYPOINTS):
        x0, y0, x1, y1 = keypoint_window(k)
        in_x = ((xs >= x0) & (xs < x1)).astype(np.float32)
        in_y = ((ys >= y0) & (ys < y1)).astype(np.float32)
        columns[:, [k, NUM_KEYPOINTS + k, 2 * NUM_KEYPOINTS + k]] = np.stack(
            [in_x, in_x * xs, in_x], axis=1
        )
        c = keypoint_channel(k)
        rows[c, :, [k, NUM_KEYPOINTS + k, 2 * NUM_KEYPOINTS + k]] = np.stack(
            [in_y, in_y, in_y * ys]
        )
    return columns, rows


def _value_info(name: str, shape: Sequence[Dim], batch: Dim) -> onnx.ValueInfoProto:
    dims = [batch, *shape[1:]]
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def _const(name: str, value: npt.ArrayLike, dtype: type[np.generic] = np.float32) -> onnx.NodeProto:
    tensor = numpy_helper.from_array(np.asarray(value, dtype=dtype), name=name)
    return helper.make_node("Constant", [], [name], value=tensor)


def build_contract_model(batch: int | str = BATCH) -> onnx.ModelProto:
    """The fixture as an in-memory ONNX model; an int ``batch`` fixes the batch size."""
    columns, rows = _weight_tables()
    n = NUM_KEYPOINTS
    nodes = [
        _const("threshold", THRESHOLD),
        _const("columns", columns),
        _const("rows", rows),
        _const("reduce_axes", [1, 2], np.int64),
        _const("split_sizes", [n, n, n], np.int64),
        _const("epsilon", _EPSILON),
        _const("inv_reference_mass", 1.0 / REFERENCE_MASS),
        _const("z_table", Z_REL_TABLE),
        _const("slot", [LIMB_SLOT_PELVIS_NECK], np.int64),
        _const("depth_per_mm", DEPTH_PER_MM),
        _const("last_axis", [-1], np.int64),
        _const("xy_start", [0], np.int64),
        _const("xy_end", [2], np.int64),
        # Thresholded intensities, then mass / x-moment / y-moment of every keypoint window.
        helper.make_node("Sub", ["input0", "threshold"], ["shifted"]),
        helper.make_node("Relu", ["shifted"], ["weights"]),
        helper.make_node("MatMul", ["weights", "columns"], ["column_sums"]),  # N,3,H,3K
        helper.make_node("Mul", ["column_sums", "rows"], ["weighted"]),
        helper.make_node("ReduceSum", ["weighted", "reduce_axes"], ["moments"], keepdims=0),
        helper.make_node("Split", ["moments", "split_sizes"], ["mass", "mx", "my"], axis=1),
        helper.make_node("Add", ["mass", "epsilon"], ["mass_safe"]),
        helper.make_node("Div", ["mx", "mass_safe"], ["x"]),
        helper.make_node("Div", ["my", "mass_safe"], ["y"]),
        helper.make_node("Mul", ["mass", "inv_reference_mass"], ["confidence"]),
        # zRel and depth from the per-row limb tables.
        helper.make_node(
            "Gather", ["scale_normalized_mean_limb_lengths", "slot"], ["unit"], axis=1
        ),
        helper.make_node("Mul", ["z_table", "unit"], ["z_rel"]),
        helper.make_node("Gather", ["mean_limb_lengths", "slot"], ["pelvis_neck_mm"], axis=1),
        helper.make_node("Mul", ["pelvis_neck_mm", "depth_per_mm"], ["root_depth"]),
        helper.make_node("Add", ["z_rel", "root_depth"], ["depth"]),
        helper.make_node("Shape", ["x"], ["x_shape"]),
        helper.make_node("ConstantOfShape", ["x_shape"], ["ones"], value=_ONE),
        *[
            helper.make_node("Unsqueeze", [name, "last_axis"], [f"{name}_col"])
            for name in ("x", "y", "ones", "confidence", "z_rel", "depth")
        ],
        helper.make_node("Concat", ["x_col", "y_col", "ones_col"], ["homogeneous"], axis=-1),
        # Per-row 3x3 transforms: rows of the result are (M @ [x, y, 1])^T = [x, y, 1] @ M^T.
        helper.make_node("Transpose", ["t_form_inv"], ["t_form_t"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["homogeneous", "t_form_t"], ["image_h"]),
        helper.make_node("Slice", ["image_h", "xy_start", "xy_end", "last_axis"], ["image_xy"]),
        helper.make_node("Transpose", ["k_inv"], ["k_inv_t"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["homogeneous", "k_inv_t"], ["rays"]),
        helper.make_node("Mul", ["rays", "depth_col"], ["pose3d"]),
        helper.make_node("Concat", ["x_col", "y_col", "confidence_col"], ["pose2d"], axis=-1),
        helper.make_node("Concat", ["image_xy", "confidence_col"], ["pose2d_org_img"], axis=-1),
        helper.make_node(
            "Concat", ["x_col", "y_col", "z_rel_col", "confidence_col"], ["pose25d"], axis=-1
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "bodypose3dnet_contract_fixture",
        [_value_info(s.name, s.shape, batch) for s in INPUT_SPECS],
        [_value_info(s.name, s.shape, batch) for s in OUTPUT_SPECS],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="bodypose3d_ros.testing.contract_model",
        doc_string="TEST FIXTURE with BodyPose3DNet's I/O; not a pose model.",
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def write_contract_model(path: str | Path, batch: int | str = BATCH) -> Path:
    """Write the fixture to ``path`` (parents created) and return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(build_contract_model(batch), str(out))
    return out


def write_signature_model(
    path: str | Path,
    inputs: Mapping[str, Sequence[Dim]],
    outputs: Mapping[str, Sequence[Dim]],
) -> Path:
    """Write a model with exactly the given I/O signature whose outputs are all zeros.

    For testing how loaders react to wrong tensor names or shapes. Output dims must be fixed
    except a leading ``"batch"``, which follows the first input's batch size.
    """
    first = next(iter(inputs))
    nodes = [
        helper.make_node("Shape", [first], ["batch_size"], start=0, end=1),
    ]
    for name, shape in outputs.items():
        rest = [int(d) for d in shape[1:] if isinstance(d, int)]
        nodes += [
            _const(f"{name}_rest", rest, np.int64),
            helper.make_node("Concat", ["batch_size", f"{name}_rest"], [f"{name}_shape"], axis=0),
            helper.make_node("ConstantOfShape", [f"{name}_shape"], [name], value=_ZERO),
        ]
    graph = helper.make_graph(
        nodes,
        "io_signature_fixture",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in inputs.items()],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in outputs.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    out = Path(path)
    onnx.save(model, str(out))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write the BodyPose3DNet-shaped TEST FIXTURE network (not a pose model)."
    )
    parser.add_argument("output", type=Path, help="where to write the .onnx file")
    parser.add_argument(
        "--batch", type=int, default=None, help="fix the batch size (default: dynamic)"
    )
    args = parser.parse_args(argv)
    path = write_contract_model(args.output, args.batch if args.batch else BATCH)
    print(f"wrote test fixture {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
