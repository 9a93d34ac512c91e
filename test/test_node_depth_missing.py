"""use_depth:=true with no depth arriving, over real DDS: /diagnostics warns, naming the depth
topic and the likely cause (no publisher: a wrong remap; a publisher that cannot reach the
subscription: a QoS mismatch)."""

from __future__ import annotations

import threading

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from node_harness import RELIABLE, NodeHarness, make_image_msg, wait_for
from rclpy.qos import QoSProfile, QoSReliabilityPolicy
from sensor_msgs.msg import Image

from bodypose3d_ros.ros.diagnostics import NO_DEPTH_WARN_FRAMES

BEST_EFFORT = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.BEST_EFFORT)


class _Diagnostics:
    """The node's statuses on /diagnostics, as a monitor sees them."""

    def __init__(self, h: NodeHarness) -> None:
        self.lock = threading.Lock()
        self.statuses: list[DiagnosticStatus] = []
        h.peer.create_subscription(DiagnosticArray, "/diagnostics", self._on, RELIABLE)

    def _on(self, msg: DiagnosticArray) -> None:
        with self.lock:
            self.statuses.extend(msg.status)

    def warned(self, *words: str) -> DiagnosticStatus | None:
        with self.lock:
            for status in self.statuses:
                if status.level == DiagnosticStatus.WARN and all(
                    w in status.message for w in words
                ):
                    return status
        return None


def _feed_colour_until(h: NodeHarness, done: threading.Event) -> None:
    image = np.zeros((48, 64, 3), np.uint8)
    stamp = 10.0
    while not done.is_set() and h.context.ok():
        h.image_pub.publish(make_image_msg(image, stamp))
        stamp += 0.1
        done.wait(0.05)


def _expect_warning(h: NodeHarness, *words: str) -> DiagnosticStatus:
    diagnostics = _Diagnostics(h)
    h.start()
    done = threading.Event()
    feeder = threading.Thread(target=_feed_colour_until, args=(h, done), daemon=True)
    feeder.start()
    try:
        assert wait_for(lambda: diagnostics.warned(*words) is not None, 60.0), (
            diagnostics.statuses[-1:] if diagnostics.statuses else "no /diagnostics"
        )
    finally:
        done.set()
        feeder.join(5.0)
    status = diagnostics.warned(*words)
    assert status is not None
    values = {kv.key: kv.value for kv in status.values}
    assert values["depth frames received"] == "0"
    assert int(values["frames received"]) >= NO_DEPTH_WARN_FRAMES
    return status


def test_a_depth_topic_nobody_publishes_warns_of_a_wrong_remap() -> None:
    # The driver publishes on 'depth'; the node was remapped elsewhere.
    with NodeHarness(
        cli_args=["--ros-args", "-r", "depth:=camera/aligned_depth/image_raw"],
        backend="blazepose", use_depth=True, detector="none",
    ) as h:  # fmt: skip
        driver = h.peer.create_publisher(Image, "depth", RELIABLE)
        topic = h.node.resolve_topic_name("depth")
        assert topic.endswith("/camera/aligned_depth/image_raw")
        status = _expect_warning(h, f"'{topic}'", "remap")
        assert "no depth image arrived" in status.message
        assert driver.get_subscription_count() == 0  # the node really is not listening there


def test_a_publisher_that_cannot_reach_the_node_warns_of_a_qos_mismatch() -> None:
    # input_reliability:=reliable (the harness's), a best-effort depth driver: DDS never matches.
    with NodeHarness(backend="blazepose", use_depth=True, detector="none") as h:
        h.peer.create_publisher(Image, "depth", BEST_EFFORT)
        topic = h.node.resolve_topic_name("depth")
        assert wait_for(lambda: h.node.count_publishers(topic) == 1, 10.0)
        status = _expect_warning(h, f"'{topic}'", "QoS mismatch")
        assert {kv.key: kv.value for kv in status.values}["depth publishers"] == "1"


def test_depth_that_arrives_does_not_warn() -> None:
    """The same node, fed depth: no depth warning (the rule can fail both ways)."""
    with NodeHarness(backend="blazepose", use_depth=True, detector="none") as h:
        depth_pub = h.peer.create_publisher(Image, "depth", RELIABLE)
        diagnostics = _Diagnostics(h)
        h.start()
        assert wait_for(lambda: depth_pub.get_subscription_count() > 0, 10.0)
        depth = Image(height=48, width=64, encoding="16UC1", step=128)
        depth.data = np.full((48, 64), 2000, np.uint16).tobytes()
        image = np.zeros((48, 64, 3), np.uint8)
        stamp = [10]

        def reported_enough() -> bool:
            stamp[0] += 1  # one colour and one depth frame per check, until /diagnostics says so
            depth.header.stamp.sec = stamp[0]
            depth_pub.publish(depth)
            h.image_pub.publish(make_image_msg(image, float(stamp[0])))
            with diagnostics.lock:
                seen = [{kv.key: kv.value for kv in s.values} for s in diagnostics.statuses]
            return any(
                int(v.get("frames received", "0")) >= NO_DEPTH_WARN_FRAMES
                and v.get("depth frames received", "0") != "0"
                for v in seen
            )

        assert wait_for(reported_enough, 60.0, step_s=0.05)
        assert diagnostics.warned("no depth image arrived") is None
