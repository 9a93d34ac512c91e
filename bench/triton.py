"""Part 6: BodyPose3DNet served by a Triton Inference Server on loopback vs in-process.

What the serving hop costs: one frame's ``BodyPose3DNetModel.estimate`` (crop, engine, decode)
with 1 and 8 people through in-process ONNX Runtime, through Triton with tensors in system
shared memory, and through Triton with tensors inside the gRPC messages — interleaved in one
loop, so all three see the same machine state.

What sharing gives: 1, 2 and 4 client processes, each running the BodyPose3DNet path as fast as
it can against one server, and the same number of processes each with its own in-process ONNX
Runtime; the total frame rate of each.

The network is the contract TEST FIXTURE (BodyPose3DNet's I/O, tiny compute), served by
PyPI's pytriton: Triton with a Python backend that hands each batch to ONNX Runtime in another
process. The serving hop measured here therefore includes that extra process hop; Triton's
native ONNX Runtime or TensorRT backend on a GPU box skips it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import Frame, median_ms, percentile_ms, resolution_key
from bodypose3d_ros.core.camera.intrinsics import default_intrinsics
from bodypose3d_ros.core.engines.base import InferenceEngine
from bodypose3d_ros.core.engines.onnxruntime_engine import OnnxRuntimeEngine
from bodypose3d_ros.core.engines.triton_engine import TritonEngine, TritonSettings
from bodypose3d_ros.core.models.bodypose3dnet import BodyPose3DNetModel
from bodypose3d_ros.core.types import Box
from bodypose3d_ros.testing.contract_model import write_contract_model
from bodypose3d_ros.testing.triton_server import (
    ServerEnvironmentMissingError,
    TritonTestServer,
    server_python,
)

SIZE = (1280, 720)
PEOPLE = (1, 8)
PROCESS_COUNTS = (1, 2, 4)
ENGINES = ("onnxruntime", "triton_shm", "triton_grpc")
NETWORK = "contract TEST FIXTURE (BodyPose3DNet's I/O, not a pose model)"


def people_boxes(count: int, width: int = SIZE[0], height: int = SIZE[1]) -> list[Box]:
    """``count`` person-sized boxes side by side across the frame."""
    step = width / count
    return [
        Box(i * step + 0.1 * step, 0.1 * height, 0.8 * step, 0.8 * height) for i in range(count)
    ]


def make_engine(kind: str, onnx: Path, url: str) -> InferenceEngine:
    if kind == "onnxruntime":
        return OnnxRuntimeEngine(onnx, intra_op_threads=1)
    return TritonEngine(TritonSettings(url, shared_memory=kind == "triton_shm"))


def measure_latency(
    frame: Frame, onnx: Path, url: str, warmup: int, reps: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Median and p95 per-frame time [ms] of each engine at each people count."""
    intrinsics = default_intrinsics(frame.shape[1], frame.shape[0])
    models = {kind: BodyPose3DNetModel(make_engine(kind, onnx, url)) for kind in ENGINES}
    if not models["triton_shm"].engine.shared_memory:  # type: ignore[attr-defined]
        raise RuntimeError("shared memory was refused by a server on this machine")
    samples: dict[str, dict[int, list[float]]] = {k: {n: [] for n in PEOPLE} for k in ENGINES}
    try:
        log(f"  latency: {', '.join(ENGINES)} x {PEOPLE} people, {reps} frames each")
        for i in range(warmup + reps):
            for n in PEOPLE:
                boxes = people_boxes(n)
                # Each engine goes first, second and third equally often: a fixed order would
                # hand one of them the caches (and the server's idle state) the others leave.
                order = ENGINES[i % len(ENGINES) :] + ENGINES[: i % len(ENGINES)]
                for kind in order:
                    model = models[kind]
                    t0 = time.perf_counter()
                    poses = model.estimate(frame, boxes, intrinsics)
                    elapsed = time.perf_counter() - t0
                    if len(poses) != n:
                        raise RuntimeError(f"{kind}: {n} people gave {len(poses)} poses")
                    if i >= warmup:
                        samples[kind][n].append(elapsed)
        description = models["triton_shm"].description
    finally:
        for model in models.values():
            model.close()
    out: dict[str, Any] = {"triton_engine": description}
    for n in PEOPLE:
        row: dict[str, Any] = {
            kind: {
                "median_ms": median_ms(samples[kind][n]),
                "p95_ms": percentile_ms(samples[kind][n], 95),
            }
            for kind in ENGINES
        }
        local = row["onnxruntime"]["median_ms"]
        row["hop_ms_shm"] = row["triton_shm"]["median_ms"] - local
        row["hop_ms_grpc"] = row["triton_grpc"]["median_ms"] - local
        row["shm_speedup"] = row["triton_grpc"]["median_ms"] / row["triton_shm"]["median_ms"]
        out[f"people{n}"] = row
    return out


