"""The result of a bag run as a rosbag2 (MCAP storage) that any ROS 2 tool can open.

Messages are built exactly as the node publishes them (``PoseArrayBuilder``, ``MarkerBuilder``,
``bgr_to_image_msg`` from rclpy's message classes), serialised by rclpy to CDR and written raw by
``rosbags``. Each connection stores its full message definition (ours and every type it uses),
so readers without this package (Foxglove, ``mcap`` readers) decode the bag from the file alone.

The bag is written into a hidden folder beside its destination and moved there by
:meth:`PoseBag.finish`; a run that fails leaves no half-written bag behind.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

import numpy as np
from builtin_interfaces.msg import Time
from rclpy.serialization import serialize_message
from rosbags.interfaces import Connection
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore
from std_msgs.msg import Header

from bodypose3d_ros.core.types import Person3D
from bodypose3d_ros.ros.conversions import bgr_to_image_msg
from bodypose3d_ros.ros.markers import MarkerBuilder
from bodypose3d_ros.ros.pose_array_builder import PoseArrayBuilder

POSES_TOPIC: Final = "/bodypose3d/poses"
MARKERS_TOPIC: Final = "/bodypose3d/markers"
DEBUG_IMAGE_TOPIC: Final = "/bodypose3d/debug_image"
PACKAGE: Final = "bodypose3d_ros"
BAG_VERSION: Final = 9  # rosbag2's metadata version since Jazzy


def message_folder() -> Path:
    """Our .msg files: the installed package's share folder, else the source tree's msg/."""
    try:
        from ament_index_python.packages import get_package_share_directory

        installed = Path(get_package_share_directory(PACKAGE)) / "msg"
        if installed.is_dir():
            return installed
    except (ImportError, LookupError, ValueError):
        pass
    return Path(__file__).resolve().parents[2] / "msg"


def output_typestore() -> Typestore:
    """ROS 2 Jazzy's standard types plus ours, for the definitions stored in the bag."""
    store = get_typestore(Stores.ROS2_JAZZY)
    folder = message_folder()
    files = sorted(folder.glob("*.msg"))
    if not files:
        raise FileNotFoundError(f"no {PACKAGE} .msg files in {folder}")
    types = {}
    for path in files:
        types.update(get_types_from_msg(path.read_text(), f"{PACKAGE}/msg/{path.stem}"))
    store.register(types)
    return store


def ros_header(sec: int, nanosec: int, frame_id: str) -> Header:
    return Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id)


class PoseBag:
    """Writes one output bag; see the module docstring."""

    def __init__(
        self, destination: Path, debug_image: bool, marker_min_confidence: float,
        marker_lifetime_s: float,
    ) -> None:  # fmt: skip
        self.destination = destination
        self._staging = destination.parent / f".{destination.name}.partial"
        shutil.rmtree(self._staging, ignore_errors=True)
        self._staging.mkdir(parents=True)
        self._store = output_typestore()
        self._writer = Writer(
            self._staging / destination.name, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP
        )
        self._writer.open()
        self._poses = self._connection(POSES_TOPIC, f"{PACKAGE}/msg/Pose3DArray")
        self._markers = self._connection(MARKERS_TOPIC, "visualization_msgs/msg/MarkerArray")
        self._debug = (
            self._connection(DEBUG_IMAGE_TOPIC, "sensor_msgs/msg/Image") if debug_image else None
        )
        self._copies: dict[tuple[str, str], Connection] = {}
        self._pose_builder = PoseArrayBuilder()
        self._marker_builder = MarkerBuilder(
            min_confidence=marker_min_confidence, lifetime_s=marker_lifetime_s
        )
        self.frames = 0

    def _connection(self, topic: str, msgtype: str) -> Connection:
        return self._writer.add_connection(topic, msgtype, typestore=self._store)

    def write_frame(
        self, log_ns: int, header: Header, people: Sequence[Person3D], lost_ids: Iterable[str],
        width: int, height: int, overlay: np.ndarray | None = None,
    ) -> None:  # fmt: skip
        """One image's Pose3DArray and MarkerArray (and debug image), logged at its log time."""
        poses = self._pose_builder.build(header, people, width, height)
        self._writer.write(self._poses, log_ns, serialize_message(poses))
        markers = self._marker_builder.build(header, people, lost_ids)
        self._writer.write(self._markers, log_ns, serialize_message(markers))
        if self._debug is not None and overlay is not None:
            self._writer.write(
                self._debug, log_ns, serialize_message(bgr_to_image_msg(overlay, header))
            )
        self.frames += 1

    def copy(self, connection: Connection, log_ns: int, raw: bytes) -> None:
        """An input message, unchanged, on its own topic (``--bag-copy-input``)."""
        key = (connection.topic, connection.msgtype)
        out = self._copies.get(key)
        if out is None:
            out = self._connection(connection.topic, connection.msgtype)
            self._copies[key] = out
        self._writer.write(out, log_ns, raw)

    def finish(self) -> Path:
        """Close the bag and move it to its destination (replacing an earlier result)."""
        self._writer.close()
        if self.destination.exists():
            shutil.rmtree(self.destination)
        (self._staging / self.destination.name).rename(self.destination)
        self._staging.rmdir()
        return self.destination

    def abort(self) -> None:
        """Drop everything written so far."""
        try:
            self._writer.close()
        finally:
            shutil.rmtree(self._staging, ignore_errors=True)
