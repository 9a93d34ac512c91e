"""The node as its own process (as `ros2 run` starts it): signals, shutdown and hostile frames.

These are the failures no in-process test can show: a SIGABRT inside the model kills the process,
and signals reach the real main loop. Every wait is on a log line, a topic or the process itself.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from node_harness import RELIABLE, ProcessHarness, make_camera_info, make_image_msg, wait_for
from sensor_msgs.msg import CompressedImage, Image
from visualization_msgs.msg import Marker, MarkerArray

from bodypose3d_ros.node_process import NodeProcess


@pytest.fixture(scope="module")
def photo(person_image_path: Path) -> np.ndarray:
    image = cv2.imread(str(person_image_path))
    assert image is not None
    return image


def _exit_code(node: NodeProcess, timeout_s: float = 60.0) -> int:
    try:
        return node.process.wait(timeout=timeout_s)
    except Exception:
        node.process.kill()
        raise


def test_sigterm_while_autostart_configures_exits_cleanly() -> None:
    node = NodeProcess(parameters={"backend": "blazepose"}, remaps={"__node": "bodypose3d_term"})
    try:
        assert wait_for(lambda: "configuring: loading" in node.log() or not node.running(), 60.0)
        assert node.running(), node.log()
        node.process.send_signal(signal.SIGTERM)
        code = _exit_code(node)
        assert wait_for(lambda: "SIGTERM: shutting down" in node.log(), 10.0), node.log()
    finally:
        node.stop()
    log = node.log()
    assert code == 0, log
    assert "Traceback" not in log
    assert "RCLError" not in log


def test_ctrl_c_while_frames_flow_is_clean_and_clears_the_markers(
    ros_context: Any, photo: np.ndarray
) -> None:
    """SIGINT with frames in flight: exit 0, no "frame failed" (the frame in flight is not the
    camera's fault), and a DELETEALL so RViz does not keep the last skeleton forever."""
    harness = ProcessHarness(ros_context, backend="blazepose")
    markers: list[MarkerArray] = []
    harness.peer.create_subscription(MarkerArray, "/proc/markers", markers.append, RELIABLE)
    stop_sending = threading.Event()

    def send() -> None:
        stamp = 100.0
        height, width = photo.shape[:2]
        while not stop_sending.is_set():
            harness.info_pub.publish(make_camera_info(width, height, 530.0, 545.0, 320, 212))
            harness.image_pub.publish(make_image_msg(photo, stamp))
            stamp += 1 / 30
            stop_sending.wait(1 / 30)

    sender = threading.Thread(target=send, daemon=True)
    try:
        harness.wait_until_active()
        sender.start()
        assert wait_for(lambda: any(a.markers for a in markers), 60.0), "no skeleton drawn"
        assert wait_for(lambda: len(harness.poses) >= 3, 60.0)
        seen = len(markers)
        harness.process.send_signal(signal.SIGINT)
        code = _exit_code(harness.node)
        assert wait_for(
            lambda: any(
                m.action == Marker.DELETEALL for array in markers[seen:] for m in array.markers
            ),
            10.0,
        ), "no DELETEALL when the node shut down"
    finally:
        stop_sending.set()
        log = harness.close()
    assert code == 0, log
    assert "frame failed" not in log
    assert "context is invalid" not in log
    assert "Traceback" not in log


def test_ctrl_c_while_a_frame_waits_for_its_depth_image_exits_at_once(
    ros_context: Any, photo: np.ndarray
) -> None:
    """Depth 0.4 s behind colour: every colour frame waits (up to depth_max_time_offset_s) for a
    depth frame as new as itself. SIGINT ends that wait; the process exits within 5 s (the
    pairing wait once held it for depth_max_time_offset_s = 30 s)."""
    harness = ProcessHarness(
        ros_context, backend="blazepose", use_depth=True, depth_max_time_offset_s=0.5,
        input_reliability="reliable",
    )  # fmt: skip
    height, width = photo.shape[:2]
    depth = Image()
    depth.height, depth.width, depth.encoding, depth.step = height, width, "16UC1", width * 2
    depth.data = bytes(width * height * 2)
    stop_sending = threading.Event()

    def send() -> None:  # colour at 10 Hz, its depth 0.4 s late
        stamp = 100.0
        while not stop_sending.wait(0.1):
            harness.info_pub.publish(make_camera_info(width, height, 530.0, 545.0, 320, 212))
            harness.image_pub.publish(make_image_msg(photo, stamp))
            depth.header.stamp.sec = int(stamp - 0.4)
            depth.header.stamp.nanosec = round((stamp - 0.4) % 1 * 1e9)
            harness.depth_pub.publish(depth)
            stamp += 0.1

    sender = threading.Thread(target=send, daemon=True)
    try:
        harness.wait_until_active()
        sender.start()
        assert wait_for(lambda: len(harness.poses) >= 2, 60.0), harness.node.log()[-2000:]
        harness.process.send_signal(signal.SIGINT)
        code = _exit_code(harness.node, timeout_s=5.0)
    finally:
        stop_sending.set()
        log = harness.close()
    assert code == 0, log
    assert "Traceback" not in log


def _raw(width: int, height: int) -> Image:
    msg = Image()
    msg.width, msg.height, msg.step, msg.encoding = width, height, width * 3, "bgr8"
    msg.data = bytes(width * height * 3)
    return msg


def test_hostile_frames_are_rejected_and_the_process_lives_on(
    ros_context: Any, photo: np.ndarray
) -> None:
    """Sides of 32767 px and more aborted the process inside the model (SIGABRT)."""
    harness = ProcessHarness(
        ros_context, backend="blazepose", max_image_pixels=1 << 26, input_reliability="reliable"
    )
    try:
        harness.wait_until_active()
        hostile = [_raw(32767, 2), _raw(65536, 1), _raw(2, 32767)]
        odd = _raw(4, 4)
        odd.encoding = "x" * 1_000_000  # a megabyte encoding string
        hostile.append(odd)
        key = "frames rejected (bad input)"
        for count, msg in enumerate(hostile, start=1):  # one at a time: the node keeps the newest
            harness.image_pub.publish(msg)
            assert wait_for(lambda c=count: harness.counter(key) >= c, 60.0), harness.diagnostics  # type: ignore[misc]
        assert harness.process.poll() is None, harness.node.log()[-3000:]
        assert len(harness.diagnostics["last error"]) < 1000
        n = len(harness.poses)
        harness.image_pub.publish(make_image_msg(photo, 7.0))
        assert wait_for(lambda: len(harness.poses) > n, 60.0), "no output after hostile frames"
    finally:
        log = harness.close()
    assert max(len(line) for line in log.splitlines()) < 2000  # no megabyte log lines


def test_hostile_compressed_frames_are_rejected_and_the_process_lives_on(
    ros_context: Any, photo: np.ndarray
) -> None:
    """A valid small JPEG of 32767x8 aborted the process; bombs made it allocate gigabytes."""
    harness = ProcessHarness(
        ros_context, backend="blazepose", image_compressed=True, input_reliability="reliable"
    )
    publisher = harness.peer.create_publisher(CompressedImage, "/proc/image/compressed", RELIABLE)
    try:
        assert wait_for(lambda: publisher.get_subscription_count() > 0, 60.0), harness.node.log()
        payloads = [
            cv2.imencode(".jpg", np.zeros((8, 32767, 3), np.uint8))[1].tobytes(),
            b"GIF89a" + bytes(40),
            b"\xff\xd8\xff\xda" + bytes(100),
        ]
        key = "frames rejected (bad input)"
        for count, data in enumerate(payloads, start=1):
            msg = CompressedImage()
            msg.format = "jpeg"
            msg.data = data
            publisher.publish(msg)
            assert wait_for(lambda c=count: harness.counter(key) >= c, 60.0), harness.diagnostics  # type: ignore[misc]
        good = CompressedImage()
        good.header.stamp.sec = 9
        good.format = "jpeg"
        good.data = cv2.imencode(".jpg", photo)[1].tobytes()
        n = len(harness.poses)
        publisher.publish(good)
        assert wait_for(lambda: len(harness.poses) > n, 60.0), "no output after hostile frames"
        assert harness.process.poll() is None
    finally:
        harness.close()
