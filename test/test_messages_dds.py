"""Our messages built from the .msg files and sent between two real rclpy nodes over Fast DDS."""

from __future__ import annotations

from typing import Any

import pytest
from ros_fixtures import spin_until

from bodypose3d_ros.core import skeleton

msg = pytest.importorskip("bodypose3d_ros.msg", reason="messages not built: use tools/with-env")


def _make_array() -> Any:
    from builtin_interfaces.msg import Time

    out = msg.Pose3DArray()
    out.header.frame_id = "camera_color_optical_frame"
    out.header.stamp = Time(sec=1_700_000_123, nanosec=456_789)
    for person in range(2):
        pose = msg.Pose3D()
        pose.header = out.header
        pose.id = f"body_{person + 7}"
        pose.score = 0.25 + person / 4
        pose.roi.x_offset, pose.roi.y_offset = 10 + person, 20 + person
        pose.roi.width, pose.roi.height = 300 + person, 400 + person
        pose.roi.do_rectify = bool(person)
        for i, kp in enumerate(pose.keypoints):
            kp.u = float(i) + 0.5
            kp.v = float(i) * 2 + person
            kp.position.x = i * 0.01
            kp.position.y = -i * 0.02
            kp.position.z = 2.0 + i * 0.03 + person
            kp.confidence = i / 64.0  # exactly representable in float32, so == is exact
        out.poses.append(pose)
    return out


def test_constants_match_the_skeleton() -> None:
    assert msg.Pose3D.NUM_KEYPOINTS == skeleton.NUM_KEYPOINTS == 34
    for index, name in enumerate(skeleton.KEYPOINT_NAMES):
        assert getattr(msg.Pose3D, name.upper()) == index
    assert len(msg.Pose3D().keypoints) == 34


def test_pose3d_has_exactly_the_agreed_fields() -> None:
    assert msg.Keypoint3D.get_fields_and_field_types() == {
        "u": "float",
        "v": "float",
        "position": "geometry_msgs/Point",
        "confidence": "float",
    }
    assert msg.Pose3D.get_fields_and_field_types() == {
        "header": "std_msgs/Header",
        "id": "string",
        "score": "float",
        "roi": "sensor_msgs/RegionOfInterest",
        "keypoints": "bodypose3d_ros/Keypoint3D[34]",
        "root_depth_source": "uint8",
        "keypoint_source": "uint8",
    }
    assert (msg.Pose3D.ROOT_DEPTH_LIMB_LENGTHS, msg.Pose3D.ROOT_DEPTH_DEPTH_IMAGE) == (0, 1)
    assert (msg.Pose3D.KEYPOINT_SOURCE_POSE_MODEL, msg.Pose3D.KEYPOINT_SOURCE_DETECTOR) == (0, 1)
    assert msg.Pose3DArray.get_fields_and_field_types() == {
        "header": "std_msgs/Header",
        "poses": "sequence<bodypose3d_ros/Pose3D>",
    }


def test_pose3d_array_round_trips_over_dds(ros_context: Any) -> None:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy

    qos = QoSProfile(
        depth=1,
        reliability=QoSReliabilityPolicy.RELIABLE,
        durability=QoSDurabilityPolicy.TRANSIENT_LOCAL,
    )
    talker = rclpy.create_node("talker", context=ros_context)
    listener = rclpy.create_node("listener", context=ros_context)
    received: list[Any] = []
    listener.create_subscription(msg.Pose3DArray, "poses_roundtrip", received.append, qos)
    publisher = talker.create_publisher(msg.Pose3DArray, "poses_roundtrip", qos)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(talker)
    executor.add_node(listener)
    sent = _make_array()
    try:
        assert spin_until(executor, lambda: publisher.get_subscription_count() > 0, 10.0)
        publisher.publish(sent)
        assert spin_until(executor, lambda: bool(received), 10.0), "nothing received over DDS"
    finally:
        executor.shutdown()
        talker.destroy_node()
        listener.destroy_node()
    got = received[0]
    assert got is not sent
    assert got == sent  # generated __eq__ compares every field, nested and fixed-size arrays too
    assert got.header.stamp.sec == 1_700_000_123
    assert got.header.stamp.nanosec == 456_789
    assert [p.id for p in got.poses] == ["body_7", "body_8"]
    assert got.poses[1].keypoints[33].position.z == pytest.approx(2.0 + 33 * 0.03 + 1, abs=1e-6)
    assert got.poses[1].roi.do_rectify is True
