"""The node's Pose3DArray builder: refilled messages are exactly the fresh ones."""

from __future__ import annotations

import numpy as np
from bodypose3d_ros.msg import Pose3DArray
from builtin_interfaces.msg import Time
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header

from bodypose3d_ros.core.types import Box, Person3D
from bodypose3d_ros.ros.conversions import people_to_pose_array
from bodypose3d_ros.ros.pose_array_builder import PoseArrayBuilder


def _people(count: int, seed: int) -> list[Person3D]:
    rng = np.random.default_rng(seed)
    return [
        Person3D(
            id=f"body_{seed * 10 + i}",
            score=float(rng.uniform()),
            box=Box(*rng.uniform(0, 300, 4)),
            uv=rng.uniform(0, 640, (34, 2)),
            xyz=rng.normal(0, 2, (34, 3)),
            confidence=rng.uniform(0, 1, 34),
        )
        for i in range(count)
    ]


def test_refilled_arrays_equal_fresh_ones_frame_after_frame() -> None:
    builder = PoseArrayBuilder()
    # More people, then fewer, then more again: nothing of an earlier frame may leak through.
    for frame, count in enumerate((3, 1, 0, 4, 2)):
        header = Header(stamp=Time(sec=100 + frame, nanosec=5), frame_id=f"cam{frame}")
        people = _people(count, frame + 1)
        built = builder.build(header, people, 640, 480)
        fresh = people_to_pose_array(header, people, 640, 480)
        assert len(built.poses) == count
        assert built == fresh  # field by field (CDR padding bytes are not initialised)
        assert _on_the_wire(built) == _on_the_wire(fresh)


def _on_the_wire(msg: Pose3DArray) -> Pose3DArray:
    """What a subscriber receives (float32 fields rounded as DDS carries them)."""
    received: Pose3DArray = deserialize_message(serialize_message(msg), Pose3DArray)
    return received
