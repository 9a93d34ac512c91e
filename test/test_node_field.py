"""What real drivers, robots and RViz do to the node, over real DDS with the embedded model.

CameraInfo published best effort, remapped compressed topics, repeated stamps, zero stamps on a
simulated clock, invalid lifecycle requests, parameter changes and marker clean-up.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from node_harness import NodeHarness, make_camera_info, make_image_msg, wait_for
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, QoSReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, CompressedImage
from visualization_msgs.msg import Marker

FX, FY = 530.0, 545.0
BEST_EFFORT = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.BEST_EFFORT)


@pytest.fixture(scope="module")
def photo(person_image_path: Path) -> np.ndarray:
    image = cv2.imread(str(person_image_path))
    assert image is not None
    return image


# The single-person node, a person published from their first sighting: these tests send one
# photo of one person and look at that frame's answer (confirmation is tested elsewhere).
ONE_FRAME: dict[str, Any] = {"backend": "blazepose", "detector": "none", "track_min_hits": 1}


def _shifted(image: np.ndarray, dx: float) -> np.ndarray:
    matrix = np.float32([[1, 0, dx], [0, 1, 0]])
    h, w = image.shape[:2]
    return cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)


def _info(image: np.ndarray) -> CameraInfo:
    h, w = image.shape[:2]
    return make_camera_info(w, h, FX, FY, w / 2 + 7.0, h / 2 - 5.0)


def _repeat_until(
    action: Callable[[], object], condition: Callable[[], bool], timeout_s: float = 20.0
) -> bool:
    """Do ``action`` every 0.2 s until ``condition`` holds (a publisher sending periodically)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        action()
        if wait_for(condition, 0.2):
            return True
    return False


def _pose_of_next_frame(h: NodeHarness, image_msg: object, timeout_s: float = 30.0) -> object:
    n = len(h.poses)
    h.image_pub.publish(image_msg)
    return h.wait_for_poses(n + 1, timeout_s)[n]


def _mean_u(pose_array: object) -> float:
    poses = pose_array.poses  # type: ignore[attr-defined]
    assert len(poses) == 1, f"expected one person, got {len(poses)}"
    us = [kp.u for kp in poses[0].keypoints if kp.confidence > 0.5]
    assert len(us) >= 10
    return float(np.mean(us))


def test_reliable_images_with_best_effort_camera_info_use_the_true_k(photo: np.ndarray) -> None:
    """input_reliability:=reliable must not make CameraInfo reliable: many drivers publish it
    best effort, and a reliable subscription never matches such a publisher."""
    with NodeHarness(**ONE_FRAME) as h:  # the harness sets input_reliability=reliable
        h.start()
        info_pub = h.peer.create_publisher(CameraInfo, "camera_info", BEST_EFFORT)
        assert wait_for(lambda: info_pub.get_subscription_count() > 0, 10.0), (
            "the node's CameraInfo subscription does not match a best-effort publisher"
        )
        assert _repeat_until(
            lambda: info_pub.publish(_info(photo)), lambda: h.node._camera_info is not None
        ), "no CameraInfo arrived"
        out = _pose_of_next_frame(h, make_image_msg(photo, 10.0))
        assert h.node.snapshot().intrinsics_source == "camera_info"
        height, width = photo.shape[:2]
        cx, cy = width / 2 + 7.0, height / 2 - 5.0
        confident = [kp for kp in out.poses[0].keypoints if kp.confidence > 0.5]  # type: ignore[attr-defined]
        for kp in confident:
            p = kp.position
            assert math.hypot(FX * p.x / p.z + cx - kp.u, FY * p.y / p.z + cy - kp.v) <= 1.0


def test_compressed_input_follows_the_remapped_image_topic(photo: np.ndarray) -> None:
    """`-r image:=/cam/image` with image_compressed:=true listens on /cam/image/compressed."""
    topic = f"/remapped_cam_{os.getpid()}/image"  # absolute, outside the harness namespace
    with NodeHarness(
        cli_args=["--ros-args", "-r", f"image:={topic}"], **ONE_FRAME, image_compressed=True
    ) as h:
        from rclpy.lifecycle import TransitionCallbackReturn as Result

        assert h.node.trigger_configure() == Result.SUCCESS
        assert h.node.trigger_activate() == Result.SUCCESS
        assert h.node._inputs[0].topic_name == f"{topic}/compressed"
        publisher = h.peer.create_publisher(CompressedImage, f"{topic}/compressed", 10)
        assert wait_for(lambda: publisher.get_subscription_count() > 0, 10.0)
        msg = CompressedImage()
        msg.header.stamp.sec = 77
        msg.format = "jpeg"
        msg.data = cv2.imencode(".jpg", photo)[1].tobytes()
        n = len(h.poses)
        publisher.publish(msg)
        out = h.wait_for_poses(n + 1, 30.0)[n]
        assert out.header.stamp.sec == 77
        assert len(out.poses) == 1


