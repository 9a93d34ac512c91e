"""The main job in one command: the real node, a real photo (or video) streamed to it over DDS.

    tools/with-env python -m bodypose3d_ros.demo [--image PHOTO] [--video CLIP] [--out DIR]

Starts ``bodypose3d_node`` (embedded MoveNet person detector and BlazePose defaults) as its own
process, plays the input (by default a photo of two people) as an
Image + CameraInfo stream, records the node's Pose3DArray and MarkerArray, writes an overlay
picture, a 3D plot and a JSON log of every output, and prints a summary measured from the run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bodypose3d_ros.core.camera.intrinsics import DEFAULT_FOCAL_RATIO, Intrinsics
from bodypose3d_ros.core.output.drawing import draw_overlay, plot_3d
from bodypose3d_ros.core.output.result_json import frame_to_json
from bodypose3d_ros.core.pipeline import DEFAULT_MAX_POSE_PEOPLE
from bodypose3d_ros.node_process import NodeProcess

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA = REPO_ROOT / ".cache" / "data"
# Two people (ultralytics' zidane.jpg), so the demo shows everyone in view; the photo of one
# person (Debian's darknet sample) when the setup could not fetch it.
DEFAULT_IMAGES = (DATA / "zidane.jpg", DATA / "person.jpg")


def default_image() -> Path:
    """The first default photo that exists (the two-person one first), else the first."""
    return next((path for path in DEFAULT_IMAGES if path.is_file()), DEFAULT_IMAGES[0])


CAMERA_TOPIC = "/demo_camera/image_raw"
INFO_TOPIC = "/demo_camera/camera_info"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bodypose3d_ros.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--image",
        type=Path,
        default=None,
        help=f"photo to stream (default: {DEFAULT_IMAGES[0].relative_to(REPO_ROOT)}, two people; "
        f"else {DEFAULT_IMAGES[1].relative_to(REPO_ROOT)})",
    )
    parser.add_argument("--video", type=Path, default=None, help="video to stream after the photo")
    parser.add_argument("--frames", type=int, default=30, help="times the photo is sent")
    parser.add_argument("--rate", type=float, default=10.0, help="publishing rate [Hz]")
    parser.add_argument(
        "--focal-ratio",
        type=float,
        default=DEFAULT_FOCAL_RATIO,
        help="CameraInfo focal length = ratio x width (the photo has no calibration)",
    )
    parser.add_argument(
        "--max-pose-people",
        type=int,
        default=DEFAULT_MAX_POSE_PEOPLE,
        help="the node's max_pose_people: most people a frame given the full pose model; "
        "everyone else found is published from the detector's keypoints",
    )
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder")
    parser.add_argument("--startup-timeout", type=float, default=120.0)
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=60.0,
        help="most seconds to wait for the output of the last frame sent",
    )
    return parser  # fmt: skip


@dataclass
class Recording:
    """What the player saw coming back from the node."""

    poses: list[tuple[float, Any]] = field(default_factory=list)
    markers: int = 0
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def add_poses(self, arrival: float, msg: Any) -> None:
        with self.arrived:
            self.poses.append((arrival, msg))
            self.arrived.notify_all()

    def wait_for_stamp(self, stamp: tuple[int, int], timeout_s: float) -> bool:
        """Wait until the output for the frame stamped ``stamp`` came back. The node never
        drops the newest frame, so the last frame sent is always answered."""

        def answered() -> bool:
            return any((m.header.stamp.sec, m.header.stamp.nanosec) == stamp for _, m in self.poses)

        with self.arrived:
            return self.arrived.wait_for(answered, timeout_s)


def _frames(args: argparse.Namespace) -> Iterator[tuple[str, np.ndarray]]:
    image_path = args.image or default_image()
    if args.image is None and image_path != DEFAULT_IMAGES[0]:
        print(f"note: {DEFAULT_IMAGES[0].name} is missing (tools/setup-env fetches it): showing "
              f"one person from {image_path.name}", file=sys.stderr)  # fmt: skip
    if args.image is not None or args.video is None:
        image = cv2.imread(str(image_path))
        if image is None:
            raise SystemExit(f"cannot read image {image_path} (run tools/setup-env to fetch it)")
        for _ in range(args.frames):
            yield image_path.name, image
    if args.video is not None:
        capture = cv2.VideoCapture(str(args.video))
        if not capture.isOpened():
            raise SystemExit(f"cannot open video {args.video}")
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            yield args.video.name, frame
        capture.release()


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 200)))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, QoSReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image
    from visualization_msgs.msg import MarkerArray

    from bodypose3d_ros.msg import Pose3DArray
    from bodypose3d_ros.ros.conversions import pose_array_to_people

    args.out.mkdir(parents=True, exist_ok=True)
    node_process = NodeProcess(
        parameters={"backend": "blazepose", "input_reliability": "reliable",
                    "max_pose_people": args.max_pose_people},
        remaps={"image": CAMERA_TOPIC, "camera_info": INFO_TOPIC,
                "poses": "/demo/poses", "markers": "/demo/markers"},
    )  # fmt: skip
    rclpy.init()
    player = rclpy.create_node("bodypose3d_demo_player")
    qos = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)
    image_pub = player.create_publisher(Image, CAMERA_TOPIC, qos)
    info_pub = player.create_publisher(CameraInfo, INFO_TOPIC, qos)
    rec = Recording()

    def on_poses(msg: Any) -> None:
        rec.add_poses(time.time(), msg)

    def on_markers(_msg: Any) -> None:
        rec.markers += 1

    player.create_subscription(Pose3DArray, "/demo/poses", on_poses, qos)
    player.create_subscription(MarkerArray, "/demo/markers", on_markers, qos)
    executor = SingleThreadedExecutor()
    executor.add_node(player)
    spinning = threading.Event()
    spinning.set()

    def spin() -> None:
        while spinning.is_set():
            executor.spin_once(timeout_sec=0.05)

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        print("starting bodypose3d_node (MoveNet people + BlazePose GHUM 3D, CPU)...", flush=True)
        deadline = time.monotonic() + args.startup_timeout
        while image_pub.get_subscription_count() == 0:
            if not node_process.running() or time.monotonic() > deadline:
                print("".join(node_process.log().splitlines(True)[-30:]), file=sys.stderr)
                print("the node did not come up; its log is above", file=sys.stderr)
                return 1
            time.sleep(0.1)
        sent: list[tuple[str, np.ndarray, float]] = []
        for name, frame in _frames(args):
            stamp = time.time()
            h, w = frame.shape[:2]
            info = _camera_info(w, h, args.focal_ratio)
            info.header.stamp.sec, info.header.stamp.nanosec = _split(stamp)
            info_pub.publish(info)
            msg = Image()
            msg.header = info.header
            msg.height, msg.width, msg.encoding, msg.step = h, w, "bgr8", w * 3
            msg.data = frame.tobytes()
            image_pub.publish(msg)
            sent.append((name, frame, stamp))
            # Paced from the first frame's stamp, so the stream is never faster than --rate.
            time.sleep(max(0.0, sent[0][2] + len(sent) / args.rate - time.time()))
        if sent and not rec.wait_for_stamp(_split(sent[-1][2]), args.drain_timeout):
            print(f"no output for the last frame within {args.drain_timeout} s", file=sys.stderr)
    finally:
        spinning.clear()
        spinner.join(2.0)
        node_process.stop()
        player.destroy_node()
        rclpy.try_shutdown()
    return _report(args, sent, rec, pose_array_to_people)


def _camera_info(width: int, height: int, focal_ratio: float) -> Any:
    from sensor_msgs.msg import CameraInfo

    f = focal_ratio * width
    info = CameraInfo()
    info.header.frame_id = "demo_camera_optical_frame"
    info.width, info.height = width, height
    info.k = [f, 0.0, width / 2, 0.0, f, height / 2, 0.0, 0.0, 1.0]
    info.p = [f, 0.0, width / 2, 0.0, 0.0, f, height / 2, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def _split(stamp: float) -> tuple[int, int]:
    return int(stamp), int((stamp - int(stamp)) * 1e9)


def _report(args: argparse.Namespace, sent: Sequence[tuple[str, np.ndarray, float]],
            rec: Recording, to_people: Any) -> int:  # fmt: skip
    by_stamp = {_split(stamp): (i, name, frame) for i, (name, frame, stamp) in enumerate(sent)}
    latencies: list[float] = []
    people_counts: list[int] = []
    confident = 0
    last: tuple[np.ndarray, list[Any], Intrinsics] | None = None
    log_path = args.out / "demo_log.jsonl"
    with log_path.open("w") as log:
        for arrival, msg in rec.poses:
            key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
            sent_frame = by_stamp.get(key)
            latencies.append(arrival - (key[0] + key[1] * 1e-9))
            people = to_people(msg)
            people_counts.append(len(people))
            confident += sum(int((p.confidence > 0.5).sum()) for p in people)
            if sent_frame is None:
                continue
            frame_index, name, frame = sent_frame
            h, w = frame.shape[:2]
            f = args.focal_ratio * w
            intrinsics = Intrinsics(f, f, w / 2, h / 2, "camera_info")
            record = frame_to_json(name, w, h, "blazepose", intrinsics, people, frame=frame_index,
                                   stamp=key[0] + key[1] * 1e-9)  # fmt: skip
            log.write(json.dumps(record) + "\n")
            if people:
                last = (frame, people, intrinsics)
    overlay_path, plot_path = args.out / "demo_overlay.png", args.out / "demo_3d.png"
    if last is not None:
        cv2.imwrite(str(overlay_path), draw_overlay(last[0], last[1]))
        plot_3d(last[1], plot_path, title="bodypose3d_node output (camera optical frame)")
    outputs = len(rec.poses)
    summary = {
        "frames_sent": len(sent),
        "outputs_received": outputs,
        "marker_arrays_received": rec.markers,
        "frames_with_people": sum(1 for c in people_counts if c),
        "max_people_in_a_frame": max(people_counts, default=0),
        "confident_keypoints_per_output": round(confident / outputs, 1) if outputs else 0.0,
        "output_rate_hz": _rate([arrival for arrival, _ in rec.poses]),
        "input_rate_hz": _rate([stamp for _, _, stamp in sent]),
        "latency_ms_p50": round(float(np.percentile(latencies, 50)) * 1e3, 1)
        if latencies
        else None,
        "latency_ms_p95": round(float(np.percentile(latencies, 95)) * 1e3, 1)
        if latencies
        else None,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("\nbodypose3d demo summary")
    for label, value in summary.items():
        print(f"  {label:32s} {value}")
    print(f"\nwrote {log_path}, {overlay_path if last else '(no overlay: nobody seen)'}, "
          f"{plot_path if last else ''} and {args.out / 'summary.json'}")  # fmt: skip
    return 0 if outputs and last is not None else 1


def _rate(arrivals: Sequence[float]) -> float:
    """Messages per second between the first and the last arrival."""
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    return round((len(arrivals) - 1) / span, 2) if span > 0 else 0.0


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
