"""A bag's images as frames for the pipeline: decoded, stamped, with intrinsics and depth.

The node's rules, applied to recorded data: an image is decoded by the core's ``decode_raw`` /
``decode_compressed`` (every encoding the node takes), stamped with its header stamp (its log
time when the stamp is empty, as the node uses the arrival time), described by the latest
CameraInfo stamped at or before it (rescaled, distortion and plausibility checked by the core's
``intrinsics_from_camera_info``; default intrinsics otherwise), and paired with the depth frame
nearest in stamp by the core's :class:`DepthPairer`.

A live node sees a CameraInfo or a depth frame that is logged a little after its image only if
it waits; offline, every image is held back until the bag has been read ``LOOKAHEAD_NS``
past it, so such messages are always there. Nothing is dropped: every image in the chosen time
window becomes a frame (or a counted decode failure).
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from rosbags.interfaces import Connection

from bodypose3d_ros.bags.bag_paths import BagError
from bodypose3d_ros.bags.input_bag import READ_ERRORS, BagTopics, InputBag
from bodypose3d_ros.bags.input_bag import describe_read_error as _describe
from bodypose3d_ros.core.camera.intrinsics import (
    Intrinsics,
    IntrinsicsError,
    default_intrinsics,
    intrinsics_from_camera_info,
)
from bodypose3d_ros.core.depth.depth_image import (
    DepthImage,
    DepthImageError,
    registered_to,
)
from bodypose3d_ros.core.depth.depth_pairing import DepthPairer
from bodypose3d_ros.core.image.image_decode import (
    BgrImage,
    ImageDecodeError,
)
from bodypose3d_ros.ros.conversions import compressed_to_bgr, image_to_bgr, image_to_depth

LOOKAHEAD_NS: Final = 500_000_000
DEPTH_BUFFER: Final = 64  # depth frames kept for pairing: LOOKAHEAD_NS of a 90 Hz camera and more

Note = Callable[[str], None]
Copy = Callable[[Connection, int, bytes], None]


@dataclass(frozen=True)
class FrameSettings:
    """What the node's parameters say about frames (NodeParameters' values by default)."""

    default_focal_ratio: float
    max_image_pixels: int
    depth_max_time_offset_s: float
    fixed_intrinsics: Callable[[int, int], Intrinsics] | None = None


@dataclass
class BagFrame:
    """One image of the bag, ready for the pipeline (``image`` None: ``error`` says why)."""

    index: int
    log_ns: int
    sec: int
    nanosec: int
    frame_id: str
    stamp: float
    image: BgrImage | None = None
    error: str = ""
    intrinsics: Intrinsics | None = None
    depth: DepthImage | None = None


def _stamp(msg: Any) -> tuple[int, int]:
    stamp = msg.header.stamp
    return int(stamp.sec), int(stamp.nanosec)


def _field(msg: Any, name: str) -> Any:
    """A CameraInfo field by its ROS 2 name, or its ROS 1 capital one (K, D, P)."""
    return getattr(msg, name) if hasattr(msg, name) else getattr(msg, name.upper())


def decode_image(msg: Any, max_pixels: int) -> BgrImage:
    """A sensor_msgs Image or CompressedImage as BGR, by the node's decoding code."""
    if hasattr(msg, "format"):  # CompressedImage
        return compressed_to_bgr(msg, max_pixels)
    return image_to_bgr(msg, max_pixels)


class CameraInfoHistory:
    """The CameraInfo messages of a bag by stamp, consecutive repeats kept once."""

    def __init__(self) -> None:
        self._stamps: list[float] = []
        self._infos: list[Any] = []
        self._last_key: tuple[Any, ...] | None = None

    @staticmethod
    def _key(msg: Any) -> tuple[Any, ...]:
        roi = msg.roi
        return (
            tuple(float(v) for v in _field(msg, "k")),
            tuple(float(v) for v in _field(msg, "p")),
            tuple(float(v) for v in _field(msg, "d")),
            str(msg.distortion_model),
            int(msg.width),
            int(msg.height),
            int(msg.binning_x),
            int(msg.binning_y),
            (int(roi.x_offset), int(roi.y_offset), int(roi.width), int(roi.height)),
        )

    def add(self, stamp: float, msg: Any) -> None:
        key = self._key(msg)
        if key == self._last_key and self._stamps and stamp >= self._stamps[-1]:
            return
        self._last_key = key
        at = bisect.bisect_right(self._stamps, stamp)
        self._stamps.insert(at, stamp)
        self._infos.insert(at, msg)

    def at(self, stamp: float) -> Any | None:
        """The latest CameraInfo stamped at or before ``stamp``, or None."""
        at = bisect.bisect_right(self._stamps, stamp)
        return self._infos[at - 1] if at else None


