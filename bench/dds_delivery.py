"""How many raw camera images arrive over best-effort DDS on one host, per Fast DDS recipe.

    tools/with-env python -m bench.dds_delivery [--frames 150] [--rate 30] [--out FILE.json]

For each recipe (bodypose3d_ros/ros/dds_transport.py) and each size (640x480, 1280x720 bgr8) a
subscriber and a publisher run as two separate processes, both with the recipe's environment
(``both ends``; ``node end only`` rows give it to the subscriber alone, as the launch argument
does for the node), on loopback only. The publisher sends ``--frames`` images at ``--rate`` Hz
with the sensor-data QoS a camera driver uses (best effort, keep last 5); the subscriber counts
what arrives and the image stamp -> arrival latency. Every recipe and size is measured in the
same run, one after the other, and the run is bounded in frames and time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from bench.common import REPO_ROOT, RESOLUTIONS, resolution_key
from bodypose3d_ros.ros.dds_transport import (
    DDS_TRANSPORTS,
    PROFILE_FILE_NAME,
    environment_with_transport,
)

PROFILE = REPO_ROOT / "config" / PROFILE_FILE_NAME
TOPIC = "/bench_dds/image"
STEP_TIMEOUT_S = 60.0  # bounds each wait (start, discovery, drain); only a failure waits it out
DRAIN_S = 1.0  # after the last frame: what still arrives is counted


@dataclass
class Delivery:
    """One recipe at one size: what was sent and what arrived."""

    recipe: str
    ends: str
    size: str
    sent: int
    delivered: int
    latency_ms_p50: float | None
    error: str = ""

    @property
    def ratio(self) -> float:
        return self.delivered / self.sent if self.sent else 0.0


# ---------------------------------------------------------------------------- the two roles


def _publisher(width: int, height: int, frames: int, rate: float) -> None:
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node("bench_dds_publisher")
    pub = node.create_publisher(Image, TOPIC, qos_profile_sensor_data)
    msg = Image()
    msg.height, msg.width, msg.encoding, msg.step = height, width, "bgr8", width * 3
    msg.header.frame_id = "bench_camera"
    msg.data = bytes(random.Random(0).randbytes(height * width * 3))
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    print("matched" if pub.get_subscription_count() else "unmatched", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    first = time.time()
    for i in range(frames):
        stamp = time.time()
        msg.header.stamp.sec, msg.header.stamp.nanosec = int(stamp), int(stamp % 1 * 1e9)
        pub.publish(msg)
        time.sleep(max(0.0, first + (i + 1) / rate - time.time()))
    print(f"sent {frames}", flush=True)
    sys.stdin.readline()  # stay alive (and matched) until the subscriber has drained
    node.destroy_node()  # type: ignore[no-untyped-call]
    rclpy.try_shutdown()


def _subscriber() -> None:
    import threading

    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node("bench_dds_subscriber")
    latencies: list[float] = []

    def on_image(raw: bytes) -> None:
        arrival = time.time()
        stamp = deserialize_message(raw, Image).header.stamp
        latencies.append(arrival - (stamp.sec + stamp.nanosec * 1e-9))

    sub = node.create_subscription(Image, TOPIC, on_image, qos_profile_sensor_data, raw=True)
    spinning = threading.Event()
    spinning.set()

    def spin() -> None:
        while spinning.is_set():
            rclpy.spin_once(node, timeout_sec=0.05)

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while sub.get_publisher_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    print("matched" if sub.get_publisher_count() else "unmatched", flush=True)
    sys.stdin.readline()  # "stop"
    spinning.clear()
    spinner.join(5.0)
    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2] * 1e3 if ordered else None
    print(json.dumps({"delivered": len(latencies), "latency_ms_p50": p50}), flush=True)
    node.destroy_node()  # type: ignore[no-untyped-call]
    rclpy.try_shutdown()


# ---------------------------------------------------------------------------- orchestration


def _spawn(role: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.dds_delivery", "--role", *role],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _line(process: subprocess.Popen[str], timeout_s: float) -> str:
    """The process's next line of output, or "" when it has none within ``timeout_s``."""
    out: IO[str] | None = process.stdout
    assert out is not None
    ready, _, _ = select.select([out], [], [], timeout_s)
    return out.readline().strip() if ready else ""


def _tell(process: subprocess.Popen[str], line: str) -> None:
    assert process.stdin is not None
    try:
        process.stdin.write(line + "\n")
        process.stdin.flush()
    except BrokenPipeError:
        pass