@pytest.fixture(scope="module")
def harness(photo: np.ndarray) -> Iterator[NodeHarness]:
    with NodeHarness(**ONE_FRAME) as h:
        h.start()
        assert _repeat_until(
            lambda: h.info_pub.publish(_info(photo)), lambda: h.node._camera_info is not None
        )
        yield h


@pytest.mark.parametrize("step_back_s", [0.0, 0.01])
def test_repeated_or_backward_stamps_still_publish_what_the_frame_saw(
    harness: NodeHarness, photo: np.ndarray, step_back_s: float
) -> None:
    """The person walks 114 px in 19 px steps while the stamps repeat (or go back 10 ms each).

    The smoothing filter used to ignore such frames, so the published skeleton froze where it was.
    """
    base = 3000.0 + 100 * step_back_s
    # The harness is shared: an empty scene first, so the person a previous test left 114 px
    # to the right is lost (unseen for 2 frames and 1 s) and each case starts on its own.
    empty = np.full_like(photo, 128)
    for k in range(3):
        _pose_of_next_frame(harness, make_image_msg(empty, base - 10.0 + 2 * k))
    for k in range(3):
        start = _pose_of_next_frame(harness, make_image_msg(photo, base + k / 30))
    last = base + 2 / 30
    for step in range(1, 7):
        moved = _shifted(photo, 19.0 * step)
        end = _pose_of_next_frame(harness, make_image_msg(moved, last - step * step_back_s))
    assert end.poses[0].id == start.poses[0].id  # type: ignore[attr-defined]  # one track
    assert _mean_u(end) - _mean_u(start) == pytest.approx(114.0, abs=15.0)


def test_lifecycle_requests_that_are_impossible_are_refused_and_the_node_lives_on(
    harness: NodeHarness, photo: np.ndarray
) -> None:
    """change_state with id 1 (configure) while active, or 99, over a real service client."""
    name = harness.node.get_fully_qualified_name()
    change = harness.peer.create_client(ChangeState, f"{name}/change_state")
    get_state = harness.peer.create_client(GetState, f"{name}/get_state")
    assert change.wait_for_service(timeout_sec=10.0)
    assert get_state.wait_for_service(10.0)
    for transition_id in (Transition.TRANSITION_CONFIGURE, 99):
        request = ChangeState.Request()
        request.transition.id = transition_id
        future = change.call_async(request)
        assert wait_for(future.done, 10.0), "no answer: the service handler died"
        assert future.result().success is False
    state = get_state.call_async(GetState.Request())
    assert wait_for(state.done, 10.0)
    assert state.result().current_state.id == State.PRIMARY_STATE_ACTIVE
    # Still serving: every frame answered, the person found again (the model may need a frame
    # to re-find them after the previous test moved them).
    outputs = [_pose_of_next_frame(harness, make_image_msg(photo, 4000.0 + k)) for k in range(3)]
    assert [o.header.stamp.sec for o in outputs] == [4000, 4001, 4002]  # type: ignore[attr-defined]
    assert len(outputs[-1].poses) == 1  # type: ignore[attr-defined]


def test_diagnostics_period_out_of_range_is_refused_when_set_and_at_configure() -> None:
    with NodeHarness(backend="blazepose") as h:
        h.start()
        for value in (1e10, 1e-12):
            result = h.node.set_parameters([Parameter("diagnostics_period_s", value=value)])[0]
            assert not result.successful
            assert "diagnostics_period_s" in result.reason
            assert "[0.1, 3600]" in result.reason
        assert h.node.get_parameter("diagnostics_period_s").value == 1.0
        assert h.node.set_parameters([Parameter("diagnostics_period_s", value=0.5)])[0].successful
    with NodeHarness(backend="blazepose", diagnostics_period_s=1e10) as h:
        assert h.node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert "diagnostics_period_s=10000000000.0 must be within [0.1, 3600]" in (
            h.node.snapshot().last_error
        )


# Values each accepted with an empty reason, then breaking every frame (or the configure).
FRAME_BREAKERS = [
    ("marker_lifetime_s", 1e300, "[0, 86400]"),
    ("marker_lifetime_s", 3e9, "[0, 86400]"),
    ("depth_max_time_offset_s", 1e300, "(0, 0.5]"),
    ("depth_max_time_offset_s", 30.0, "(0, 0.5]"),
    ("triton_timeout_s", 1e300, "[0.01, 60]"),
    ("triton_timeout_s", 1e-6, "[0.01, 60]"),
]


