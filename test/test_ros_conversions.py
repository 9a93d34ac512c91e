"""ROS message conversions with the real generated message classes (and once over real DDS)."""

from __future__ import annotations

import math
import textwrap
from typing import Any

import cv2
import numpy as np
import pytest
from ros_fixtures import run_with_field_checks, spin_until

pytest.importorskip("rclpy", reason="rclpy missing: run the tests via tools/with-env")
pytest.importorskip("bodypose3d_ros.msg", reason="messages not built: use tools/with-env")

from bodypose3d_ros.msg import Pose3D, Pose3DArray
from builtin_interfaces.msg import Time
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from bodypose3d_ros.core.camera.intrinsics import IntrinsicsError
from bodypose3d_ros.core.image.image_decode import ImageDecodeError
from bodypose3d_ros.core.types import Box, Person3D
from bodypose3d_ros.ros.conversions import (
    bgr_to_image_msg,
    camera_info_to_intrinsics,
    compressed_to_bgr,
    image_to_bgr,
    people_to_pose_array,
    pose_array_to_people,
)

PAD = 5  # bytes of padding at the end of every row


def _source(height: int = 6, width: int = 7, seed: int = 0) -> np.ndarray:
    image: np.ndarray = np.random.default_rng(seed).integers(
        0, 256, (height, width, 3), dtype=np.uint8
    )
    return image


def _padded(rows: np.ndarray) -> tuple[bytes, int]:
    """(H, row_bytes) uint8 rows -> bytes with PAD junk bytes after each row, and the step."""
    height = rows.shape[0]
    junk = np.full((height, PAD), 0xAB, dtype=np.uint8)
    return np.hstack([rows, junk]).tobytes(), rows.shape[1] + PAD


def _image(payload: np.ndarray, encoding: str, big_endian: bool = False) -> Image:
    """A real sensor_msgs/Image holding ``payload`` (H, W[, C]) with padded rows."""
    height, width = payload.shape[:2]
    rows = payload.reshape(height, -1).view(np.uint8).reshape(height, -1)
    data, step = _padded(rows)
    msg = Image()
    msg.height, msg.width, msg.step = height, width, step
    msg.encoding = encoding
    msg.is_bigendian = int(big_endian)
    msg.data = data
    return msg


def _gray(bgr: np.ndarray) -> np.ndarray:
    gray: np.ndarray = bgr[:, :, 0] // 3 + bgr[:, :, 1] // 3 + bgr[:, :, 2] // 3
    return gray


@pytest.mark.parametrize("encoding", ["bgr8", "rgb8", "rgba8", "bgra8"])
def test_colour_encodings_decode_to_the_source_bgr(encoding: str) -> None:
    bgr = _source()
    alpha = np.full((*bgr.shape[:2], 1), 77, dtype=np.uint8)
    payload = {
        "bgr8": bgr,
        "rgb8": bgr[:, :, ::-1],
        "rgba8": np.concatenate([bgr[:, :, ::-1], alpha], axis=2),
        "bgra8": np.concatenate([bgr, alpha], axis=2),
    }[encoding]
    out = image_to_bgr(_image(np.ascontiguousarray(payload), encoding))
    assert out.shape == bgr.shape
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, bgr)


def test_mono8_decodes_to_three_equal_channels() -> None:
    gray = _gray(_source())
    out = image_to_bgr(_image(gray, "mono8"))
    np.testing.assert_array_equal(out, np.stack([gray] * 3, axis=2))


@pytest.mark.parametrize("big_endian", [False, True])
def test_mono16_keeps_the_high_byte_in_either_byte_order(big_endian: bool) -> None:
    gray = _gray(_source()).astype(np.uint16)
    wide = (gray << 8) | 0x5A  # the low byte must not leak into the result
    dtype = ">u2" if big_endian else "<u2"
    out = image_to_bgr(_image(wide.astype(dtype), "mono16", big_endian))
    np.testing.assert_array_equal(out, np.stack([gray.astype(np.uint8)] * 3, axis=2))


def test_decode_errors_surface_as_image_decode_error() -> None:
    msg = _image(_source(), "bgr8")
    msg.encoding = "jpeg"
    with pytest.raises(ImageDecodeError, match="unsupported encoding"):
        image_to_bgr(msg)
    with pytest.raises(ImageDecodeError, match="max_pixels"):
        image_to_bgr(_image(_source(), "bgr8"), max_pixels=10)


