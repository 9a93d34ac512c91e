"""Runs the real bodypose3d node and a test peer in one rclpy context, spinning in a thread.

Everything crosses real DDS topics: the peer publishes Image/CameraInfo and records what the node
publishes. Nothing of the node is replaced.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import rclpy
from bodypose3d_ros.msg import Pose3DArray
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, QoSReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from visualization_msgs.msg import MarkerArray

from bodypose3d_ros.node import BodyPose3DNode
from bodypose3d_ros.node_process import NodeProcess

RELIABLE = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)


def make_image_msg(image_bgr: np.ndarray, stamp_s: float, frame_id: str = "cam_optical") -> Image:
    msg = Image()
    msg.header.frame_id = frame_id
    msg.header.stamp.sec = int(stamp_s)
    msg.header.stamp.nanosec = round((stamp_s - int(stamp_s)) * 1e9)
    msg.height, msg.width = image_bgr.shape[:2]
    msg.encoding = "bgr8"
    msg.step = image_bgr.shape[1] * 3
    msg.data = np.ascontiguousarray(image_bgr).tobytes()
    return msg


def make_camera_info(
    width: int,
    height: int,
    fx: float,
    fy: float,
    cx: float,
    cy: float,
    frame_id: str = "cam_optical",
) -> CameraInfo:
    info = CameraInfo()
    info.header.frame_id = frame_id
    info.width, info.height = width, height
    info.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    info.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


class NodeHarness:
    """The node under test plus a peer node; call ``close`` (or use as a context manager)."""

    _count = 0
    _info_count = 0

    def __init__(self, cli_args: list[str] | None = None, **parameters: Any) -> None:
        """``parameters`` override the node's; ``cli_args`` (e.g. remaps) go to the node only."""
        self.context = Context()
        rclpy.init(context=self.context)
        overrides = [Parameter(name, value=value) for name, value in parameters.items()]
        overrides.append(Parameter("input_reliability", value="reliable"))
        # Each harness in its own namespace: harnesses alive at once never see each other's topics.
        NodeHarness._count += 1
        ns = f"/harness{NodeHarness._count}"
        self.node = BodyPose3DNode(
            context=self.context, parameter_overrides=overrides, namespace=ns, cli_args=cli_args
        )
        self.peer = rclpy.create_node("bodypose3d_test_peer", context=self.context, namespace=ns)
        self.lock = threading.Lock()
        self.poses: list[tuple[float, Pose3DArray]] = []
        self.markers: list[MarkerArray] = []
        self.debug_images: list[Image] = []
        self.peer.create_subscription(Pose3DArray, "poses", self._on_poses, RELIABLE)
        self.peer.create_subscription(MarkerArray, "markers", self._on_markers, RELIABLE)
        self.peer.create_subscription(Image, "debug_image", self._on_debug, RELIABLE)
        self.image_pub = self.peer.create_publisher(Image, "image", RELIABLE)
        self.compressed_pub = self.peer.create_publisher(
            CompressedImage, "image/compressed", RELIABLE
        )
        self.info_pub = self.peer.create_publisher(CameraInfo, "camera_info", RELIABLE)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.peer)
        self._spinner = threading.Thread(target=self._spin, daemon=True)
        self._spinner.start()

    def _spin(self) -> None:
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # executor shut down under us at close
                return

    def _on_poses(self, msg: Pose3DArray) -> None:
        with self.lock:
            self.poses.append((time.time(), msg))

    def _on_markers(self, msg: MarkerArray) -> None:
        with self.lock:
            self.markers.append(msg)

    def _on_debug(self, msg: Image) -> None:
        with self.lock:
            self.debug_images.append(msg)

    def start(self) -> None:
        """Configure and activate the node; raise if either transition fails."""
        from rclpy.lifecycle import TransitionCallbackReturn

        assert self.node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert self.node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        publisher = self.compressed_pub if self.node.params.image_compressed else self.image_pub
        assert wait_for(lambda: publisher.get_subscription_count() > 0, 10.0), "node not subscribed"
        assert wait_for(lambda: self.info_pub.get_subscription_count() > 0, 10.0)

    def send_camera_info(self, info: CameraInfo, timeout_s: float = 10.0) -> None:
        """Publish ``info`` and wait until the node holds it, as a camera driver's CameraInfo
        would have arrived long before the image that follows (the topics are not ordered)."""
        NodeHarness._info_count += 1
        info.header.stamp.sec, info.header.stamp.nanosec = 1, NodeHarness._info_count
        self.info_pub.publish(info)

        def held() -> bool:
            current = getattr(self.node, "_camera_info", None)
            return current is not None and current.header == info.header

        assert wait_for(held, timeout_s), "the node never received the CameraInfo"

    def wait_for_poses(self, count: int, timeout_s: float = 20.0) -> list[Pose3DArray]:
        assert wait_for(lambda: len(self.poses) >= count, timeout_s), (
            f"only {len(self.poses)} Pose3DArray messages after {timeout_s}s"
        )
        with self.lock:
            return [m for _, m in self.poses]

    def wait_for_output(self, stamp_s: float, timeout_s: float = 20.0) -> Pose3DArray:
        """The Pose3DArray answering the frame stamped ``stamp_s``. Waiting for it, not for "one
        more message", matters: outputs of frames sent earlier may still be on their way."""
        stamp = (int(stamp_s), round((stamp_s - int(stamp_s)) * 1e9))

        def find() -> Pose3DArray | None:
            with self.lock:
                found = [m for _, m in self.poses
                         if (m.header.stamp.sec, m.header.stamp.nanosec) == stamp]  # fmt: skip
            return found[-1] if found else None

        assert wait_for(lambda: find() is not None, timeout_s), (
            f"no output for the frame stamped {stamp_s} after {timeout_s}s"
        )
        out = find()
        assert out is not None
        return out

    def wait_for_counter(self, field: str, at_least: int, timeout_s: float = 15.0) -> None:
        assert wait_for(lambda: getattr(self.node.snapshot(), field) >= at_least, timeout_s), (
            f"{field} stayed at {getattr(self.node.snapshot(), field)} (< {at_least})"
        )

    def close(self) -> None:
        self.context.try_shutdown()
        self._spinner.join(5.0)
        self.executor.shutdown()
        self.node._stop_worker()
        self.node.destroy_node()
        self.peer.destroy_node()

    def __enter__(self) -> NodeHarness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_for(condition: Callable[[], bool], timeout_s: float, step_s: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step_s)
    return condition()


