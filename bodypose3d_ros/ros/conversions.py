"""ROS messages <-> the core's NumPy types, done once per frame and kept cheap.

Decoding and intrinsics logic live in the ROS-free core (``image_decode``, ``intrinsics``); this
module only unpacks message fields. Received ``uint8[]`` fields are ``array.array`` objects, which
the core reads through the buffer protocol, so an image is never copied byte by byte in Python.

Building a Pose3D is the per-frame cost that grows with the number of people. ``Pose3D()`` already
creates its 34 ``Keypoint3D`` (the generated constructor builds them even when ``keypoints`` is
passed), so they are filled in place through the public setters from one ``tolist()`` of all values:
about 50 us per person on a desktop CPU, against about 100 us when building new Keypoint3D/Point
objects with keyword arguments.
"""

from __future__ import annotations

import array
import math
from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, RegionOfInterest
from std_msgs.msg import Header

from bodypose3d_ros.core.camera.intrinsics import Intrinsics, intrinsics_from_camera_info
from bodypose3d_ros.core.depth.depth_image import DepthImage, decode_depth
from bodypose3d_ros.core.image.image_decode import (
    DEFAULT_MAX_PIXELS,
    BgrImage,
    decode_compressed,
    decode_raw,
)
from bodypose3d_ros.core.types import (
    KEYPOINT_SOURCE_DETECTOR,
    KEYPOINT_SOURCE_POSE_MODEL,
    ROOT_DEPTH_DEPTH_IMAGE,
    ROOT_DEPTH_LIMB_LENGTHS,
    Box,
    KeypointSource,
    Person3D,
    RootDepthSource,
)
from bodypose3d_ros.msg import Pose3D, Pose3DArray


def copy_header(header: Header) -> Header:
    """A fresh Header with the same stamp and frame_id, so outputs never alias the input message."""
    return Header(
        stamp=Time(sec=header.stamp.sec, nanosec=header.stamp.nanosec), frame_id=header.frame_id
    )


def image_to_bgr(msg: Image, max_pixels: int = DEFAULT_MAX_PIXELS) -> BgrImage:
    """A sensor_msgs/Image as (H, W, 3) uint8 BGR; raises ImageDecodeError on a bad payload.

    An unpadded bgr8 image comes back as a view of ``msg.data`` (no copy).
    """
    return decode_raw(
        msg.data,
        int(msg.width),
        int(msg.height),
        int(msg.step),
        msg.encoding,
        is_bigendian=bool(msg.is_bigendian),
        max_pixels=max_pixels,
    )


def image_to_depth(msg: Image, max_pixels: int = DEFAULT_MAX_PIXELS) -> DepthImage:
    """A 16UC1 (mm) or 32FC1 (m) sensor_msgs/Image as a DepthImage; raises DepthImageError."""
    return decode_depth(
        msg.data,
        int(msg.width),
        int(msg.height),
        int(msg.step),
        msg.encoding,
        is_bigendian=bool(msg.is_bigendian),
        max_pixels=max_pixels,
    )


def stamp_seconds(header: Header) -> float:
    """A header's stamp in seconds."""
    return float(header.stamp.sec) + float(header.stamp.nanosec) * 1e-9


def compressed_to_bgr(msg: CompressedImage, max_pixels: int = DEFAULT_MAX_PIXELS) -> BgrImage:
    """A sensor_msgs/CompressedImage (JPEG, PNG, ...) as (H, W, 3) uint8 BGR.

    ``msg.format`` is not consulted: the payload's own signature says what it is.
    """
    return decode_compressed(msg.data, max_pixels=max_pixels)


def camera_info_to_intrinsics(
    msg: CameraInfo, image_width: int, image_height: int, use_rectified: bool = False
) -> Intrinsics:
    """The intrinsics of the image actually received; raises IntrinsicsError if untrusted.

    A raw image is described by K and the lens distortion (``distortion_model``, ``d``); a
    rectified one (``use_rectified``) by P alone, without distortion. The message's binning and
    ROI say which part of the calibrated image the camera delivers, and at what resolution.
    """
    return intrinsics_from_camera_info(
        msg.k,
        msg.p,
        int(msg.width),
        int(msg.height),
        image_width,
        image_height,
        use_rectified=use_rectified,
        binning_x=int(msg.binning_x),
        binning_y=int(msg.binning_y),
        roi_x_offset=int(msg.roi.x_offset),
        roi_y_offset=int(msg.roi.y_offset),
        roi_width=int(msg.roi.width),
        roi_height=int(msg.roi.height),
        distortion_model=msg.distortion_model,
        d=msg.d,
    )


