"""Part 2: the node as deployed, fed a camera stream over real DDS, against the bare model.

The node runs as its own process (``python -m bodypose3d_ros.node``, embedded BlazePose
default). This process plays a camera: Image + CameraInfo at a fixed rate, stamped with the wall
clock just before publishing, and records every Pose3DArray that comes back. Latency is receipt
time minus the image stamp, both read from this process's clock, so it covers transport both ways,
waiting, decoding, the model, lifting and message building. Frame counters come from the node's
/diagnostics (its objects are out of reach in another process); resident memory from psutil.

The reference is the model alone: BlazePose in a loop in this process on the same frames, once
before the node starts and once after it stops (so neither run competes with the other for the
CPU), averaged. A node can only output as fast as frames arrive, so the rate ratio divides the
output rate by the lesser of the achieved input rate and the model's standalone rate.
"""

from __future__ import annotations

import array
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.common import Frame, median_ms, percentile_ms
from bodypose3d_ros.core.camera.intrinsics import default_intrinsics
from bodypose3d_ros.core.models.blazepose import BlazePoseModel
from bodypose3d_ros.node_process import NodeProcess

NODE_NAME = "bodypose3d_bench"
TOPICS = {"image": "/bench/image", "camera_info": "/bench/camera_info",
          "poses": "/bench/poses", "markers": "/bench/markers"}  # fmt: skip
FRAME_ID = "bench_camera_optical_frame"
DIAGNOSTICS_PERIOD_S = 0.5
MODEL_WARMUP_FRAMES = 10


@dataclass(frozen=True)
class E2ESettings:
    seconds: float = 20.0
    rate_hz: float = 30.0
    warmup_s: float = 3.0
    standalone_frames: int = 150
    startup_timeout_s: float = 120.0


def standalone_model(frames: Sequence[Frame], count: int) -> dict[str, Any]:
    """BlazePose alone in a loop over ``frames`` (cycled): its rate and per-frame median."""
    model = BlazePoseModel()
    height, width = frames[0].shape[:2]
    intrinsics = default_intrinsics(width, height)
    try:
        for i in range(MODEL_WARMUP_FRAMES):
            model.estimate(frames[i % len(frames)], [], intrinsics)
        durations = []
        start = time.perf_counter()
        for i in range(count):
            t0 = time.perf_counter()
            model.estimate(frames[i % len(frames)], [], intrinsics)
            durations.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
    finally:
        model.close()
    return {"rate_hz": count / elapsed, "frame_ms_median": median_ms(durations),
            "durations_s": durations}  # fmt: skip


def _reliable(depth: int) -> Any:
    from rclpy.qos import QoSProfile, QoSReliabilityPolicy

    return QoSProfile(depth=depth, reliability=QoSReliabilityPolicy.RELIABLE)  # type: ignore[no-untyped-call]


def _stamp_key(stamp: Any) -> tuple[int, int]:
    return int(stamp.sec), int(stamp.nanosec)


def _split(stamp_s: float) -> tuple[int, int]:
    sec = int(stamp_s)
    return sec, int((stamp_s - sec) * 1e9)


