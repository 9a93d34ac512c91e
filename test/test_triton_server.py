"""engine:=triton against a real Triton Inference Server on loopback.

The server is PyPI's nvidia-pytriton (it bundles ``tritonserver``) in its own Python 3.13
environment, serving the BodyPose3DNet-shaped contract fixture through ONNX Runtime under
BodyPose3DNet's tensor names (max batch 8). Skipped only where no Python 3.13 exists.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bodypose3d_ros.core.camera.intrinsics import Intrinsics
from bodypose3d_ros.core.engines.base import EngineUnavailableError, ModelLoadError
from bodypose3d_ros.core.engines.bodypose3dnet_io import INPUT_SPECS, OUTPUT_SPECS
from bodypose3d_ros.core.engines.onnxruntime_engine import OnnxRuntimeEngine
from bodypose3d_ros.core.engines.triton_engine import TritonEngine, TritonSettings
from bodypose3d_ros.core.models.bodypose3dnet import BodyPose3DNetModel
from bodypose3d_ros.core.pipeline import PipelineConfig, PosePipeline
from bodypose3d_ros.core.types import Box
from bodypose3d_ros.testing.contract_model import write_contract_model, write_signature_model
from bodypose3d_ros.testing.contract_scene import draw_person
from bodypose3d_ros.testing.triton_server import (
    SETUP_SCRIPT,
    ServerEnvironmentMissingError,
    TritonTestServer,
    server_python,
)

pytestmark = pytest.mark.slow

WIDTH, HEIGHT = 1280, 720
INTRINSICS = Intrinsics(fx=900.0, fy=905.0, cx=640.0, cy=360.0, source="arguments")
FIVE_BOXES = [
    Box(40, 60, 180, 420),
    Box(300, 20, 160, 380),
    Box(560, 200, 200, 300),
    Box(900, 40, 150, 500),
    Box(1100, 300, 170, 380),
]
WRONG_MODEL = "other_names"


@pytest.fixture(scope="session")
def triton_python() -> Path:
    """The server environment's python (built on first use; minutes, then cached)."""
    try:
        return server_python()
    except ServerEnvironmentMissingError as missing:
        pytest.skip(f"no Triton test server possible here: {missing}")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("triton_models")
    contract = write_contract_model(folder / "contract.onnx")
    wrong = write_signature_model(
        folder / "wrong.onnx",
        {"image": ["batch", 3, 256, 192], "k_inv": ["batch", 3, 3]},
        {"keypoints": ["batch", 34, 3], "pose3d": ["batch", 34, 3]},
    )
    return {"bodypose3dnet": contract, WRONG_MODEL: wrong}


@pytest.fixture(scope="module")
def server(
    triton_python: Path, models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TritonTestServer]:
    served = TritonTestServer(triton_python, models, tmp_path_factory.mktemp("triton"))
    served.start()
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture(scope="module")
def local_engine(models: dict[str, Path]) -> Iterator[OnnxRuntimeEngine]:
    engine = OnnxRuntimeEngine(models["bodypose3dnet"])
    yield engine
    engine.close()


def _feeds(rows: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "input0": rng.uniform(0, 1, (rows, 3, 256, 192)).astype(np.float32),
        "k_inv": rng.normal(size=(rows, 3, 3)).astype(np.float32),
        "t_form_inv": rng.normal(size=(rows, 3, 3)).astype(np.float32),
        "scale_normalized_mean_limb_lengths": rng.uniform(0.5, 2, (rows, 36)).astype(np.float32),
        "mean_limb_lengths": rng.uniform(100, 900, (rows, 36)).astype(np.float32),
    }


