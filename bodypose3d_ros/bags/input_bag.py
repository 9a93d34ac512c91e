"""A recorded bag opened for reading: which topics to use, and their messages in log order.

``rosbags`` reads every format (a rosbag2 folder with MCAP or SQLite3 storage, a lone ``.mcap``
file, a ROS 1 ``.bag``); this module only chooses the topics the way the node subscribes to them
and turns the library's many failure modes into one-line :class:`BagError` messages.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from mcap.exceptions import McapError
from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.interfaces import Connection
from rosbags.rosbag1 import ReaderError as Ros1ReaderError
from rosbags.rosbag2 import ReaderError as Ros2ReaderError
from rosbags.serde import SerdeError
from rosbags.typesys import Stores, get_typestore

from bodypose3d_ros.bags.bag_paths import BagError
from bodypose3d_ros.bags.cut_mcap import CutMcapReader

# What rosbags says of an MCAP file without its end (no footer, no summary).
CUT_MCAP_SIGNS: Final = ("end magic", "footer", "summary")
IMAGE_TYPES: Final = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
CAMERA_INFO_TYPE: Final = "sensor_msgs/msg/CameraInfo"
DEPTH_TYPE: Final = "sensor_msgs/msg/Image"
# Everything the library raises for a bag it cannot read (bad header, cut file, bad record).
READ_ERRORS: Final = (
    AnyReaderError,
    Ros1ReaderError,
    Ros2ReaderError,
    SerdeError,
    struct.error,
    EOFError,
    ValueError,
    KeyError,
    IndexError,
    OSError,
    McapError,
)


def camera_info_beside(image_topic: str) -> str:
    """The CameraInfo topic of an image topic, as image_transport pairs them:
    ``/ns/image_raw`` and ``/ns/image_raw/compressed`` both give ``/ns/camera_info``."""
    parts = image_topic.rstrip("/").split("/")
    if len(parts) > 1 and parts[-1] == "compressed":
        parts = parts[:-1]
    return "/".join([*parts[:-1], "camera_info"]) or "/camera_info"


@dataclass(frozen=True)
class BagTopics:
    """The topics one run reads; camera_info and depth are optional."""

    image: Connection
    camera_info: Connection | None
    depth: Connection | None

    def connections(self) -> list[Connection]:
        return [c for c in (self.image, self.camera_info, self.depth) if c is not None]


class InputBag:
    """An open bag; use as a context manager."""

    def __init__(self, path: Path) -> None:
        if path.is_dir() and not (path / "metadata.yaml").is_file():
            raise BagError("a folder that is not a rosbag2 (no metadata.yaml in it)")
        if not path.exists():
            raise BagError("no such file")
        self.path = path
        self.is_ros1 = path.is_file() and path.suffix.lower() == ".bag"
        self.cut_short = False  # an MCAP file without its end, read from the start
        self._reader: AnyReader | CutMcapReader
        try:
            # The default type store decodes bags that hold no message definitions (SQLite3 bags
            # recorded before Iron): the sensor_msgs types did not change between releases.
            self._reader = AnyReader([path], default_typestore=get_typestore(Stores.ROS2_JAZZY))
            self._reader.open()
        except READ_ERRORS as exc:
            plugin = re.search(r"Storage plugin '([^']*)' not supported", str(exc))
            if plugin:
                raise BagError(
                    f"cannot open the bag: its storage plugin {plugin[1]!r} (metadata.yaml) is "
                    "unknown here; bags in mcap or sqlite3 storage can be read"
                ) from None
            mcap = _lone_mcap(path)
            if mcap is None or not any(word in str(exc) for word in CUT_MCAP_SIGNS):
                raise BagError(f"cannot open the bag: {_describe(exc)}") from None
            try:
                self._reader = CutMcapReader(mcap)
            except READ_ERRORS as cut:
                raise BagError(f"cannot open the bag: {_describe(exc)}; {cut}") from None
            self.cut_short = True

    def __enter__(self) -> InputBag:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._reader.stack is not None:
            self._reader.close()

    @property
    def start_ns(self) -> int:
        return int(self._reader.start_time)

    @property
    def end_ns(self) -> int:
        return int(self._reader.end_time)

    def topic_list(self) -> str:
        """Every topic with its type, for error messages."""
        topics = sorted({(c.topic, c.msgtype) for c in self._reader.connections})
        return ", ".join(f"{topic} ({msgtype})" for topic, msgtype in topics) or "none"

    def _topic(self, name: str, types: tuple[str, ...], option: str) -> Connection:
        found = [c for c in self._reader.connections if c.topic == name]
        if not found:
            raise BagError(f"{option} {name}: no such topic in the bag; it has {self.topic_list()}")
        usable = [c for c in found if c.msgtype in types]
        if not usable:
            raise BagError(f"{option} {name} carries {found[0].msgtype}, not {' or '.join(types)}")
        return usable[0]

    def choose_topics(
        self, image_topic: str | None, camera_info_topic: str | None, depth_topic: str | None
    ) -> BagTopics:
        """The topics to read, by the user's choice or the bag's only image topic."""
        if image_topic:
            image = self._topic(image_topic, IMAGE_TYPES, "--image-topic")
        else:
            images = sorted(
                {
                    c.topic: c
                    for c in self._reader.connections
                    if c.msgtype in IMAGE_TYPES and c.topic != depth_topic
                }.items()
            )
            if not images:
                raise BagError(f"no image topic in the bag; it has {self.topic_list()}")
            if len(images) > 1:
                names = ", ".join(topic for topic, _ in images)
                raise BagError(f"several image topics ({names}): choose one with --image-topic")
            image = images[0][1]
        camera_info = None
        if camera_info_topic:
            camera_info = self._topic(camera_info_topic, (CAMERA_INFO_TYPE,), "--camera-info-topic")
        else:
            beside = camera_info_beside(image.topic)
            camera_info = next(
                (
                    c
                    for c in self._reader.connections
                    if c.topic == beside and c.msgtype == CAMERA_INFO_TYPE
                ),
                None,
            )
        depth = self._topic(depth_topic, (DEPTH_TYPE,), "--depth-topic") if depth_topic else None
        if depth is not None and depth.topic == image.topic:
            raise BagError("--depth-topic is the image topic itself")
        return BagTopics(image, camera_info, depth)

    def count(self, connection: Connection) -> int:
        """Messages on a topic (all of its connections), as the bag's index says."""
        return sum(c.msgcount for c in self._reader.connections if c.topic == connection.topic)

    def messages(
        self, topics: BagTopics, stop_ns: int | None = None
    ) -> Iterator[tuple[Connection, int, bytes]]:
        """(connection, log time in ns, raw message) of the chosen topics in log order.

        Reading errors surface as the library raised them (see ``READ_ERRORS``): the caller
        knows how far it got.
        """
        wanted = {c.topic for c in topics.connections()}
        connections = [c for c in self._reader.connections if c.topic in wanted]
        yield from self._reader.messages(connections=connections, stop=stop_ns)

    def decode(self, raw: bytes, connection: Connection) -> Any:
        """One message as the library's dataclass (ROS 1 and ROS 2 serialisations alike)."""
        return self._reader.deserialize(raw, connection.msgtype)


def _lone_mcap(path: Path) -> Path | None:
    """The bag's one MCAP file, if it has exactly one."""
    if path.is_file():
        return path if path.suffix.lower() == ".mcap" else None
    files = sorted(path.glob("*.mcap"))
    return files[0] if len(files) == 1 else None


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def describe_read_error(exc: BaseException) -> str:
    """A library read error as a short phrase."""
    return _describe(exc)
