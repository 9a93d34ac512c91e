"""Bags written with ``rosbags`` from real pictures, as a camera driver would record them."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

STORE = get_typestore(Stores.ROS2_JAZZY)
ROS1_STORE = get_typestore(Stores.ROS1_NOETIC)
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
BASE_SEC = 100  # stamps start here: a zero stamp means "no stamp" to a ROS node


@dataclass(frozen=True)
class Camera:
    """An image topic, how its frames are encoded, and the CameraInfo beside it (fx; 0: none)."""

    image_topic: str
    encoding: str  # bgr8 rgb8 mono8 yuv422, or jpeg for a CompressedImage
    fx: float = 0.0
    frame_id: str = "camera_optical_frame"

    @property
    def info_topic(self) -> str:
        parts = self.image_topic.split("/")
        if parts[-1] == "compressed":
            parts = parts[:-1]
        return "/".join([*parts[:-1], "camera_info"])


def stamp_of(index: int, fps: float) -> tuple[int, int]:
    nanos = round(index / fps * 1e9)
    return BASE_SEC + nanos // 1_000_000_000, nanos % 1_000_000_000


def _header(sec: int, nanosec: int, frame_id: str, ros1: bool = False) -> Any:
    types = (ROS1_STORE if ros1 else STORE).types
    stamp = types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)
    if ros1:
        return types["std_msgs/msg/Header"](seq=0, stamp=stamp, frame_id=frame_id)
    return types["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)


def image_message(
    bgr: np.ndarray, encoding: str, header: Any, ros1: bool = False
) -> tuple[str, Any]:
    """(type, message) of a BGR picture in a driver's encoding."""
    types = (ROS1_STORE if ros1 else STORE).types
    if encoding == "jpeg":
        ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
        assert ok
        return COMPRESSED, types[COMPRESSED](header=header, format="jpeg", data=jpeg.ravel())
    height, width = bgr.shape[:2]
    if encoding == "bgr8":
        pixels = bgr
    elif encoding == "rgb8":
        pixels = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    elif encoding == "mono8":
        pixels = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    elif encoding == "yuv422":
        pixels = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_UYVY)
    else:
        raise ValueError(encoding)
    data = np.ascontiguousarray(pixels).reshape(-1)
    step = data.size // height
    msg = types[IMAGE](
        header=header, height=height, width=width, encoding=encoding, is_bigendian=0,
        step=step, data=data,
    )  # fmt: skip
    return IMAGE, msg


def camera_info_message(fx: float, width: int, height: int, header: Any) -> Any:
    types = STORE.types
    cx, cy = width / 2.0, height / 2.0
    return types[CAMERA_INFO](
        header=header, height=height, width=width, distortion_model="plumb_bob",
        d=np.zeros(5), k=np.array([fx, 0, cx, 0, fx, cy, 0, 0, 1], dtype=np.float64),
        r=np.eye(3).ravel(), p=np.array([fx, 0, cx, 0, 0, fx, cy, 0, 0, 0, 1, 0], dtype=np.float64),
        binning_x=0, binning_y=0,
        roi=types["sensor_msgs/msg/RegionOfInterest"](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
        ),
    )  # fmt: skip


