"""The node's depth input on its own: real sensor_msgs/Image depth frames paired by time.

No DDS is needed here: these are the messages the node's depth subscription hands over, and the
clock is the node's ROS clock as a function (a simulated one, so the test decides the times).
"""

from __future__ import annotations

import numpy as np
import rclpy.logging
from sensor_msgs.msg import Image

from bodypose3d_ros.core.depth.depth_fusion import measure_anchor
from bodypose3d_ros.core.depth.depth_image import NOTE_TOO_SMALL, depth_from_array
from bodypose3d_ros.core.skeleton import NUM_KEYPOINTS
from bodypose3d_ros.ros.depth_input import DepthInput

WIDTH, HEIGHT = 64, 48


def _depth_msg(stamp: float, millimetres: int) -> Image:
    msg = Image()
    msg.header.stamp.sec = int(stamp)
    msg.header.stamp.nanosec = round((stamp - int(stamp)) * 1e9)
    msg.height, msg.width, msg.encoding, msg.step = HEIGHT, WIDTH, "16UC1", WIDTH * 2
    msg.data = np.full((HEIGHT, WIDTH), millimetres, dtype="<u2").tobytes()
    return msg


class _RosClock:
    """The node's clock, set by the test (as a simulated /clock would)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


def _input(clock: _RosClock) -> DepthInput:
    return DepthInput(rclpy.logging.get_logger("depth_input_test"), "/depth", now=clock)


def test_unstamped_depth_pairs_with_unstamped_colour_by_arrival_time() -> None:
    """A driver that leaves stamps empty on both topics: the node times colour frames by their
    arrival on its clock, and must time depth frames the same way. With the raw zero stamps every
    colour frame paired with whichever buffered depth frame came first (up to 8 frames stale)."""
    clock = _RosClock()
    depth = _input(clock)
    for arrival, millimetres in ((50.0, 1000), (50.1, 2000), (50.2, 3000)):
        clock.seconds = arrival
        depth.on_message(_depth_msg(0.0, millimetres))
    paired = depth.for_frame(50.205, WIDTH, HEIGHT, 0.04, WIDTH * HEIGHT)
    assert paired is not None
    assert float(paired.values[0, 0]) * paired.metres_per_unit == 3.0  # the newest, not the first
    assert depth.counters.frames_unpaired == 0


def test_stamped_depth_keeps_its_own_stamp() -> None:
    clock = _RosClock()
    depth = _input(clock)
    clock.seconds = 999.0  # arrival time is irrelevant for a stamped frame
    depth.on_message(_depth_msg(12.5, 1500))
    paired = depth.for_frame(12.51, WIDTH, HEIGHT, 0.04, WIDTH * HEIGHT)
    assert paired is not None
    assert float(paired.values[0, 0]) * paired.metres_per_unit == 1.5
    assert depth.for_frame(999.0, WIDTH, HEIGHT, 0.04, WIDTH * HEIGHT) is None
    assert depth.counters.frames_unpaired == 1


def test_publishers_image_notes_and_fallback_causes_are_counted() -> None:
    clock = _RosClock()
    depth = DepthInput(
        rclpy.logging.get_logger("depth_input_test"), "/cam/depth", now=clock, publishers=lambda: 3
    )
    assert (depth.counters.topic, depth.counters.publishers) == ("/cam/depth", 3)
    depth.on_message(_depth_msg(5.0, 2))  # metres written into a millimetre encoding
    assert depth.for_frame(5.0, WIDTH, HEIGHT, 0.04, WIDTH * HEIGHT) is not None
    assert depth.counters.image_notes == ((NOTE_TOO_SMALL, 1),)
    depth.on_message(_depth_msg(6.0, 2500))  # a plausible wall: no note
    assert depth.for_frame(6.0, WIDTH, HEIGHT, 0.04, WIDTH * HEIGHT) is not None
    assert depth.counters.image_notes == ((NOTE_TOO_SMALL, 1),)
    failed = measure_anchor(
        np.zeros((NUM_KEYPOINTS, 2)), np.zeros((NUM_KEYPOINTS, 3)), np.zeros(NUM_KEYPOINTS),
        depth_from_array(np.zeros((4, 4), np.uint16), "16UC1"), WIDTH, HEIGHT,
    )  # fmt: skip
    depth.count_people([], [failed, failed])
    assert depth.counters.fallback_causes == ((failed.cause, 2),)