def test_compressed_png_is_lossless_and_jpeg_is_close() -> None:
    bgr = np.zeros((40, 48, 3), dtype=np.uint8)
    bgr[:, :24] = (30, 120, 220)
    bgr[:, 24:] = (200, 60, 10)
    # JPEG blurs the colour edge (chroma subsampling), so it is judged by its mean error.
    for fmt, tolerance in (("png", 0.0), ("jpeg", 3.0)):
        ok, encoded = cv2.imencode("." + fmt, bgr)
        assert ok
        msg = CompressedImage()
        msg.format = fmt
        msg.data = encoded.tobytes()
        out = compressed_to_bgr(msg)
        assert out.shape == bgr.shape
        assert float(np.abs(out.astype(int) - bgr.astype(int)).mean()) <= tolerance, fmt
    broken = CompressedImage()
    broken.data = b"\xff\xd8 not really a jpeg"
    with pytest.raises(ImageDecodeError):
        compressed_to_bgr(broken)


def test_image_received_over_dds_decodes_identically_and_without_a_copy(
    ros_context: Any,
) -> None:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    qos = 10  # reliable, keep last 10: both images arrive once the subscription is matched
    talker: Any = rclpy.create_node("image_talker", context=ros_context)
    listener: Any = rclpy.create_node("image_listener", context=ros_context)
    received: list[Image] = []
    listener.create_subscription(Image, "image_roundtrip", received.append, qos)
    publisher = talker.create_publisher(Image, "image_roundtrip", qos)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(talker)
    executor.add_node(listener)
    bgr = _source(48, 64, seed=3)
    padded_rgb = _image(np.ascontiguousarray(bgr[:, :, ::-1]), "rgb8")
    plain_bgr = bgr_to_image_msg(bgr, Header(frame_id="cam"))
    try:
        assert spin_until(executor, lambda: publisher.get_subscription_count() > 0, 10.0)
        publisher.publish(padded_rgb)
        publisher.publish(plain_bgr)
        assert spin_until(executor, lambda: len(received) == 2, 10.0), "images not received"
    finally:
        executor.shutdown()
        talker.destroy_node()
        listener.destroy_node()
    got_rgb, got_bgr = received
    assert got_rgb.step == 64 * 3 + PAD
    np.testing.assert_array_equal(image_to_bgr(got_rgb), bgr)
    decoded = image_to_bgr(got_bgr)
    np.testing.assert_array_equal(decoded, bgr)
    # Unpadded bgr8 is a view of the received buffer, not a copy.
    assert np.shares_memory(decoded, np.frombuffer(got_bgr.data, dtype=np.uint8))


def test_bgr_to_image_msg_round_trips_and_copies_the_header() -> None:
    bgr = _source(30, 41, seed=5)
    view = bgr[::2, ::3]  # not contiguous: must still come out right
    header = Header(stamp=Time(sec=12, nanosec=34), frame_id="camera_optical")
    msg = bgr_to_image_msg(view, header)
    assert (msg.encoding, msg.width, msg.height, msg.step) == ("bgr8", 14, 15, 14 * 3)
    assert msg.header == header
    assert msg.header is not header
    np.testing.assert_array_equal(image_to_bgr(msg), view)
    with pytest.raises(ValueError, match="uint8"):
        bgr_to_image_msg(bgr.astype(np.float32), header)
    with pytest.raises(ValueError, match="uint8"):
        bgr_to_image_msg(bgr[:, :, 0], header)