class _NodeUnderTest:
    """The node process plus this process's camera/recorder peer on its own rclpy context."""

    def __init__(self, log: Callable[[str], None]) -> None:
        import rclpy
        from bodypose3d_ros.msg import Pose3DArray
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import CameraInfo, Image

        self.log = log
        self.node = NodeProcess(
            parameters={
                # Reliable input: a 640x480 bgr8 frame is ~900 kB, ~15 UDP fragments per sample;
                # over best-effort loopback most samples lose a fragment and are discarded whole,
                # so the node would be measured on whatever survives, not on the camera's rate.
                "input_reliability": "reliable",
                "diagnostics_period_s": DIAGNOSTICS_PERIOD_S,
                # One person, no detector: what the reference loop runs (the model alone); the
                # detector's cost and several people are part 5 (multi_person).
                "detector": "none",
            },
            remaps={"__node": NODE_NAME, **TOPICS},
            keep_log_lines=200,
        )

        self.context = Context()
        rclpy.init(context=self.context)
        self.peer = rclpy.create_node("bodypose3d_bench_camera", context=self.context)
        camera_qos = _reliable(depth=5)
        self.image_pub = self.peer.create_publisher(Image, TOPICS["image"], camera_qos)
        self.info_pub = self.peer.create_publisher(CameraInfo, TOPICS["camera_info"], camera_qos)
        self.lock = threading.Lock()
        self.outputs: list[tuple[float, tuple[int, int], int]] = []  # arrival, stamp, people
        self.diagnostics: dict[str, str] = {}
        self.diagnostics_seen = 0
        reliable = _reliable(depth=10)
        self.peer.create_subscription(Pose3DArray, TOPICS["poses"], self._on_poses, reliable)
        self.peer.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, reliable)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.peer)
        self._spinning = True
        self._spinner = threading.Thread(target=self._spin, daemon=True)
        self._spinner.start()

    # ------------------------------------------------------------------ plumbing
    def _spin(self) -> None:
        while self._spinning and self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # the executor is shut down under us at close
                return

    def _on_poses(self, msg: Any) -> None:
        arrival = time.time()
        with self.lock:
            self.outputs.append((arrival, _stamp_key(msg.header.stamp), len(msg.poses)))

    def _on_diag(self, msg: Any) -> None:
        for status in msg.status:
            if status.hardware_id == f"/{NODE_NAME}":
                with self.lock:
                    self.diagnostics = {kv.key: kv.value for kv in status.values}
                    self.diagnostics_seen += 1

    def node_log(self) -> str:
        return self.node.log()

    # ------------------------------------------------------------------ steps
    def wait_until_active(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.image_pub.get_subscription_count() == 0:
            if not self.node.running() or time.monotonic() > deadline:
                raise RuntimeError(f"the node did not come up; its log:\n{self.node_log()[-3000:]}")
            time.sleep(0.05)

    def fresh_diagnostics(self, timeout_s: float = 10.0) -> dict[str, str]:
        """The counters from a diagnostics message published after this call (two to be sure)."""
        with self.lock:
            wanted = self.diagnostics_seen + 2
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if self.diagnostics_seen >= wanted:
                    return dict(self.diagnostics)
            time.sleep(0.02)
        raise RuntimeError(f"no diagnostics from the node in {timeout_s} s")

    def rss_mb(self) -> float:
        import psutil

        return float(psutil.Process(self.node.pid).memory_info().rss) / 2**20

    def stream(
        self, payloads: Sequence[array.array[int]], size: tuple[int, int], rate_hz: float,
        duration_s: float, first_index: int = 0,
    ) -> list[float]:  # fmt: skip
        """Publish Image + CameraInfo at ``rate_hz`` for ``duration_s``; the stamps sent."""
        from sensor_msgs.msg import CameraInfo, Image

        width, height = size
        k = default_intrinsics(width, height).k
        info = CameraInfo()
        info.header.frame_id = FRAME_ID
        info.width, info.height = width, height
        info.k = k.reshape(-1).tolist()
        info.p = np.hstack([k, np.zeros((3, 1))]).reshape(-1).tolist()
        period = 1.0 / rate_hz
        count = max(1, round(duration_s * rate_hz))
        sent: list[float] = []
        start = time.monotonic()
        for i in range(count):
            delay = start + i * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            stamp = time.time()
            msg = Image()
            msg.header.frame_id = FRAME_ID
            msg.header.stamp.sec, msg.header.stamp.nanosec = _split(stamp)
            msg.height, msg.width, msg.encoding, msg.step = height, width, "bgr8", width * 3
            msg.data = payloads[(first_index + i) % len(payloads)]  # an array: no copy here
            info.header.stamp = msg.header.stamp
            self.info_pub.publish(info)
            self.image_pub.publish(msg)
            sent.append(stamp)
        return sent

    def close(self) -> str:
        """Stop the node (SIGINT, as Ctrl-C) and the peer; returns the node's log."""
        self.node.stop()
        self._spinning = False
        self._spinner.join(2.0)
        self.executor.shutdown()
        self.peer.destroy_node()  # type: ignore[no-untyped-call]
        self.context.try_shutdown()
        return self.node_log()


def _payloads(frames: Sequence[Frame]) -> list[array.array[int]]:
    """Each frame's pixels as the ``uint8[]`` array an Image takes without copying or checking."""
    out = []
    for frame in frames:
        data = array.array("B")
        data.frombytes(np.ascontiguousarray(frame).tobytes())
        out.append(data)
    return out


def _counter(diag: dict[str, str], key: str) -> int:
    return int(diag.get(key, "0"))


def _diag_float(diag: dict[str, str], key: str) -> float:
    try:
        return float(diag.get(key, "nan"))
    except ValueError:
        return float("nan")


def measure_e2e(
    frames: Sequence[Frame], settings: E2ESettings, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Stream ``frames`` (cycled) to the node and compare it with the model alone."""
    height, width = frames[0].shape[:2]
    size = (width, height)
    log(f"  model alone before the node: {settings.standalone_frames} frames")
    before = standalone_model(frames, settings.standalone_frames)
    payloads = _payloads(frames)

    node = _NodeUnderTest(log)
    try:
        node.wait_until_active(settings.startup_timeout_s)
        log(f"  node active; warming up for {settings.warmup_s:.0f} s")
        sent_so_far = len(node.stream(payloads, size, settings.rate_hz, settings.warmup_s))
        deadline = time.monotonic() + settings.startup_timeout_s
        while not node.outputs:  # the model loads lazily in some set-ups: keep feeding
            if time.monotonic() > deadline or not node.node.running():
                raise RuntimeError(f"no output from the node; its log:\n{node.node_log()[-3000:]}")
            sent_so_far += len(node.stream(payloads, size, settings.rate_hz, 1.0, sent_so_far))
        start_diag = node.fresh_diagnostics()
        rss_start = node.rss_mb()
        log(f"  streaming {width}x{height} at {settings.rate_hz:g} Hz for {settings.seconds:g} s")
        sent = node.stream(payloads, size, settings.rate_hz, settings.seconds, sent_so_far)
        end_diag = node.fresh_diagnostics()  # waits ~2 periods: the last frame is done by then
        rss_end = node.rss_mb()
        with node.lock:
            outputs = list(node.outputs)
    finally:
        node_log = node.close()

    log(f"  model alone after the node: {settings.standalone_frames} frames")
    after = standalone_model(frames, settings.standalone_frames)
    return _summarise(settings, size, sent, outputs, start_diag, end_diag, rss_start, rss_end,
                      before, after, node_log)  # fmt: skip


def _summarise(
    settings: E2ESettings, size: tuple[int, int], sent: list[float],
    outputs: list[tuple[float, tuple[int, int], int]], start_diag: dict[str, str],
    end_diag: dict[str, str], rss_start: float, rss_end: float, before: dict[str, Any],
    after: dict[str, Any], node_log: str,
) -> dict[str, Any]:  # fmt: skip
    sent_keys = {_split(stamp): stamp for stamp in sent}
    matched = sorted(
        ((sent_keys[key], arrival, people) for arrival, key, people in outputs if key in sent_keys)
    )
    if len(matched) < 3:
        raise RuntimeError(
            f"only {len(matched)} outputs for {len(sent)} frames; node log:\n{node_log[-3000:]}"
        )
    duration = (sent[-1] - sent[0]) + 1.0 / settings.rate_hz
    latencies = [arrival - stamp for stamp, arrival, _ in matched]
    third = len(latencies) // 3
    first_third, last_third = median_ms(latencies[:third]), median_ms(latencies[-third:])
    model_rate = (before["rate_hz"] + after["rate_hz"]) / 2.0
    model_ms = median_ms(before["durations_s"] + after["durations_s"])
    input_rate = len(sent) / duration
    output_rate = len(matched) / duration
    achievable = min(input_rate, model_rate)
    received = _counter(end_diag, "frames received") - _counter(start_diag, "frames received")

    def delta(key: str) -> int:
        return _counter(end_diag, key) - _counter(start_diag, key)

    return {
        "resolution": f"{size[0]}x{size[1]}",
        "seconds": round(duration, 2),
        "publish_rate_hz": settings.rate_hz,
        "input_rate_hz": input_rate,
        "output_rate_hz": output_rate,
        "model_rate_hz": model_rate,
        "model_rate_hz_before": before["rate_hz"],
        "model_rate_hz_after": after["rate_hz"],
        "model_ms": model_ms,
        "achievable_rate_hz": achievable,
        "rate_ratio": output_rate / achievable,
        "output_to_model_rate": output_rate / model_rate,
        "latency_p50_ms": percentile_ms(latencies, 50),
        "latency_p99_ms": percentile_ms(latencies, 99),
        "latency_max_ms": max(latencies) * 1e3,
        "latency_first_third_ms": first_third,
        "latency_last_third_ms": last_third,
        "latency_growth_ms": last_third - first_third,
        "node_processing_ms_p50": _diag_float(end_diag, "processing time p50 [ms]"),
        "frames_sent": len(sent),
        "frames_received_by_node": received,
        "frames_processed": delta("frames processed"),
        "frames_dropped": delta("frames dropped"),
        "frames_rejected": delta("frames rejected (bad input)"),
        "frames_lost_in_transport": len(sent) - received,
        "outputs_received": len(matched),
        "outputs_with_a_person": sum(1 for _, _, people in matched if people > 0),
        "rss_start_mb": rss_start,
        "rss_end_mb": rss_end,
        "rss_growth_mb": rss_end - rss_start,
    }
