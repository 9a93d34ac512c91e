"""TEST FIXTURE SERVER: a real Triton Inference Server serving an ONNX file through ONNX Runtime.

Runs in the separate Python 3.13 environment made by ``tools/setup-triton-server-env`` (PyPI's
``nvidia-pytriton`` bundles ``tritonserver``; its Python backend needs 3.13), by path, so it
imports nothing from this package:

    .cache/triton-server-venv/bin/python bodypose3d_ros/testing/pytriton_serve.py \
        --model bodypose3dnet=contract.onnx --grpc-port 8001 --http-port 8000 --metrics-port 8002

Each ``--model NAME=FILE`` is bound under NAME with the ONNX file's own tensor names and per-row
shapes (its first dimension is the batch), dynamic batching up to ``--max-batch`` rows. Serving
the BodyPose3DNet-shaped contract fixture makes the server look like one serving BodyPose3DNet to
the client; serving a file with other tensor names makes a wrong model. Blocks until killed; kill
its whole process group (``tritonserver`` is a child process).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

# ONNX Runtime sends telemetry unless this is set before it loads (bodypose3d_ros.no_telemetry;
# this script imports nothing from the package). A value the user set is kept.
if not os.environ.get("ORT_DISABLE_TELEMETRY"):
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"

_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int64)": np.int64}


def _row_shape(shape: Sequence[Any]) -> tuple[int, ...]:
    """The ONNX shape without its batch dimension; symbolic sizes become -1 (dynamic)."""
    return tuple(d if isinstance(d, int) and d > 0 else -1 for d in shape[1:])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", action="append", required=True, metavar="NAME=FILE.onnx")
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--grpc-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--metrics-port", type=int, required=True)
    parser.add_argument("--workspace", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    parser.add_argument("--delay-s", type=float, default=0.0, help="answer this much later (slow)")
    parser.add_argument(
        "--slow-rows", type=int, default=0, help="delay only batches of at least this many rows"
    )
    args = parser.parse_args(argv)

    import onnxruntime as ort
    from pytriton.decorators import batch
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig, TritonSecurityConfig

    logging.basicConfig(level=logging.WARNING)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads

    def serving(path: str) -> tuple[Any, Any]:
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        output_names = [o.name for o in session.get_outputs()]

        @batch  # type: ignore[untyped-decorator,unused-ignore]
        def infer(**inputs: np.ndarray) -> dict[str, np.ndarray]:
            feeds = {name: np.ascontiguousarray(value) for name, value in inputs.items()}
            rows = len(next(iter(feeds.values())))
            if args.delay_s > 0 and rows >= args.slow_rows:
                print(f"delaying the answer to {rows} rows by {args.delay_s} s", flush=True)
                time.sleep(args.delay_s)  # an overloaded server, for timeout tests
            return dict(zip(output_names, session.run(output_names, feeds), strict=True))

        return session, infer

    def tensors(args_: Sequence[Any]) -> list[Any]:
        return [
            Tensor(name=a.name, dtype=_TYPES.get(a.type, np.float32), shape=_row_shape(a.shape))
            for a in args_
        ]

    config = TritonConfig(
        grpc_address="127.0.0.1",
        grpc_port=args.grpc_port,
        http_address="127.0.0.1",
        http_port=args.http_port,
        metrics_port=args.metrics_port,
        exit_on_error=True,
    )
    # Like a stock tritonserver: no endpoint behind an access token (pytriton restricts shared
    # memory and the repository index by default). It listens on loopback only.
    security = TritonSecurityConfig(restricted_endpoints=[])
    with Triton(config=config, workspace=args.workspace, security_config=security) as triton:
        for entry in args.model:
            name, _, path = entry.partition("=")
            session, infer = serving(path)
            triton.bind(
                model_name=name,
                infer_func=infer,
                inputs=tensors(session.get_inputs()),
                outputs=tensors(session.get_outputs()),
                config=ModelConfig(max_batch_size=args.max_batch, batcher=DynamicBatcher()),
                strict=False,
            )
            print(f"serving {path} as {name} on grpc port {args.grpc_port}", flush=True)
        triton.serve()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