def box_to_roi(box: Box, image_width: int, image_height: int) -> RegionOfInterest:
    """The smallest integer pixel rectangle holding ``box``, clipped to the image.

    A box wholly outside the image (or not finite) gives a zero-size ROI.
    """
    roi = RegionOfInterest()
    values = (box.x, box.y, box.width, box.height)
    if not all(math.isfinite(v) for v in values):
        return roi
    x0 = min(max(math.floor(box.x), 0), image_width)
    y0 = min(max(math.floor(box.y), 0), image_height)
    x1 = min(max(math.ceil(box.x + box.width), x0), image_width)
    y1 = min(max(math.ceil(box.y + box.height), y0), image_height)
    roi.x_offset = int(x0)
    roi.y_offset = int(y0)
    roi.width = int(x1 - x0)
    roi.height = int(y1 - y0)
    return roi


def _keypoint_rows(person: Person3D) -> list[list[float]]:
    """(34, 6) rows of u, v, x, y, z, confidence as Python floats; non-finite values become 0.

    Pose3D.msg promises a best guess or zero for unobserved keypoints, so no NaN is published.
    """
    table = np.empty((person.uv.shape[0], 6), dtype=np.float64)
    table[:, 0:2] = person.uv
    table[:, 2:5] = person.xyz
    table[:, 5] = person.confidence
    table[~np.isfinite(table)] = 0.0  # as np.nan_to_num(nan=posinf=neginf=0), a third the cost
    rows: list[list[float]] = table.tolist()
    return rows


def keypoint_rows_of(people: Sequence[Person3D]) -> list[list[list[float]]] | None:
    """``_keypoint_rows`` of several people in one pass (None unless all have the same shapes):
    a frame's people cost NumPy calls once, not once each."""
    if not people:
        return []
    first = people[0]
    shapes = (first.uv.shape, first.xyz.shape, first.confidence.shape)
    if any((p.uv.shape, p.xyz.shape, p.confidence.shape) != shapes for p in people):
        return None
    table = np.empty((len(people), first.uv.shape[0], 6), dtype=np.float64)
    table[:, :, 0:2] = [p.uv for p in people]
    table[:, :, 2:5] = [p.xyz for p in people]
    table[:, :, 5] = [p.confidence for p in people]
    table[~np.isfinite(table)] = 0.0
    rows: list[list[list[float]]] = table.tolist()
    return rows


_SOURCE_TO_MSG: dict[str, int] = {
    ROOT_DEPTH_LIMB_LENGTHS: Pose3D.ROOT_DEPTH_LIMB_LENGTHS,
    ROOT_DEPTH_DEPTH_IMAGE: Pose3D.ROOT_DEPTH_DEPTH_IMAGE,
}
_MSG_TO_SOURCE: dict[int, RootDepthSource] = {
    Pose3D.ROOT_DEPTH_LIMB_LENGTHS: "limb_lengths",
    Pose3D.ROOT_DEPTH_DEPTH_IMAGE: "depth",
}
_KEYPOINT_SOURCE_TO_MSG: dict[str, int] = {
    KEYPOINT_SOURCE_POSE_MODEL: Pose3D.KEYPOINT_SOURCE_POSE_MODEL,
    KEYPOINT_SOURCE_DETECTOR: Pose3D.KEYPOINT_SOURCE_DETECTOR,
}
_MSG_TO_KEYPOINT_SOURCE: dict[int, KeypointSource] = {
    Pose3D.KEYPOINT_SOURCE_POSE_MODEL: "pose_model",
    Pose3D.KEYPOINT_SOURCE_DETECTOR: "detector",
}


def person_to_pose(header: Header, person: Person3D, image_width: int, image_height: int) -> Pose3D:
    """One Person3D as a Pose3D stamped with (a copy of) ``header``."""
    return fill_pose(Pose3D(), header, person, image_width, image_height)