def test_set_parameters_over_dds_refuses_values_that_break_frames_naming_the_range(
    photo: np.ndarray,
) -> None:
    """`ros2 param set` as a tool does it: a parameter client on another node, over DDS."""
    from rclpy.parameter_client import AsyncParameterClient

    with NodeHarness(**ONE_FRAME) as h:
        h.start()
        client = AsyncParameterClient(h.peer, h.node.get_fully_qualified_name())
        assert wait_for(client.services_are_ready, 30.0), "no parameter services"

        def set_one(name: str, value: object) -> Any:
            future = client.set_parameters([Parameter(name, value=value)])
            assert wait_for(future.done, 30.0), f"no answer setting {name}"
            return future.result().results[0]  # type: ignore[union-attr]

        for name, value, accepted in FRAME_BREAKERS:
            before = h.node.get_parameter(name).value
            result = set_one(name, value)
            assert not result.successful, (name, value)
            assert f"{name}={value!r} must be within {accepted}" in result.reason
            assert h.node.get_parameter(name).value == before
        # The ends of a range are fine: the largest lifetime reaches the markers after a
        # re-configure, and frames still come out.
        assert set_one("marker_lifetime_s", 86400.0).successful
        assert set_one("triton_model_version", 7).successful  # an integer, as the CLI takes it
        for transition in (h.node.trigger_deactivate, h.node.trigger_cleanup,
                           h.node.trigger_configure, h.node.trigger_activate):  # fmt: skip
            assert transition() == TransitionCallbackReturn.SUCCESS, transition.__name__
        assert h.node.params.triton_model_version == "7"
        h.send_camera_info(_info(photo))
        n = len(h.markers)
        h.image_pub.publish(make_image_msg(photo, 6000.0))
        assert wait_for(lambda: len(h.markers) > n, 30.0), h.node.snapshot().last_error
        drawn = [m for m in h.markers[n].markers if m.action == Marker.ADD]
        assert drawn
        assert all((m.lifetime.sec, m.lifetime.nanosec) == (86400, 0) for m in drawn)


def test_an_integer_model_version_on_the_command_line_is_accepted() -> None:
    """`-p triton_model_version:=7` (parsed by ROS as an integer) failed "must be of type str"."""
    with NodeHarness(cli_args=["--ros-args", "-p", "triton_model_version:=7"], **ONE_FRAME) as h:
        assert h.node.get_parameter("triton_model_version").value == 7  # as ROS parsed it
        assert h.node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert h.node.params.triton_model_version == "7"


def test_markers_have_a_lifetime_and_are_cleared_on_deactivate_activate_and_shutdown(
    photo: np.ndarray,
) -> None:
    with NodeHarness(**ONE_FRAME, marker_lifetime_s=0.25) as h:
        h.start()
        assert _repeat_until(
            lambda: h.info_pub.publish(_info(photo)), lambda: h.node._camera_info is not None
        )
        pub = h.node._pub_markers
        assert wait_for(lambda: pub.get_subscription_count() > 0, 10.0)
        n = len(h.markers)
        h.image_pub.publish(make_image_msg(photo, 5000.0))
        assert wait_for(lambda: len(h.markers) > n, 30.0)
        drawn = [m for m in h.markers[n].markers if m.action == Marker.ADD]
        assert drawn
        assert all((m.lifetime.sec, m.lifetime.nanosec) == (0, 250_000_000) for m in drawn)

        def delete_all_after(count: int) -> bool:
            return any(
                m.action == Marker.DELETEALL for array in h.markers[count:] for m in array.markers
            )

        for transition in (h.node.trigger_deactivate, h.node.trigger_activate):
            n = len(h.markers)
            assert transition() == TransitionCallbackReturn.SUCCESS
            assert wait_for(lambda n=n: delete_all_after(n), 10.0), transition.__name__  # type: ignore[misc]
        n = len(h.markers)
        h.node.trigger_shutdown()
        assert wait_for(lambda: delete_all_after(n), 10.0), "no DELETEALL on shutdown"


def test_zero_stamps_use_the_node_clock_like_the_stamped_frames(photo: np.ndarray) -> None:
    """Stamped frames, then a zero-stamped one, all on a simulated clock at 1000 s.

    The zero-stamped frame must be smoothed as 0.1 s after the last stamped one (beta 0: a
    0.1 Hz cut-off moves the pose about 1 px of a 19 px step). Taking its time from another
    clock (time.monotonic()) put it far away on another timeline and restarted the filter.
    """
    with NodeHarness(**ONE_FRAME, use_sim_time=True, smoothing_uv_beta=0.0) as h:
        clock_pub = h.peer.create_publisher(Clock, "/clock", 10)
        h.start()
        now = Clock()
        now.clock.sec = 1000
        assert _repeat_until(
            lambda: clock_pub.publish(now),
            lambda: h.node.get_clock().now().nanoseconds == 1000 * 10**9,
        ), "the node never took the simulated time"
        assert _repeat_until(
            lambda: h.info_pub.publish(_info(photo)), lambda: h.node._camera_info is not None
        )
        for stamp in (999.8, 999.85, 999.9):
            before = _mean_u(_pose_of_next_frame(h, make_image_msg(photo, stamp)))
        zero = make_image_msg(_shifted(photo, 19.0), 0.0)
        after = _mean_u(_pose_of_next_frame(h, zero))
        assert -2.0 < after - before < 8.0, after - before  # unsmoothed it would be ~19 px
