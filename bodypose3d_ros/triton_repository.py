"""Write a Triton Inference Server model repository for a BodyPose3DNet ONNX file.

    python -m bodypose3d_ros.triton_repository --onnx bodypose3dnet_performance.onnx --out repo/ \
        [--platform onnxruntime|tensorrt] [--max-batch 8] [--name bodypose3dnet]

gives ``repo/<name>/config.pbtxt`` (the five inputs, four outputs, dynamic batching) and
``repo/<name>/1/model.onnx``, the layout Triton loads. The file's tensors are checked against
BodyPose3DNet's first, so a wrong file fails here rather than on the server.

``--platform tensorrt`` keeps the ONNX file and asks Triton's ONNX Runtime backend to run it
through TensorRT (fp16): the server builds the engine for its own GPU and TensorRT version on
first load, which a plan file written on another machine could not guarantee.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from bodypose3d_ros.core.engines.base import ModelLoadError
from bodypose3d_ros.core.engines.bodypose3dnet_io import (
    INPUT_SPECS,
    OUTPUT_SPECS,
    TensorSpec,
    check_model_file,
)
from bodypose3d_ros.core.engines.triton_engine import DEFAULT_MODEL

PLATFORMS: Final = ("onnxruntime", "tensorrt")
MODEL_FILE: Final = "model.onnx"
VERSION: Final = "1"
QUEUE_DELAY_US: Final = 500
# NumPy element types -> Triton's model-config names.
_CONFIG_TYPES: Final = {"float32": "TYPE_FP32", "float16": "TYPE_FP16"}


def _tensor_block(spec: TensorSpec, batch: int | None) -> str:
    """One ``{ name, data_type, dims }`` entry; dims without the batch unless it is fixed."""
    rest = [str(d) for d in spec.shape[1:]]
    dims = ([str(batch)] if batch else []) + rest
    return (
        f'  {{\n    name: "{spec.name}"\n    data_type: {_CONFIG_TYPES[spec.dtype]}\n'
        f"    dims: [ {', '.join(dims)} ]\n  }}"
    )


def model_config(
    name: str = DEFAULT_MODEL, platform: str = "onnxruntime", max_batch: int = 8,
    fixed_batch: int | None = None,
) -> str:  # fmt: skip
    """The ``config.pbtxt`` text.

    A model with a dynamic batch gets ``max_batch_size`` and dynamic batching (requests from
    several cameras arriving together run as one batch); a file fixed to one batch size is
    served as it is (``max_batch_size: 0``, the batch in the dims).
    """
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}; valid: {', '.join(PLATFORMS)}")
    if max_batch < 1:
        raise ValueError(f"max batch must be >= 1, got {max_batch}")
    lines = [
        f'name: "{name}"',
        'platform: "onnxruntime_onnx"',
        f"max_batch_size: {0 if fixed_batch else max_batch}",
        "input [",
        ",\n".join(_tensor_block(s, fixed_batch) for s in INPUT_SPECS),
        "]",
        "output [",
        ",\n".join(_tensor_block(s, fixed_batch) for s in OUTPUT_SPECS),
        "]",
    ]
    if not fixed_batch:
        lines.append(f"dynamic_batching {{\n  max_queue_delay_microseconds: {QUEUE_DELAY_US}\n}}")
    if platform == "tensorrt":
        lines.append(
            "optimization {\n  execution_accelerators {\n    gpu_execution_accelerator: [\n"
            '      {\n        name: "tensorrt"\n'
            '        parameters { key: "precision_mode" value: "FP16" }\n'
            '        parameters { key: "trt_engine_cache_enable" value: "true" }\n'
            "      }\n    ]\n  }\n}"
        )
    return "\n".join(lines) + "\n"


def checked_fixed_batch(onnx_path: Path) -> int | None:
    """Check the file's tensors against BodyPose3DNet; its fixed batch size, or None if dynamic."""
    from bodypose3d_ros.core.engines.onnxruntime_engine import OnnxRuntimeEngine

    engine = OnnxRuntimeEngine(onnx_path)  # raises ModelLoadError naming what does not match
    try:
        return engine.fixed_batch
    finally:
        engine.close()


def write_repository(
    onnx_path: str | Path,
    out: str | Path,
    platform: str = "onnxruntime",
    max_batch: int = 8,
    name: str = DEFAULT_MODEL,
) -> Path:
    """Write ``out/name/config.pbtxt`` and ``out/name/1/model.onnx``; returns the model folder."""
    source = check_model_file(onnx_path)
    fixed_batch = checked_fixed_batch(source)
    config = model_config(name, platform, max_batch, fixed_batch)
    folder = Path(out) / name
    (folder / VERSION).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, folder / VERSION / MODEL_FILE)
    (folder / "config.pbtxt").write_text(config)
    return folder


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bodypose3d_ros.triton_repository",
        description="Write a Triton model repository serving a BodyPose3DNet ONNX file.",
    )
    parser.add_argument("--onnx", required=True, type=Path, help="BodyPose3DNet .onnx file")
    parser.add_argument("--out", required=True, type=Path, help="repository folder")
    parser.add_argument("--platform", choices=PLATFORMS, default="onnxruntime")
    parser.add_argument("--max-batch", type=int, default=8, help="most people per request")
    parser.add_argument("--name", default=DEFAULT_MODEL, help="model name (triton_model)")
    args = parser.parse_args(argv)
    if args.max_batch < 1:
        parser.error("--max-batch must be >= 1")
    try:
        folder = write_repository(args.onnx, args.out, args.platform, args.max_batch, args.name)
    except ModelLoadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {folder}/config.pbtxt and {folder}/{VERSION}/{MODEL_FILE}")
    print(
        f"serve it: docker run --rm -p 8001:8001 -v {Path(args.out).resolve()}:/models "
        "nvcr.io/nvidia/tritonserver:<yy.mm>-py3 tritonserver --model-repository=/models"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
