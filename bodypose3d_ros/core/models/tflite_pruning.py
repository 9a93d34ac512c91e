"""Drop the outputs of a TFLite network that we never read, and the operators only they need.

BlazePose's landmark network computes a 256 x 256 person segmentation mask beside its landmarks.
We never use the mask, yet its decoder (a few convolutions and two bilinear resizes up to the
full input size) took about 40 % of every run on the 2-vCPU machine. The runtime runs every
operator of the graph whatever outputs the caller reads, so the graph is cut instead: the
unwanted outputs leave the graph's output list and every operator that no remaining output
depends on goes with them. What remains is the same operators on the same weights, so the kept
outputs are bit-identical to the full network's (``test_tflite_pruning`` holds it). The checked
file on disk is never modified: the pruned graph only lives in memory.

The flatbuffer is read and written with the TFLite schema bindings that ship with
ai-edge-litert (``ai_edge_litert.schema_py_generated``) and the ``flatbuffers`` package, a
dependency of ai-edge-litert.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

import flatbuffers

from bodypose3d_ros.core.engines.base import ModelLoadError

TFLITE_FILE_IDENTIFIER: Final = b"TFL3"


def drop_outputs(model: bytes, unwanted_shapes: Collection[tuple[int, ...]]) -> bytes:
    """The TFLite network ``model`` without its outputs of the ``unwanted_shapes`` (batch
    dimension included) and without the operators only they need.

    Raises ModelLoadError when the bytes are not a TFLite network, when it has no output of one
    of the shapes (the file is not the network the caller expects), or when nothing would be
    left.
    """
    from ai_edge_litert import schema_py_generated as schema

    try:
        if not schema.Model.ModelBufferHasIdentifier(model, 0):
            raise ValueError("no TFLite file identifier")
        graph = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
    except Exception as exc:  # a damaged flatbuffer raises anything from struct to IndexError
        raise ModelLoadError(f"not a TFLite network ({type(exc).__name__}: {exc})") from exc
    if not graph.subgraphs:
        raise ModelLoadError("not a TFLite network (no subgraph)")
    main = graph.subgraphs[0]
    shapes = {int(i): tuple(int(d) for d in main.tensors[i].shape) for i in main.outputs}
    missing = [shape for shape in unwanted_shapes if shape not in shapes.values()]
    if missing:
        raise ModelLoadError(
            f"the network has no output of shape {missing[0]} (its outputs: "
            f"{sorted(shapes.values())})"
        )
    kept = [i for i, shape in shapes.items() if shape not in unwanted_shapes]
    if not kept:
        raise ModelLoadError("dropping those outputs would leave the network with none")
    needed = _operators_needed(main, kept)
    main.operators = [op for k, op in enumerate(main.operators) if k in needed]
    main.outputs = kept
    builder = flatbuffers.Builder(len(model) + 4096)
    builder.Finish(graph.Pack(builder), file_identifier=TFLITE_FILE_IDENTIFIER)
    return bytes(builder.Output())


def _operators_needed(subgraph: object, outputs: list[int]) -> set[int]:
    """Indices of the operators that the tensors ``outputs`` depend on, walking back from them."""
    operators = subgraph.operators  # type: ignore[attr-defined]
    producer = {int(t): k for k, op in enumerate(operators) for t in _indices(op.outputs)}
    needed: set[int] = set()
    todo = [producer[t] for t in outputs if t in producer]
    while todo:
        k = todo.pop()
        if k in needed:
            continue
        needed.add(k)
        todo.extend(producer[t] for t in _indices(operators[k].inputs) if t in producer)
    return needed


def _indices(tensors: object) -> list[int]:
    """A tensor index list of the schema bindings (a NumPy array, a list or None) as ints."""
    return [] if tensors is None else [int(t) for t in tensors]  # type: ignore[attr-defined]