def write_bag(
    path: Path, camera: Camera, frames: Sequence[np.ndarray], fps: float,
    storage: StoragePlugin = StoragePlugin.MCAP, extra_image_topics: Sequence[str] = (),
    stamped: bool = True, depth: Sequence[tuple[int, np.ndarray]] = (),
    depth_topic: str = "/cam/depth/image_rect_raw", broken: Sequence[int] = (),
) -> Path:  # fmt: skip
    """A rosbag2 folder with ``frames`` on the camera's topic (log time = stamp), its CameraInfo
    logged just after each image, and ``extra_image_topics`` carrying the same pictures.

    ``depth``: per frame, (stamp offset in ns, 16UC1 millimetres), logged 20 ms after the image
    (aligned depth comes late). ``broken``: frames whose image message is cut to 40 bytes.
    """
    with Writer(path, version=9, storage_plugin=storage) as writer:
        connections: dict[str, Any] = {}

        def write(topic: str, msgtype: str, msg: Any, log_ns: int, cut: bool = False) -> None:
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msgtype, typestore=STORE)
            raw = STORE.serialize_cdr(msg, msgtype)
            writer.write(connections[topic], log_ns, raw[:40] if cut else raw)

        for index, bgr in enumerate(frames):
            sec, nanosec = stamp_of(index, fps)
            log_ns = sec * 1_000_000_000 + nanosec
            header = _header(sec, nanosec, camera.frame_id) if stamped else _header(0, 0, "")
            for topic in (camera.image_topic, *extra_image_topics):
                msgtype, msg = image_message(bgr, camera.encoding, header)
                write(topic, msgtype, msg, log_ns, cut=index in broken)
            if camera.fx:
                height, width = bgr.shape[:2]
                info = camera_info_message(camera.fx, width, height, header)
                write(camera.info_topic, CAMERA_INFO, info, log_ns + 1000)
            if depth:
                offset, millimetres = depth[index]
                nanos = sec * 1_000_000_000 + nanosec + offset
                depth_header = _header(nanos // 1_000_000_000, nanos % 1_000_000_000, "depth")
                height, width = millimetres.shape
                data = millimetres.astype("<u2").view(np.uint8).ravel()
                msg = STORE.types[IMAGE](
                    header=depth_header, height=height, width=width, encoding="16UC1",
                    is_bigendian=0, step=width * 2, data=data,
                )  # fmt: skip
                write(depth_topic, IMAGE, msg, log_ns + 20_000_000)
    return path


def write_ros1_bag(path: Path, camera: Camera, frames: Sequence[np.ndarray], fps: float) -> Path:
    """A ROS 1 .bag: the camera's images and (fx given) its CameraInfo (K, D, P in capitals)."""
    from rosbags.rosbag1 import Writer as Ros1Writer

    types = ROS1_STORE.types
    with Ros1Writer(path) as writer:
        connections: dict[str, Any] = {}
        for index, bgr in enumerate(frames):
            sec, nanosec = stamp_of(index, fps)
            log_ns = sec * 1_000_000_000 + nanosec
            header = _header(sec, nanosec, camera.frame_id, ros1=True)
            messages = [(camera.image_topic, *image_message(bgr, camera.encoding, header, True))]
            if camera.fx:
                height, width = bgr.shape[:2]
                fx, cx, cy = camera.fx, width / 2.0, height / 2.0
                info = types[CAMERA_INFO](
                    header=header, height=height, width=width, distortion_model="plumb_bob",
                    D=np.zeros(5), K=np.array([fx, 0, cx, 0, fx, cy, 0, 0, 1.0]),
                    R=np.eye(3).ravel(), P=np.array([fx, 0, cx, 0, 0, fx, cy, 0, 0, 0, 1.0, 0]),
                    binning_x=0, binning_y=0,
                    roi=types["sensor_msgs/msg/RegionOfInterest"](
                        x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
                    ),
                )  # fmt: skip
                messages.append((camera.info_topic, CAMERA_INFO, info))
            for topic, msgtype, msg in messages:
                if topic not in connections:
                    connections[topic] = writer.add_connection(topic, msgtype, typestore=ROS1_STORE)
                writer.write(connections[topic], log_ns, ROS1_STORE.serialize_ros1(msg, msgtype))
    return path


def write_foreign_mcap(
    path: Path, image_topic: str, frames: Sequence[np.ndarray], fps: float, fx: float
) -> Path:
    """A lone .mcap written by another library (the MCAP project's ROS 2 writer: zstd-compressed
    chunks, its own record layout) with JPEG CompressedImages and their CameraInfo."""
    from mcap_ros2.writer import Writer as McapRos2Writer

    info_topic = image_topic.removesuffix("/compressed").rsplit("/", 1)[0] + "/camera_info"
    with path.open("wb") as stream:
        writer = McapRos2Writer(stream)
        schemas = {
            name: writer.register_msgdef(name, STORE.generate_msgdef(name, ros_version=2)[0])
            for name in (COMPRESSED, CAMERA_INFO)
        }
        for index, bgr in enumerate(frames):
            sec, nanosec = stamp_of(index, fps)
            log_ns = sec * 1_000_000_000 + nanosec
            header = {"stamp": {"sec": sec, "nanosec": nanosec}, "frame_id": "head_optical"}
            ok, jpeg = cv2.imencode(".jpg", bgr)
            assert ok
            image = {"header": header, "format": "jpeg", "data": jpeg.tobytes()}
            writer.write_message(image_topic, schemas[COMPRESSED], image, log_ns, log_ns)
            height, width = bgr.shape[:2]
            k = [fx, 0.0, width / 2, 0.0, fx, height / 2, 0.0, 0.0, 1.0]
            info = {
                "header": header, "height": height, "width": width,
                "distortion_model": "plumb_bob", "d": [0.0] * 5, "k": k,
                "r": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                "p": [*k[:3], 0.0, *k[3:6], 0.0, *k[6:], 0.0], "binning_x": 0, "binning_y": 0,
                "roi": {"x_offset": 0, "y_offset": 0, "height": 0, "width": 0, "do_rectify": False},
            }  # fmt: skip
            writer.write_message(info_topic, schemas[CAMERA_INFO], info, log_ns, log_ns)
        writer.finish()
    return path


def lone_mcap(bag: Path, destination: Path) -> Path:
    """The single .mcap file of a rosbag2 folder, moved out of it."""
    (mcap,) = bag.glob("*.mcap")
    shutil.move(str(mcap), destination)
    shutil.rmtree(bag)
    return destination


def video_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a video file as OpenCV decodes it."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok or frame is None:
            break
        frames.append(frame)
    capture.release()
    return frames