def measure(
    recipe: str, both_ends: bool, size: tuple[int, int], frames: int, rate: float
) -> Delivery:
    """Run one publisher/subscriber pair with ``recipe`` and count what arrived."""
    base = dict(os.environ)
    with_recipe = environment_with_transport(base, recipe, PROFILE)
    without = environment_with_transport(base, "default", PROFILE)
    ends = "both ends" if both_ends else "node end only"
    result = Delivery(recipe, ends, resolution_key(size), frames, 0, None)
    sub = _spawn(["sub"], with_recipe)
    pub = _spawn(["pub", str(size[0]), str(size[1]), str(frames), str(rate)],
                 with_recipe if both_ends else without)  # fmt: skip
    try:
        matched = [_line(p, STEP_TIMEOUT_S) for p in (pub, sub)]
        if matched != ["matched", "matched"]:
            result.error = f"discovery failed: publisher/subscriber said {matched}"
            return result
        _tell(pub, "go")
        done = _line(pub, frames / rate + STEP_TIMEOUT_S)
        if done != f"sent {frames}":
            result.error = f"publisher stopped early: {done!r}"
            return result
        time.sleep(DRAIN_S)  # what is still in flight arrives
        _tell(sub, "stop")
        report = json.loads(_line(sub, STEP_TIMEOUT_S) or "{}")
        result.delivered = int(report.get("delivered", 0))
        p50 = report.get("latency_ms_p50")
        result.latency_ms_p50 = round(p50, 1) if p50 is not None else None
        return result
    finally:
        for process in (pub, sub):
            _tell(process, "stop")
            try:
                process.wait(10.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def table(results: Sequence[Delivery]) -> str:
    """The results as a fixed-width table, one row per recipe and ends, one column per size."""
    sizes = list(dict.fromkeys(r.size for r in results))
    rows: dict[tuple[str, str], dict[str, Delivery]] = {}
    for r in results:
        rows.setdefault((r.recipe, r.ends), {})[r.size] = r
    head = f"{'recipe':14s} {'ends':14s}" + "".join(
        f" {size + ' delivered/sent':>26s} {'p50 ms':>7s}" for size in sizes
    )
    lines = [head, "-" * len(head)]
    for (recipe, ends), by_size in rows.items():
        cells = ""
        for size in sizes:
            if size not in by_size:
                cells += f" {'':>26s} {'':>7s}"
                continue
            r = by_size[size]
            count = f"{r.delivered}/{r.sent} ({r.ratio:.0%})" if not r.error else "error"
            p50 = f"{r.latency_ms_p50:.1f}" if r.latency_ms_p50 is not None else "-"
            cells += f" {count:>26s} {p50:>7s}"
        lines.append(f"{recipe:14s} {ends:14s}{cells}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.dds_delivery",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--frames", type=int, default=150, help="images sent per measurement")
    parser.add_argument("--rate", type=float, default=30.0, help="publishing rate [Hz]")
    parser.add_argument(
        "--recipes", nargs="+", default=list(DDS_TRANSPORTS), choices=list(DDS_TRANSPORTS)
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    parser.add_argument("--role", nargs="+", help=argparse.SUPPRESS)  # internal: one end
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.role:
        role, *rest = args.role
        if role == "pub":
            _publisher(int(rest[0]), int(rest[1]), int(rest[2]), float(rest[3]))
        else:
            _subscriber()
        return 0
    if not 1 <= args.frames <= 3000 or not 0 < args.rate <= 120:
        raise SystemExit("--frames must be 1..3000 and --rate 0..120 Hz")
    # Loopback only, and a domain of its own unless one is given.
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(100, 200)))
    os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    results: list[Delivery] = []
    for recipe in args.recipes:
        for both_ends in (True, False) if recipe != "default" else (True,):
            for size in RESOLUTIONS:
                result = measure(recipe, both_ends, size, args.frames, args.rate)
                results.append(result)
                print(f"  {recipe:12s} {result.ends:14s} {result.size:9s} "
                      f"{result.delivered}/{result.sent} {result.error}", flush=True)  # fmt: skip
    print(f"\nbest-effort raw bgr8 images at {args.rate:g} Hz, {args.frames} sent, loopback, "
          f"{os.environ['RMW_IMPLEMENTATION']}\n")  # fmt: skip
    print(table(results))
    if args.out is not None:
        rows: list[dict[str, Any]] = [asdict(r) | {"ratio": round(r.ratio, 4)} for r in results]
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(not r.error for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