def _clients(count: int, kind: str, onnx: Path, url: str, seconds: float, people: int) -> float:
    """Total frames per second of ``count`` client processes running at once."""
    command = [sys.executable, "-m", "bench.triton_client", f"--engine={kind}", f"--onnx={onnx}",
               f"--url={url}", f"--seconds={seconds}", f"--people={people}"]  # fmt: skip
    processes = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    try:
        for process in processes:  # every client loaded and warmed up before any starts
            assert process.stdout is not None
            line = process.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"a benchmark client failed to start: {line!r}")
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        reports = []
        for process in processes:
            assert process.stdout is not None
            reports.append(json.loads(process.stdout.readline()))
            process.wait(timeout=60)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return float(sum(r["frames"] / r["seconds"] for r in reports))


def measure_sharing(
    onnx: Path, url: str, seconds: float, people: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Total rate of N processes sharing the server vs N processes with their own runtime."""
    out: dict[str, Any] = {"people_per_frame": people, "seconds": seconds}
    for count in PROCESS_COUNTS:
        shared = _clients(count, "triton_shm", onnx, url, seconds, people)
        own = _clients(count, "onnxruntime", onnx, url, seconds, people)
        log(f"  {count} process(es): {shared:.1f} frames/s via one server, {own:.1f} in-process")
        out[f"processes{count}"] = {
            "triton_total_hz": shared,
            "onnxruntime_total_hz": own,
            "triton_to_onnxruntime": shared / own,
        }
    base = out["processes1"]["triton_total_hz"]
    for count in PROCESS_COUNTS:
        out[f"processes{count}"]["triton_scaling"] = (
            out[f"processes{count}"]["triton_total_hz"] / base
        )
    return out


def measure_triton(
    frame: Frame,
    warmup: int,
    reps: int,
    seconds: float,
    log: Callable[[str], None] = print,
    build_server: bool = True,
) -> dict[str, Any]:
    """Start a loopback server on the fixture, measure the hop and the sharing, stop it.

    Without ``build_server`` (quick runs) a server environment that is not built yet is not
    built (minutes): the part is skipped, saying so.
    """
    try:
        python = server_python(build=build_server)
    except ServerEnvironmentMissingError as missing:
        log(f"  triton part skipped: {missing}")
        return {"skipped": str(missing)}
    with tempfile.TemporaryDirectory(prefix="bodypose3d_bench_triton_") as tmp:
        onnx = write_contract_model(Path(tmp) / "contract_fixture.onnx")
        server = TritonTestServer(python, {"bodypose3dnet": onnx}, Path(tmp) / "server")
        log("  starting Triton (pytriton) on loopback")
        server.start()
        try:
            results: dict[str, Any] = {
                "network": NETWORK,
                "server": "tritonserver from nvidia-pytriton, Python backend -> ONNX Runtime "
                "(CPU, 1 thread), loopback gRPC",
                "resolution": resolution_key((frame.shape[1], frame.shape[0])),
                "latency": measure_latency(frame, onnx, server.url, warmup, reps, log),
                "sharing": measure_sharing(onnx, server.url, seconds, 1, log),
            }
        finally:
            server.stop()
    return results


def format_triton(t: dict[str, Any]) -> list[str]:
    """The table lines of this part."""
    if "skipped" in t:
        return ["", f"6. Triton: skipped ({t['skipped']})"]
    lines = ["", f"6. Triton serving hop: {t['network']}", f"   {t['server']}, {t['resolution']}"]
    lines.append(f"   {'per frame, median [ms]':28s}" + "".join(f"{k:>14s}" for k in ENGINES))
    for n in PEOPLE:
        row = t["latency"][f"people{n}"]
        lines.append(
            f"   {f'{n} people':28s}" + "".join(f"{row[k]['median_ms']:14.2f}" for k in ENGINES)
        )
        lines.append(
            f"   {'  hop: shm / grpc [ms]':28s}{row['hop_ms_shm']:14.2f}{row['hop_ms_grpc']:14.2f}"
            f"   shm speed-up x{row['shm_speedup']:.2f}"
        )
    s = t["sharing"]
    lines.append(f"   processes sharing one server, 1 person/frame, {s['seconds']:g} s each:")
    for count in PROCESS_COUNTS:
        r = s[f"processes{count}"]
        lines.append(
            f"   {count} process(es): {r['triton_total_hz']:8.1f} frames/s via Triton "
            f"(x{r['triton_scaling']:.2f} of 1), {r['onnxruntime_total_hz']:8.1f} in-process"
        )
    return lines