def _camera_info(k: list[float], width: int = 640, height: int = 480) -> CameraInfo:
    info = CameraInfo()
    info.width, info.height = width, height
    info.k = k
    info.p = [k[0], 0.0, k[2], 0.0, 0.0, k[4], k[5], 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def test_camera_info_to_intrinsics_same_size_and_rescaled() -> None:
    info = _camera_info([615.0, 0.0, 320.5, 0.0, 612.0, 241.0, 0.0, 0.0, 1.0])
    same = camera_info_to_intrinsics(info, 640, 480)
    assert (same.fx, same.fy, same.cx, same.cy) == (615.0, 612.0, 320.5, 241.0)
    assert same.source == "camera_info"
    half = camera_info_to_intrinsics(info, 320, 240)
    assert (half.fx, half.fy, half.cx, half.cy) == pytest.approx((307.5, 306.0, 160.25, 120.5))
    # The rectified P differs from K: use_rectified must read P.
    info.p[0] = 600.0
    assert camera_info_to_intrinsics(info, 640, 480, use_rectified=True).fx == 600.0
    assert camera_info_to_intrinsics(info, 640, 480, use_rectified=False).fx == 615.0


def test_camera_info_roi_and_binning_are_applied() -> None:
    # Calibrated at 1280x960; the driver sends an 800x600 window at (200, 120), binned x2.
    info = _camera_info([1000.0, 0.0, 641.0, 0.0, 1020.0, 481.0, 0.0, 0.0, 1.0], 1280, 960)
    info.binning_x, info.binning_y = 2, 2
    info.roi.x_offset, info.roi.y_offset, info.roi.width, info.roi.height = 200, 120, 800, 600
    # As it arrives over the wire.
    info = deserialize_message(serialize_message(info), CameraInfo)
    intr = camera_info_to_intrinsics(info, 400, 300)
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == pytest.approx((500.0, 510.0, 220.5, 180.5))
    # Delivered pixel (200, 150) is sensor pixel (600, 420): the same viewing ray.
    full = np.linalg.inv(np.array(info.k).reshape(3, 3)) @ [600.0, 420.0, 1.0]
    here = intr.k_inv @ [200.0, 150.0, 1.0]
    assert np.allclose(here / np.linalg.norm(here), full / np.linalg.norm(full))
    # The rectified matrix gets the same window and binning.
    rect = camera_info_to_intrinsics(info, 400, 300, use_rectified=True)
    assert (rect.fx, rect.cx) == pytest.approx((500.0, 220.5))
    # Resized further downstream to 200x150: only then the proportional rescale applies.
    half = camera_info_to_intrinsics(info, 200, 150)
    assert (half.fx, half.fy, half.cx, half.cy) == pytest.approx((250.0, 255.0, 110.25, 90.25))


def test_camera_info_roi_outside_the_calibration_is_rejected() -> None:
    info = _camera_info([615.0, 0.0, 320.5, 0.0, 612.0, 241.0, 0.0, 0.0, 1.0])
    info.roi.x_offset, info.roi.width, info.roi.height = 100, 600, 480
    with pytest.raises(IntrinsicsError, match="outside the calibrated size 640"):
        camera_info_to_intrinsics(info, 600, 480)


@pytest.mark.parametrize(
    "k",
    [
        [0.0] * 9,  # an uncalibrated driver
        [math.nan, 0.0, 320.0, 0.0, 600.0, 240.0, 0.0, 0.0, 1.0],
        [600.0, 0.0, 320.0, 0.0, math.inf, 240.0, 0.0, 0.0, 1.0],
        [-600.0, 0.0, 320.0, 0.0, 600.0, 240.0, 0.0, 0.0, 1.0],
    ],
)
def test_camera_info_without_usable_k_is_rejected(k: list[float]) -> None:
    with pytest.raises(IntrinsicsError):
        camera_info_to_intrinsics(_camera_info(k), 640, 480)


def _person(person_id: str, seed: int, box: Box) -> Person3D:
    rng = np.random.default_rng(seed)
    return Person3D(
        id=person_id,
        score=0.5 + seed / 100,
        box=box,
        uv=rng.uniform(0, 600, (34, 2)),
        xyz=rng.uniform(-1, 4, (34, 3)),
        confidence=rng.uniform(0, 1, 34),
    )


def test_people_to_pose_array_fills_every_field() -> None:
    header = Header(stamp=Time(sec=1_700_000_000, nanosec=123_456_789), frame_id="cam_optical")
    people = [
        _person("body_3", 1, Box(-10.4, 5.6, 100.0, 2000.0)),  # past the left and bottom edges
        _person("body_9", 2, Box(100.2, 50.0, 60.5, 80.0)),  # inside
    ]
    out = people_to_pose_array(header, people, 640, 480)
    assert isinstance(out, Pose3DArray)
    assert out.header == header
    assert out.header is not header
    assert [p.id for p in out.poses] == ["body_3", "body_9"]
    rois = [(p.roi.x_offset, p.roi.y_offset, p.roi.width, p.roi.height) for p in out.poses]
    # Smallest enclosing integer rectangle, clipped: x 0..90 (89.6 rounded up), y 5..480.
    assert rois == [(0, 5, 90, 475), (100, 50, 61, 80)]
    for pose, person in zip(out.poses, people, strict=True):
        assert pose.header == header
        assert pose.score == pytest.approx(person.score)
        assert len(pose.keypoints) == 34
        u = np.array([kp.u for kp in pose.keypoints])
        v = np.array([kp.v for kp in pose.keypoints])
        xyz = np.array([[kp.position.x, kp.position.y, kp.position.z] for kp in pose.keypoints])
        conf = np.array([kp.confidence for kp in pose.keypoints])
        np.testing.assert_allclose(np.stack([u, v], axis=1), person.uv)
        np.testing.assert_allclose(xyz, person.xyz)
        np.testing.assert_allclose(conf, person.confidence)
    # It serialises and comes back equal (float32 fields are rounded by serialisation only).
    back = deserialize_message(serialize_message(out), Pose3DArray)
    assert back.poses[1].keypoints[7].position.z == out.poses[1].keypoints[7].position.z
    assert back.poses[0].keypoints[5].u == pytest.approx(out.poses[0].keypoints[5].u, rel=1e-6)


def test_keypoints_written_directly_equal_those_written_through_checking_setters() -> None:
    """Without field checks the keypoints are written past the generated setters; with them
    (ROS_PYTHON_CHECK_FIELDS=1, or a Humble message) every value goes through its setter. Both
    ways must give the same message, NaN and infinity included."""
    from bodypose3d_ros.ros.conversions import fill_pose

    header = Header(stamp=Time(sec=12, nanosec=34), frame_id="cam_optical")
    person = _person("body_4", 3, Box(10.0, 20.0, 50.0, 90.0))
    person.xyz[2] = np.nan
    person.uv[5, 0] = np.inf
    direct, checked = Pose3D(), Pose3D()
    assert not direct.keypoints[0]._check_fields  # the default: nothing checked
    for keypoint in checked.keypoints:
        keypoint._check_fields = True
    fill_pose(direct, header, person, 640, 480)
    fill_pose(checked, header, person, 640, 480)
    assert direct == checked
    wire = [deserialize_message(serialize_message(m), Pose3D) for m in (direct, checked)]
    assert wire[0] == wire[1]  # as received (CDR padding bytes are not initialised)
    assert direct.keypoints[9].position.y == float(person.xyz[9, 1])
    assert direct.keypoints[2].position.x == 0.0  # not finite: published as 0


def test_people_to_pose_array_edge_cases() -> None:
    header = Header(frame_id="cam")
    empty = people_to_pose_array(header, [], 640, 480)
    assert empty.poses == []
    assert empty.header.frame_id == "cam"
    outside = _person("body_1", 4, Box(700.0, -300.0, 50.0, 100.0))
    outside.xyz[3] = np.nan  # a keypoint that could not be lifted
    outside.confidence[3] = 0.0
    pose = people_to_pose_array(header, [outside], 640, 480).poses[0]
    assert (pose.roi.width, pose.roi.height) == (0, 0)
    assert pose.roi.x_offset == 640
    position = pose.keypoints[3].position
    assert (position.x, position.y, position.z) == (0.0, 0.0, 0.0)  # no NaN is published
    assert pose.keypoints[4].position.x == pytest.approx(outside.xyz[4, 0])


def test_outputs_pass_ros_field_checks() -> None:
    """With ROS_PYTHON_CHECK_FIELDS=1 every setter checks types and ranges (read at import)."""
    script = textwrap.dedent(
        """
        import numpy as np
        from std_msgs.msg import Header
        from bodypose3d_ros.core.types import Box, Person3D
        from bodypose3d_ros.ros.conversions import bgr_to_image_msg, people_to_pose_array
        person = Person3D(id="body_1", score=np.float32(0.9), box=Box(1.5, 2.5, 30.0, 40.0),
                          uv=np.ones((34, 2), np.float32), xyz=np.ones((34, 3)),
                          confidence=np.full(34, 0.5, np.float32))
        out = people_to_pose_array(Header(frame_id="cam"), [person], 640, 480)
        assert out.poses[0]._check_fields
        bgr_to_image_msg(np.zeros((4, 5, 3), np.uint8), Header(frame_id="cam"))
        print("checked")
        """
    )
    run_with_field_checks(script)


def test_pose_array_back_to_people_is_lossless_to_float32() -> None:
    from bodypose3d_ros.core.types import Box, Person3D
    from bodypose3d_ros.ros.conversions import people_to_pose_array, pose_array_to_people

    rng = np.random.default_rng(3)
    person = Person3D(
        id="body_4",
        score=0.75,
        box=Box(10.0, 20.0, 100.0, 200.0),
        uv=rng.uniform(0, 600, (34, 2)),
        xyz=rng.uniform(-2, 5, (34, 3)),
        confidence=rng.uniform(0, 1, 34),
    )
    header = Header(frame_id="cam")
    back = pose_array_to_people(people_to_pose_array(header, [person], 640, 480))
    assert len(back) == 1
    got = back[0]
    assert got.id == "body_4"
    assert got.score == pytest.approx(0.75)
    assert (got.box.x, got.box.y, got.box.width, got.box.height) == (10, 20, 100, 200)
    np.testing.assert_allclose(got.uv, person.uv, rtol=1e-6)  # float32 in the message
    np.testing.assert_allclose(got.xyz, person.xyz, rtol=1e-12)  # float64 Point
    np.testing.assert_allclose(got.confidence, person.confidence, rtol=1e-6)


def test_root_depth_source_is_published_and_read_back() -> None:
    import dataclasses

    header = Header(stamp=Time(sec=5, nanosec=0), frame_id="cam_optical")
    lifted = _person("body_1", 3, Box(0.0, 0.0, 10.0, 10.0))
    anchored = dataclasses.replace(lifted, id="body_2", root_depth_source="depth")
    out = people_to_pose_array(header, [lifted, anchored], 640, 480)
    assert [p.root_depth_source for p in out.poses] == [
        Pose3D.ROOT_DEPTH_LIMB_LENGTHS, Pose3D.ROOT_DEPTH_DEPTH_IMAGE
    ]  # fmt: skip
    assert (Pose3D.ROOT_DEPTH_LIMB_LENGTHS, Pose3D.ROOT_DEPTH_DEPTH_IMAGE) == (0, 1)
    back = pose_array_to_people(out)
    assert [p.root_depth_source for p in back] == ["limb_lengths", "depth"]


def test_keypoint_source_is_published_and_read_back() -> None:
    import dataclasses

    header = Header(stamp=Time(sec=5, nanosec=0), frame_id="cam_optical")
    fitted = _person("body_1", 3, Box(0.0, 0.0, 10.0, 10.0))
    from_detector = dataclasses.replace(fitted, id="body_2", keypoint_source="detector")
    out = people_to_pose_array(header, [fitted, from_detector], 640, 480)
    assert [p.keypoint_source for p in out.poses] == [
        Pose3D.KEYPOINT_SOURCE_POSE_MODEL, Pose3D.KEYPOINT_SOURCE_DETECTOR
    ]  # fmt: skip
    back = pose_array_to_people(out)
    assert [p.keypoint_source for p in back] == ["pose_model", "detector"]


def test_depth_image_message_decodes_to_metres() -> None:
    from bodypose3d_ros.core.depth.depth_image import DepthImageError
    from bodypose3d_ros.ros.conversions import image_to_depth, stamp_seconds

    msg = Image()
    msg.header.stamp = Time(sec=12, nanosec=500_000_000)
    msg.height, msg.width, msg.encoding, msg.step = 2, 3, "16UC1", 6
    msg.data = np.array([[0, 1000, 2000], [3000, 4000, 65535]], np.uint16).tobytes()
    depth = image_to_depth(msg)
    metres = depth.metres(depth.values)
    assert np.isnan(metres[0, 0])
    assert metres[1, 2] == pytest.approx(65.535)
    assert stamp_seconds(msg.header) == 12.5
    msg.encoding = "bgr8"
    with pytest.raises(DepthImageError, match="not supported"):
        image_to_depth(msg)