def fill_pose(
    pose: Pose3D, header: Header, person: Person3D, image_width: int, image_height: int,
    rows: list[list[float]] | None = None, own_header: bool = True,
) -> Pose3D:  # fmt: skip
    """Write one Person3D into an existing Pose3D (every field), and return it.

    ``rows``: the person's ``_keypoint_rows`` when already made (``keypoint_rows_of``);
    ``own_header=False`` stores ``header`` itself rather than a copy (a copy shared by a frame).
    """
    pose.header = copy_header(header) if own_header else header
    pose.id = str(person.id)
    score = float(person.score)
    pose.score = score if math.isfinite(score) else 0.0
    pose.roi = box_to_roi(person.box, image_width, image_height)
    pose.root_depth_source = _SOURCE_TO_MSG[person.root_depth_source]
    pose.keypoint_source = _KEYPOINT_SOURCE_TO_MSG[person.keypoint_source]
    keypoints = pose.keypoints
    if rows is None:
        rows = _keypoint_rows(person)
    if len(rows) != len(keypoints):
        raise ValueError(
            f"person {person.id!r} has {len(rows)} keypoints, expected {len(keypoints)}"
        )
    if not keypoints or setters_validate(keypoints[0]):
        for keypoint, (u, v, x, y, z, confidence) in zip(keypoints, rows, strict=True):
            keypoint.u = u
            keypoint.v = v
            position = keypoint.position
            position.x = x
            position.y = y
            position.z = z
            keypoint.confidence = confidence
        return pose
    # The generated setters would check nothing here: the fields are written directly, a tenth
    # of the cost of 238 setter calls per person. The values are ``_keypoint_rows``' Python
    # floats, what the setters would have stored (test_ros_conversions holds the two equal).
    for keypoint, (u, v, x, y, z, confidence) in zip(keypoints, rows, strict=True):
        keypoint._u = u
        keypoint._v = v
        position = keypoint._position
        position._x = x
        position._y = y
        position._z = z
        keypoint._confidence = confidence
    return pose


def setters_validate(message: object) -> bool:
    """Whether a generated message's setters validate values: where ROS_PYTHON_CHECK_FIELDS=1
    asks them to (Jazzy), and always where messages have no such switch (Humble)."""
    return bool(getattr(message, "_check_fields", True))


def people_to_pose_array(
    header: Header, people: Sequence[Person3D], image_width: int, image_height: int
) -> Pose3DArray:
    """All people of one image; published even when empty so "nobody" differs from "no data"."""
    out = Pose3DArray()
    out.header = copy_header(header)
    out.poses = [person_to_pose(header, p, image_width, image_height) for p in people]
    return out


def bgr_to_image_msg(image: BgrImage, header: Header) -> Image:
    """An (H, W, 3) uint8 BGR array as a bgr8 sensor_msgs/Image (one memcpy of the pixels)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 BGR image, got {image.shape} {image.dtype}")
    pixels = np.ascontiguousarray(image)
    height, width = int(pixels.shape[0]), int(pixels.shape[1])
    msg = Image()
    msg.header = copy_header(header)
    msg.height = height
    msg.width = width
    msg.encoding = "bgr8"
    msg.is_bigendian = 0
    msg.step = width * 3
    data = array.array("B")
    data.frombytes(pixels.data)
    msg.data = data
    return msg


def pose_array_to_people(msg: Pose3DArray) -> list[Person3D]:
    """A received Pose3DArray back as Person3D (for recording, drawing and the JSON log)."""
    people: list[Person3D] = []
    for pose in msg.poses:
        rows = np.array(
            [
                (kp.u, kp.v, kp.position.x, kp.position.y, kp.position.z, kp.confidence)
                for kp in pose.keypoints
            ],
            dtype=np.float64,
        ).reshape(-1, 6)
        roi = pose.roi
        people.append(
            Person3D(
                id=pose.id,
                score=float(pose.score),
                box=Box(
                    float(roi.x_offset), float(roi.y_offset), float(roi.width), float(roi.height)
                ),
                uv=rows[:, 0:2].copy(),
                xyz=rows[:, 2:5].copy(),
                confidence=rows[:, 5].copy(),
                root_depth_source=_MSG_TO_SOURCE.get(pose.root_depth_source, "limb_lengths"),
                keypoint_source=_MSG_TO_KEYPOINT_SOURCE.get(pose.keypoint_source, "pose_model"),
            )
        )
    return people