def _frames(boxes: list[Box], count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(len(boxes))
    frames = []
    for _ in range(count):
        image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        for box in boxes:
            draw_person(image, box, rng)
        frames.append(image)
    return frames


@pytest.mark.parametrize("shared_memory", [True, False], ids=["shared-memory", "grpc"])
def test_served_model_is_checked_and_answers_like_onnxruntime(
    server: TritonTestServer, local_engine: OnnxRuntimeEngine, shared_memory: bool
) -> None:
    regions_before = _shm_regions(os.getpid())
    engine = TritonEngine(TritonSettings(server.url, shared_memory=shared_memory))
    try:
        assert engine.shared_memory is shared_memory  # loopback: shared memory works when asked
        assert len(_shm_regions(os.getpid()) - regions_before) == (2 if shared_memory else 0)
        assert engine.max_batch_size == 8  # the served max_batch_size caps the requests
        assert f"triton {server.url} model bodypose3dnet" in engine.description
        for rows in (1, 8, 11):  # 11 rows: two requests, chunked at the served maximum
            feeds = _feeds(rows, seed=rows)
            served, local = engine.run(feeds), local_engine.run(feeds)
            assert sorted(served) == sorted(s.name for s in OUTPUT_SPECS)
            for name, expected in local.items():
                np.testing.assert_allclose(served[name], expected, rtol=1e-5, atol=1e-5)
    finally:
        engine.close()
    assert _shm_regions(os.getpid()) == regions_before  # closing frees /dev/shm


def _shm_regions(pid: int) -> set[str]:
    """The engine's shared-memory regions of process ``pid`` now in /dev/shm."""
    return {p.name for p in Path("/dev/shm").glob(f"bodypose3d_{pid}_*")}


@pytest.mark.parametrize("boxes", [FIVE_BOXES[:1], FIVE_BOXES], ids=["1-person", "5-people"])
def test_pipeline_output_through_triton_equals_onnxruntime(
    server: TritonTestServer, local_engine: OnnxRuntimeEngine, boxes: list[Box]
) -> None:
    served = BodyPose3DNetModel(TritonEngine(TritonSettings(server.url)))
    local = BodyPose3DNetModel(local_engine)
    try:
        for frame in _frames(boxes, 3):
            a = served.estimate(frame, boxes, INTRINSICS)
            b = local.estimate(frame, boxes, INTRINSICS)
            assert len(a) == len(b) == len(boxes)
            assert sum(p.confidence.sum() for p in b) > 0  # the blobs were found at all
            for pa, pb in zip(a, b, strict=True):
                assert pa.box == pb.box
                np.testing.assert_allclose(pa.uv, pb.uv, atol=1e-3)
                np.testing.assert_allclose(pa.z_rel, pb.z_rel, atol=1e-5)
                np.testing.assert_allclose(pa.confidence, pb.confidence, atol=1e-5)
        # And the whole pipeline (tracking, smoothing, 3D lift) on a stream of frames, with a
        # person drawn where its whole-image search crop will look.
        config = PipelineConfig()
        pipelines = [PosePipeline(served, config), PosePipeline(local, config)]
        people_seen = 0
        for index, frame in enumerate(_frames([Box.full_image(WIDTH, HEIGHT)], 4)):
            a_out, b_out = (p.process(frame, INTRINSICS, 0.1 * index) for p in pipelines)
            assert [p.id for p in a_out.people] == [p.id for p in b_out.people]
            people_seen += len(a_out.people)
            for pa3, pb3 in zip(a_out.people, b_out.people, strict=True):
                np.testing.assert_allclose(pa3.xyz, pb3.xyz, atol=1e-4, equal_nan=True)
                np.testing.assert_allclose(pa3.confidence, pb3.confidence, atol=1e-5)
        assert people_seen > 0, "the pipeline found nobody: the comparison proved nothing"
    finally:
        served.engine.close()


def test_wrong_served_model_fails_with_expected_and_found_tensors(server: TritonTestServer) -> None:
    with pytest.raises(ModelLoadError) as raised:
        TritonEngine(TritonSettings(server.url, model=WRONG_MODEL))
    message = str(raised.value)
    assert f"model '{WRONG_MODEL}' served at {server.url}" in message
    assert "the model's tensors do not match BodyPose3DNet" in message
    assert "missing inputs: input0, t_form_inv" in message
    assert "unexpected inputs: image" in message
    assert "expected inputs:  " + ", ".join(s.describe() for s in INPUT_SPECS) in message
    assert "found inputs:     image [?, 3, 256, 192] float32, k_inv [?, 3, 3] float32" in message


def test_unknown_model_name_fails_naming_the_setting(server: TritonTestServer) -> None:
    with pytest.raises(ModelLoadError) as raised:
        TritonEngine(TritonSettings(server.url, model="bodypose3dnet_accuracy"))
    message = str(raised.value)
    assert f"the Triton server at {server.url} has no ready model 'bodypose3dnet_accuracy'" in (
        message
    )
    assert "set triton_model (and triton_model_version) to the served model's name" in message
    # The served models, named (the test server's index is empty: its ready models are listed).
    assert f"(it serves: bodypose3dnet v1 (ready), {WRONG_MODEL} v1 (ready))" in message


def test_engine_survives_a_server_restart(
    triton_python: Path, models: dict[str, Path], tmp_path: Path
) -> None:
    """Lost server: calls fail at once with EngineUnavailableError, then work again unaided."""
    own = TritonTestServer(triton_python, {"bodypose3dnet": models["bodypose3dnet"]}, tmp_path)
    own.start()
    engine = TritonEngine(TritonSettings(own.url))
    try:
        feeds = _feeds(2, seed=3)
        expected = engine.run(feeds)
        own.kill()
        with pytest.raises(EngineUnavailableError, match=f"Triton server at {own.url}"):
            engine.run(feeds)
        assert not engine.available
        with pytest.raises(EngineUnavailableError, match="retrying in"):
            engine.run(feeds)  # inside the backoff: fails without waiting for the network
        own.start()

        def answered() -> dict[str, np.ndarray] | None:
            try:
                return engine.run(feeds)
            except EngineUnavailableError:
                return None

        result = _wait_for_value(answered, timeout_s=60.0)
        assert result is not None, "the engine did not reconnect after the server came back"
        assert engine.available
        assert engine.reconnects == 1
        assert engine.shared_memory  # the regions were registered with the new server
        for name, value in expected.items():
            np.testing.assert_allclose(result[name], value, rtol=1e-6)
    finally:
        engine.close()
        own.stop()


def _wait_for_value(
    probe: Callable[[], dict[str, np.ndarray] | None], timeout_s: float
) -> dict[str, np.ndarray] | None:
    """Call ``probe`` until it returns something (or ``timeout_s`` passed, giving None)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value is not None:
            return value
        time.sleep(0.1)
    return None


def test_node_keeps_running_through_a_server_outage_and_resumes_by_itself(
    triton_python: Path, models: dict[str, Path], tmp_path: Path, ros_context: Any
) -> None:
    """The node over DDS, in its own process: frames lost while the server is away are counted,
    diagnostics say ERROR, and outputs come back once the server is back."""
    from diagnostic_msgs.msg import DiagnosticStatus
    from node_harness import ProcessHarness, make_image_msg, wait_for

    own = TritonTestServer(triton_python, {"bodypose3dnet": models["bodypose3dnet"]}, tmp_path)
    own.start()
    node = ProcessHarness(
        ros_context,
        backend="bodypose3dnet",
        engine="triton",
        triton_url=own.url,
        # No detector: the model looks at the whole image on every frame, so every frame goes to
        # the server (a detector would find nobody in this plain image and skip the model).
        detector="none",
        diagnostics_period_s=0.2,
        input_reliability="reliable",
    )
    stop = threading.Event()
    image = np.full((240, 320, 3), 40, np.uint8)

    def camera() -> None:  # a camera at about 20 Hz for the whole test
        while not stop.wait(0.05):
            node.image_pub.publish(make_image_msg(image, time.time()))

    streaming = threading.Thread(target=camera, daemon=True)
    try:
        node.wait_until_active()
        streaming.start()
        assert wait_for(lambda: len(node.poses) >= 3, 60.0), (
            node.node.log()[-2000:] + own.log_tail()
        )

        rejected_before = node.counter("frames rejected (bad input)")
        own.kill()

        def outage_reported() -> bool:
            with node.lock:
                status = node.diagnostics.get("model status", "")
                level = node.diagnostic_level
            return (
                level == DiagnosticStatus.ERROR
                and status.startswith(f"error: Triton server at {own.url} unavailable")
                and node.counter("frames rejected (bad input)") >= rejected_before + 3
            )

        assert wait_for(outage_reported, 60.0), (node.diagnostics, node.node.log()[-3000:])
        assert node.process.poll() is None, "the node died with the server"
        with node.lock:
            outputs_before_return = len(node.poses)

        own.start()

        def resumed() -> bool:
            with node.lock:
                status = node.diagnostics.get("model status", "")
                level = node.diagnostic_level
            return (
                len(node.poses) >= outputs_before_return + 3
                and status == "loaded"
                and level != DiagnosticStatus.ERROR
            )

        assert wait_for(resumed, 60.0), (node.diagnostics, node.node.log()[-3000:])
        assert node.process.poll() is None
        assert "is back; resuming" in node.node.log()
    finally:
        stop.set()
        if streaming.is_alive():
            streaming.join(5.0)
        node.close()
        own.stop()
    assert not _shm_regions(node.process.pid), "the node left shared memory behind"


def test_quick_triton_bench_reports_the_hop_and_the_sharing(
    triton_python: Path, tmp_path: Path
) -> None:
    """``make bench``'s Triton part, short: every number present, finite and positive."""
    run = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--parts", "triton", "--out", str(tmp_path)],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    triton = results["triton"]
    assert "TEST FIXTURE" in triton["network"]
    for n in (1, 8):
        row = triton["latency"][f"people{n}"]
        for kind in ("onnxruntime", "triton_shm", "triton_grpc"):
            assert math.isfinite(row[kind]["median_ms"])
            assert row[kind]["median_ms"] > 0
    for count in (1, 2, 4):
        assert triton["sharing"][f"processes{count}"]["triton_total_hz"] > 0
        assert triton["sharing"][f"processes{count}"]["onnxruntime_total_hz"] > 0
    for key in ("triton_hop_ms_1_person", "triton_shm_speedup_8_people"):
        assert math.isfinite(results[key])
    assert "6. Triton serving hop" in run.stdout


def test_server_environment_setup_is_idempotent(triton_python: Path) -> None:
    again = subprocess.run(
        [str(SETUP_SCRIPT)], capture_output=True, text=True, timeout=120, check=False
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.strip() == str(triton_python)
    assert "creating" not in again.stderr
    check = subprocess.run(
        [str(SETUP_SCRIPT), "--check"], capture_output=True, text=True, timeout=60, check=False
    )
    assert check.returncode == 0
    assert check.stdout.strip() == str(triton_python)


def test_slow_server_times_out_instead_of_piling_up_requests(
    triton_python: Path, models: dict[str, Path], tmp_path: Path
) -> None:
    """A request the server answers later than triton_timeout_s loses its frame; the next ones
    fail at once while backing off, so a slow server never builds a queue of waiting frames."""
    slow = TritonTestServer(
        triton_python, {"bodypose3dnet": models["bodypose3dnet"]}, tmp_path, delay_s=5.0
    )
    slow.start()
    engine = TritonEngine(TritonSettings(slow.url, timeout_s=0.5))
    try:
        feeds = _feeds(1, seed=5)
        with pytest.raises(EngineUnavailableError, match="DEADLINE_EXCEEDED"):
            engine.run(feeds)
        with pytest.raises(EngineUnavailableError, match="retrying in"):
            engine.run(feeds)
        assert engine.failures == 1  # the second call never reached the server
    finally:
        engine.close()
        slow.stop()


def test_a_request_that_timed_out_does_not_break_the_reconnect(
    triton_python: Path, models: dict[str, Path], tmp_path: Path
) -> None:
    """The server answers a three-row request too late; it still runs there, holding the shared
    memory regions, when the engine reconnects. That reconnect failed with "shared memory region
    ... already in manager", reported as the server being unavailable, until the late request had
    finished. Now it succeeds over gRPC and takes the regions back once they are free."""
    slow = TritonTestServer(
        triton_python, {"bodypose3dnet": models["bodypose3dnet"]}, tmp_path,
        delay_s=3.0, slow_rows=3,
    )  # fmt: skip
    slow.start()
    messages: list[str] = []
    engine = TritonEngine(TritonSettings(slow.url, timeout_s=1.0), log=messages.append)
    regions_before = _shm_regions(os.getpid())
    local = OnnxRuntimeEngine(models["bodypose3dnet"])
    try:
        assert engine.shared_memory
        with pytest.raises(EngineUnavailableError, match="DEADLINE_EXCEEDED"):
            engine.run(_feeds(3, seed=7))
        feeds = _feeds(1, seed=8)
        errors: list[str] = []

        def answered() -> dict[str, np.ndarray] | None:
            try:
                return engine.run(feeds)
            except EngineUnavailableError as error:
                errors.append(str(error))
                return None

        result = _wait_for_value(answered, timeout_s=60.0)
        assert result is not None, errors[-3:]
        assert not [e for e in errors if "already in manager" in e], errors
        for name, value in local.run(feeds).items():
            np.testing.assert_allclose(result[name], value, rtol=1e-5, atol=1e-5)

        def back_on_shared_memory() -> dict[str, np.ndarray] | None:
            answer = engine.run(feeds)
            return answer if engine.shared_memory else None

        assert _wait_for_value(back_on_shared_memory, timeout_s=60.0) is not None, messages
        assert any("sending tensors over gRPC" in m for m in messages), messages
        assert _shm_regions(os.getpid()) == regions_before  # the same two regions, none added
    finally:
        engine.close()
        local.close()
        slow.stop()


def test_interrupt_ends_a_request_waiting_on_the_server(
    triton_python: Path, models: dict[str, Path], tmp_path: Path
) -> None:
    """A caller that stops (a node shutting down) must not wait out triton_timeout_s for a slow
    server: interrupt() ends the request in flight, and the next request works."""
    slow = TritonTestServer(
        triton_python, {"bodypose3dnet": models["bodypose3dnet"]}, tmp_path,
        delay_s=30.0, slow_rows=2,
    )  # fmt: skip
    slow.start()
    engine = TritonEngine(TritonSettings(slow.url, timeout_s=60.0))
    local = OnnxRuntimeEngine(models["bodypose3dnet"])
    outcome: list[str] = []

    def call() -> None:
        try:
            engine.run(_feeds(2, seed=9))
            outcome.append("answered")
        except EngineUnavailableError as error:
            outcome.append(str(error))

    waiting = threading.Thread(target=call)
    try:
        waiting.start()
        assert wait_for_log(slow, "delaying the answer to 2 rows", 60.0), slow.log_tail()
        engine.interrupt()
        waiting.join(10.0)  # the server answers in 30 s: only the interrupt ends it sooner
        assert not waiting.is_alive(), "interrupt() did not end the request"
        assert outcome == [f"request to the Triton server at {slow.url} interrupted (stopping)"]
        assert engine.available  # the server did nothing wrong
        feeds = _feeds(1, seed=10)

        def answered() -> dict[str, np.ndarray] | None:
            try:
                return engine.run(feeds)
            except EngineUnavailableError:
                return None

        result = _wait_for_value(answered, timeout_s=60.0)
        assert result is not None
        for name, value in local.run(feeds).items():
            np.testing.assert_allclose(result[name], value, rtol=1e-5, atol=1e-5)
        engine.interrupt()  # with nothing in flight (a node stopping while idle), then closing:
        engine.close()  # the regions are still unregistered from the server
        assert f"bodypose3d_{os.getpid()}_" not in _server_regions(slow)
    finally:
        waiting.join(60.0)
        engine.close()
        local.close()
        slow.stop()


def _server_regions(server: TritonTestServer) -> str:
    """The system shared memory regions the server has registered, as text."""
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(url=f"127.0.0.1:{server.grpc_port}")
    try:
        return json.dumps(client.get_system_shared_memory_status(as_json=True))
    finally:
        client.close()


def wait_for_log(server: TritonTestServer, text: str, timeout_s: float) -> bool:
    """Wait until the server's log shows ``text``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in server.log_tail(100_000):
            return True
        time.sleep(0.05)
    return False


def test_ctrl_c_while_the_node_waits_on_a_slow_server_exits_at_once(
    triton_python: Path,
    models: dict[str, Path],
    tmp_path: Path,
    ros_context: Any,
    zidane_image_path: Path,
) -> None:
    """triton_timeout_s is 60 s and the server answers two people in 30 s: SIGINT while the node
    waits for that answer exits within 5 s instead of waiting it out."""
    import signal

    import cv2
    from node_harness import ProcessHarness, make_image_msg, wait_for

    slow = TritonTestServer(
        triton_python, {"bodypose3dnet": models["bodypose3dnet"]}, tmp_path,
        delay_s=30.0, slow_rows=2,
    )  # fmt: skip
    slow.start()
    node = ProcessHarness(
        ros_context, name="slow_triton", backend="bodypose3dnet", engine="triton",
        triton_url=slow.url, triton_timeout_s=60.0, input_reliability="reliable",
    )  # fmt: skip
    photo = cv2.imread(str(zidane_image_path))  # two people: a request of two rows
    try:
        node.wait_until_active()
        node.image_pub.publish(make_image_msg(photo, 10.0))
        assert wait_for(lambda: "delaying the answer to 2 rows" in slow.log_tail(100_000), 60.0), (
            node.node.log()[-2000:],
            slow.log_tail(),
        )
        node.node.send_signal(signal.SIGINT)
        code = node.process.wait(timeout=5.0)
    finally:
        log = node.close()
        slow.stop()
    assert code == 0, log
    assert "Traceback" not in log