class BagFrames:
    """Iterates over the frames of one image topic; see the module docstring."""

    def __init__(
        self,
        bag: InputBag,
        topics: BagTopics,
        settings: FrameSettings,
        note: Note,
        start_ns: int | None = None,
        stop_ns: int | None = None,
        copy: Copy | None = None,
    ) -> None:
        self._bag = bag
        self._topics = topics
        self._settings = settings
        self._note = note
        self._start_ns = start_ns
        self._stop_ns = stop_ns
        self._copy = copy
        self._infos = CameraInfoHistory()
        self._depth: DepthPairer[tuple[Any, str]] = DepthPairer(capacity=DEPTH_BUFFER)
        self._intrinsics_cache: tuple[int, int, int, Intrinsics] | None = None
        self._noted: set[str] = set()
        self.stopped = ""  # where and why reading stopped early (a cut or corrupt bag)
        self.unstamped = 0  # images stamped with their log time (their header stamp was empty)
        self.unpaired = 0  # frames without a usable depth image (with --depth-topic)
        self.in_window = 0  # image messages within --start/--duration

    def _note_once(self, text: str) -> None:
        if text not in self._noted:
            self._noted.add(text)
            self._note(text)

    def __iter__(self) -> Iterator[BagFrame]:
        pending: deque[tuple[int, int, bytes, Connection]] = deque()
        index = 0
        log_ns = 0
        image_topic = self._topics.image.topic
        info_topic = self._topics.camera_info.topic if self._topics.camera_info else None
        depth_topic = self._topics.depth.topic if self._topics.depth else None
        messages = self._bag.messages(self._topics, self._stop_ns)
        while True:
            try:  # only reading is guarded here: a message that does not decode is skipped
                connection, log_ns, raw = next(messages)
            except StopIteration:
                break
            except READ_ERRORS as exc:
                where = f"{(log_ns - self._bag.start_ns) * 1e-9:.3f} s" if log_ns else "0 s"
                self.stopped = (
                    f"the bag is unreadable after {where} of it (image {index} on): "
                    f"{_describe(exc)}"
                )
                break
            in_window = self._start_ns is None or log_ns >= self._start_ns
            if in_window and self._copy is not None:
                self._copy(connection, log_ns, raw)
            if connection.topic == image_topic:
                if in_window:
                    pending.append((index, log_ns, raw, connection))
                    self.in_window += 1
                index += 1
            elif connection.topic in (info_topic, depth_topic):
                self._keep(connection, log_ns, raw)
            while pending and pending[0][1] + LOOKAHEAD_NS <= log_ns:
                yield self._frame(*pending.popleft())
        while pending:
            yield self._frame(*pending.popleft())

    def _keep(self, connection: Connection, log_ns: int, raw: bytes) -> None:
        """A CameraInfo or depth message, kept for the images around it."""
        try:
            msg = self._bag.decode(raw, connection)
        except READ_ERRORS as exc:
            self._note_once(f"a message on {connection.topic} does not decode: {_describe(exc)}")
            return
        if (
            self._topics.camera_info is not None
            and connection.topic == self._topics.camera_info.topic
        ):
            self._infos.add(self._time(msg, log_ns), msg)
        else:
            self._depth.add(self._time(msg, log_ns), (msg, connection.topic))

    @staticmethod
    def _time(msg: Any, log_ns: int) -> float:
        """A message's header stamp in seconds (the node's formula); its log time if empty."""
        sec, nanosec = _stamp(msg)
        if sec == 0 and nanosec == 0:
            return log_ns * 1e-9
        return float(sec) + float(nanosec) * 1e-9

    def _frame(self, index: int, log_ns: int, raw: bytes, connection: Connection) -> BagFrame:
        try:
            msg = self._bag.decode(raw, connection)
        except READ_ERRORS as exc:
            stamp = log_ns * 1e-9
            return BagFrame(
                index, log_ns, 0, 0, "", stamp, error=f"does not decode: {_describe(exc)}"
            )
        sec, nanosec = _stamp(msg)
        if sec == 0 and nanosec == 0:
            self.unstamped += 1
        frame = BagFrame(
            index, log_ns, sec, nanosec, str(msg.header.frame_id), self._time(msg, log_ns)
        )
        try:
            frame.image = decode_image(msg, self._settings.max_image_pixels)
        except ImageDecodeError as exc:
            frame.error = str(exc)
            return frame
        height, width = frame.image.shape[:2]
        frame.intrinsics = self._intrinsics(frame.stamp, width, height)
        if self._topics.depth is not None:
            frame.depth = self._depth_for(frame.stamp, width, height)
        return frame

    def _intrinsics(self, stamp: float, width: int, height: int) -> Intrinsics:
        s = self._settings
        info = None if s.fixed_intrinsics is not None else self._infos.at(stamp)
        cache = self._intrinsics_cache
        if cache is not None and cache[:3] == (id(info), width, height):
            return cache[3]
        if s.fixed_intrinsics is not None:  # the command line's, once per image size
            k = s.fixed_intrinsics(width, height)
        elif info is None:
            k = default_intrinsics(width, height, s.default_focal_ratio)
            where = self._topics.camera_info.topic if self._topics.camera_info else "none found"
            self._note_once(
                f"no CameraInfo ({where}) at or before some images: default intrinsics "
                f"fx=fy={k.fx:.1f} for them; absolute distances are only as good as this guess"
            )
        else:
            try:
                roi = info.roi
                k = intrinsics_from_camera_info(
                    _field(info, "k"),
                    _field(info, "p"),
                    int(info.width),
                    int(info.height),
                    width,
                    height,
                    binning_x=int(info.binning_x),
                    binning_y=int(info.binning_y),
                    roi_x_offset=int(roi.x_offset),
                    roi_y_offset=int(roi.y_offset),
                    roi_width=int(roi.width),
                    roi_height=int(roi.height),
                    distortion_model=str(info.distortion_model),
                    d=_field(info, "d"),
                )
            except IntrinsicsError as exc:
                k = default_intrinsics(width, height, s.default_focal_ratio)
                self._note(f"bad CameraInfo ({exc}); default intrinsics for its images")
            if k.distortion_warning:
                self._note_once(f"CameraInfo lens distortion ignored: {k.distortion_warning}")
        self._intrinsics_cache = (id(info), width, height, k)
        return k

    def _depth_for(self, stamp: float, width: int, height: int) -> DepthImage | None:
        s = self._settings
        pairing = self._depth.pair(stamp, s.depth_max_time_offset_s)
        if pairing.item is None:
            self.unpaired += 1
            self._note_once(f"some images have no depth: {pairing.reason}")
            return None
        msg, topic = pairing.item
        try:
            depth = image_to_depth(msg, s.max_image_pixels)
            if not registered_to(depth, width, height):
                raise DepthImageError(
                    f"depth image {depth.width}x{depth.height} has another aspect ratio than "
                    f"the {width}x{height} colour image: it is not registered to it"
                )
        except DepthImageError as exc:
            self.unpaired += 1
            self._note_once(f"bad depth image on {topic}: {exc}; using the limb-length distance")
            return None
        return depth


def check_first_stamp(bag: InputBag, topics: BagTopics, start_ns: int | None) -> None:
    """Refuse a bag whose images carry no stamps (header stamp 0) before anything is written."""
    try:
        for connection, log_ns, raw in bag.messages(topics):
            if connection.topic != topics.image.topic:
                continue
            if start_ns is not None and log_ns < start_ns:
                continue
            if _stamp(bag.decode(raw, connection)) == (0, 0):
                raise BagError(
                    f"the images on {topics.image.topic} carry no stamps (header stamp 0): "
                    "outputs could not be aligned with anything else recorded"
                )
            return
    except READ_ERRORS:
        return  # the frame loop reports how far the bag can be read