class ProcessHarness:
    """``python -m bodypose3d_ros.node`` in its own process (as deployed), plus a peer node.

    The peer publishes images like a camera driver and reads the node's counters
    from /diagnostics, since the node's objects are out of reach in another process.
    """

    def __init__(
        self,
        context: Context,
        name: str = "proc",
        command_prefix: Sequence[str] = (),
        **parameters: object,
    ) -> None:
        """``name``: the topics' namespace and the node's name suffix (several nodes at once);
        ``command_prefix`` runs the node under another command (strace)."""
        from diagnostic_msgs.msg import DiagnosticArray

        # Own topic names, so no other node under test in this domain sees these frames.
        ns = f"/{name}"
        self.hardware_id = f"/bodypose3d_{name}"
        self.node = NodeProcess(
            parameters=parameters,
            remaps={"image": f"{ns}/image", "camera_info": f"{ns}/camera_info",
                    "poses": f"{ns}/poses", "markers": f"{ns}/markers", "depth": f"{ns}/depth",
                    "__node": f"bodypose3d_{name}"},
            command_prefix=command_prefix,
        )  # fmt: skip
        self.process = self.node.process
        self.peer = rclpy.create_node(f"bodypose3d_{name}_peer", context=context)
        self.lock = threading.Lock()
        self.poses: list[tuple[float, Pose3DArray]] = []
        self.diagnostics: dict[str, str] = {}
        self.diagnostic_level = b""  # DiagnosticStatus.OK / WARN / ERROR of the last message
        self.peer.create_subscription(Pose3DArray, f"{ns}/poses", self._on_poses, RELIABLE)
        self.peer.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, RELIABLE)
        camera_qos = QoSProfile(depth=1, reliability=QoSReliabilityPolicy.RELIABLE)
        self.image_pub = self.peer.create_publisher(Image, f"{ns}/image", camera_qos)
        self.info_pub = self.peer.create_publisher(CameraInfo, f"{ns}/camera_info", camera_qos)
        self.depth_pub = self.peer.create_publisher(Image, f"{ns}/depth", camera_qos)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.peer)
        self._context = context
        self._spinner = threading.Thread(target=self._spin, daemon=True)
        self._spinner.start()

    def _spin(self) -> None:
        while self._context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:
                return

    def _on_poses(self, msg: Pose3DArray) -> None:
        with self.lock:
            self.poses.append((time.time(), msg))

    def _on_diag(self, msg: Any) -> None:
        for status in msg.status:
            if status.hardware_id == self.hardware_id:
                with self.lock:
                    self.diagnostics = {kv.key: kv.value for kv in status.values}
                    self.diagnostic_level = bytes(status.level)

    def counter(self, key: str) -> int:
        with self.lock:
            return int(self.diagnostics.get(key, "0"))

    def wait_until_active(self, timeout_s: float = 60.0) -> None:
        ok = wait_for(
            lambda: self.image_pub.get_subscription_count() > 0 or self.process.poll() is not None,
            timeout_s,
        )
        if not ok or self.process.poll() is not None:
            raise AssertionError("node did not start:\n" + self.node.stop(timeout_s=1.0)[-3000:])

    def close(self) -> str:
        log = self.node.stop()
        self.executor.shutdown()
        self.peer.destroy_node()
        return log
