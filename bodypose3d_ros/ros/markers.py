"""RViz skeletons: two markers per person that RViz replaces in place every frame.

Naming scheme: namespace ``f"{ns_prefix}/{person.id}"`` with marker id 0 for the joints
(SPHERE_LIST) and id 1 for the bones (LINE_LIST). RViz keys markers by (namespace, id), so the same
person's skeleton is updated rather than piled up, and a person who is lost is removed with two
DELETE actions instead of lingering as a stale skeleton. A person with nothing confident to draw is
deleted the same way (an ADD with no points would leave RViz's last drawing in place).

A person published from the detector's keypoints (``keypoint_source`` "detector": the pose model
found nobody in their crop, or they were beyond ``max_pose_people``) is drawn visibly apart: grey
cubes for joints and bones half as wide, one colour for the whole body, since their joints are
fewer and lie in one plane (no depth of their own).

Colours are per point in 0..1 (RViz's range) by body side, from ``skeleton.SIDE_COLORS``. The
ColorRGBA objects are made once per builder and shared by every marker it builds (half the build
time); treat the built markers as read-only.

Building a Marker is mostly its generated constructor making a dozen sub-messages, and every
person needs two, plus a Point per joint. ``publish`` turns a message into its C form at once, so
the builder keeps each frame's ADD markers and their Points and refills them on the next frame,
as ``PoseArrayBuilder`` does: an array :meth:`MarkerBuilder.build` returns is only valid until
the next call (publish it, or serialise it, before building again).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Final

import numpy as np
import numpy.typing as npt
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from bodypose3d_ros.core import skeleton
from bodypose3d_ros.core.types import KEYPOINT_SOURCE_DETECTOR, Person3D
from bodypose3d_ros.ros.conversions import copy_header, setters_validate

JOINTS_ID: Final = 0
BONES_ID: Final = 1

_BONES: Final[npt.NDArray[np.intp]] = np.array(skeleton.DRAWN_BONES, dtype=np.intp)
_JOINT_RGB: Final[tuple[tuple[float, float, float], ...]] = tuple(
    skeleton.SIDE_COLORS[side] for side in skeleton.KEYPOINT_SIDES
)
_BONE_RGB: Final[tuple[tuple[float, float, float], ...]] = tuple(
    skeleton.SIDE_COLORS[skeleton.bone_side(bone)] for bone in skeleton.DRAWN_BONES
)
_CENTER_RGB: Final = skeleton.SIDE_COLORS["center"]
_BONE_ENDS: Final[tuple[tuple[int, int], ...]] = tuple(
    (int(a), int(b)) for a, b in skeleton.DRAWN_BONES
)
# The one colour of a person published from the detector's keypoints (light grey).
DETECTOR_RGB: Final = (0.7, 0.7, 0.7)
DETECTOR_JOINT_TYPE: Final = Marker.CUBE_LIST
DETECTOR_BONE_WIDTH_RATIO: Final = 0.5


def _color(rgb: tuple[float, float, float]) -> ColorRGBA:
    return ColorRGBA(r=rgb[0], g=rgb[1], b=rgb[2], a=1.0)


class MarkerBuilder:
    """Builds the MarkerArray for one frame's people (see the module docstring for the scheme)."""

    def __init__(
        self,
        min_confidence: float = 0.3,
        joint_scale: float = 0.05,
        bone_width: float = 0.02,
        lifetime_s: float = 0.0,
        ns_prefix: str = "body",
    ) -> None:
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in 0..1, got {min_confidence}")
        for name, value in (("joint_scale", joint_scale), ("bone_width", bone_width)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0 (metres), got {value}")
        if not (math.isfinite(lifetime_s) and 0 <= lifetime_s < 2**31):  # Duration.sec: int32
            raise ValueError(
                f"lifetime_s must be within [0, 2**31) s (0 = forever), got {lifetime_s}"
            )
        self.min_confidence = float(min_confidence)
        self.joint_scale = float(joint_scale)
        self.bone_width = float(bone_width)
        self.ns_prefix = ns_prefix
        whole = math.floor(lifetime_s)
        self._lifetime = (int(whole), min(round((lifetime_s - whole) * 1e9), 999_999_999))
        self._joint_colors = [_color(rgb) for rgb in _JOINT_RGB]
        self._bone_end_colors = [[_color(rgb)] * 2 for rgb in _BONE_RGB]
        self._detector_color = _color(DETECTOR_RGB)
        # Per person slot of a frame: its joints and bones markers and one Point per keypoint.
        self._pool: list[tuple[Marker, Marker, list[Point]]] = []

    def namespace(self, person_id: str) -> str:
        """The marker namespace of one person: stable for as long as the tracker keeps the id."""
        return f"{self.ns_prefix}/{person_id}"

    def build(
        self, header: Header, people: Sequence[Person3D], lost_ids: Iterable[str] = ()
    ) -> MarkerArray:
        """Markers for every person in ``people`` plus DELETEs for every id in ``lost_ids``.

        Ids present in both are drawn, not deleted (the person is evidently still there).
        """
        out = MarkerArray()
        markers: list[Marker] = []
        drawn: set[str] = set()
        stamp = copy_header(header)  # one copy shared by this frame's ADD markers (read-only)
        if people and len({(p.xyz.shape, p.confidence.shape) for p in people}) == 1:
            # Everyone's visible joints and bones in one pass, not NumPy calls per person.
            tables = self._drawable([p.xyz for p in people], [p.confidence for p in people])
        else:
            tables = [self._drawable(p.xyz, p.confidence)[0] for p in people]
        for slot, (person, (xyz, joints, bones)) in enumerate(zip(people, tables, strict=True)):
            drawn.add(person.id)
            markers.extend(self._person_markers(header, stamp, person, slot, xyz, joints, bones))
        for person_id in lost_ids:
            if person_id not in drawn:
                markers.extend(self._deletes(header, self.namespace(person_id)))
        out.markers = markers
        return out

    def delete_all(self, header: Header) -> MarkerArray:
        """One DELETEALL marker, which clears everything this display drew (node shutdown)."""
        marker = Marker()
        marker.header = copy_header(header)
        marker.action = Marker.DELETEALL
        out = MarkerArray()
        out.markers = [marker]
        return out

    # ------------------------------------------------------------------------------------------
    def _drawable(
        self, xyz: npt.ArrayLike, confidence: npt.ArrayLike
    ) -> list[tuple[list[list[float]], list[int], list[int]]]:
        """For each of (..., 34, 3) metres and (..., 34) confidences: the joints as Python floats,
        which joints are drawn and which bones (indices into ``skeleton.DRAWN_BONES``)."""
        points = np.asarray(xyz, dtype=np.float64).reshape(-1, *np.shape(xyz)[-2:])
        conf = np.asarray(confidence).reshape(len(points), -1)
        # Confidence 0 means "not observed" (its position is a placeholder): never drawn, even
        # with min_confidence 0.
        visible = (conf >= self.min_confidence) & (conf > 0.0) & np.all(np.isfinite(points), -1)
        bones = visible[:, _BONES[:, 0]] & visible[:, _BONES[:, 1]]
        return [
            (rows, [i for i, v in enumerate(seen) if v], [b for b, v in enumerate(linked) if v])
            for rows, seen, linked in zip(
                points.tolist(), visible.tolist(), bones.tolist(), strict=True
            )
        ]

    def _person_markers(
        self, header: Header, stamp: Header, person: Person3D, slot: int,
        xyz: list[list[float]], joint_list: list[int], bone_list: list[int],
    ) -> list[Marker]:  # fmt: skip
        ns = self.namespace(person.id)
        if not joint_list:
            return self._deletes(header, ns)
        joints, bones, slot_points = self._slot(slot, len(xyz))
        from_detector = person.keypoint_source == KEYPOINT_SOURCE_DETECTOR
        joints.type = DETECTOR_JOINT_TYPE if from_detector else Marker.SPHERE_LIST
        joints.header = stamp
        joints.ns = ns
        points = [slot_points[i] for i in joint_list]
        if setters_validate(points[0]):
            for point, i in zip(points, joint_list, strict=True):
                point.x, point.y, point.z = xyz[i]
        else:  # nothing to check: written past the setters, as ``fill_pose`` does
            for point, i in zip(points, joint_list, strict=True):
                point._x, point._y, point._z = xyz[i]
        joints.points = points
        if from_detector:
            joints.colors = [self._detector_color] * len(joint_list)
        else:
            joint_colors = self._joint_colors
            joints.colors = [joint_colors[i] for i in joint_list]
        if not bone_list:
            return [joints, self._delete(header, ns, BONES_ID)]
        bones.header = stamp
        bones.ns = ns
        ratio = DETECTOR_BONE_WIDTH_RATIO if from_detector else 1.0
        bones.scale.x = self.bone_width * ratio
        # Bone ends share the joints' Point objects (read-only once built): half the allocations.
        ends = _BONE_ENDS
        bones.points = [slot_points[j] for b in bone_list for j in ends[b]]
        if from_detector:
            bones.colors = [self._detector_color] * (2 * len(bone_list))
        else:
            end_colors = self._bone_end_colors
            bones.colors = [color for b in bone_list for color in end_colors[b]]
        return [joints, bones]

    def _slot(self, slot: int, keypoints: int) -> tuple[Marker, Marker, list[Point]]:
        """The reusable markers and Points of the frame's ``slot``-th person (made once)."""
        while len(self._pool) <= slot:
            header = Header()
            joints = self._marker(header, "", JOINTS_ID, Marker.SPHERE_LIST)
            joints.scale.x = joints.scale.y = joints.scale.z = self.joint_scale
            bones = self._marker(header, "", BONES_ID, Marker.LINE_LIST)
            bones.scale.x = self.bone_width
            self._pool.append((joints, bones, []))
        joints, bones, points = self._pool[slot]
        while len(points) < keypoints:
            points.append(Point())
        return joints, bones, points

    def _marker(self, header: Header, ns: str, marker_id: int, marker_type: int) -> Marker:
        marker = Marker()
        marker.header = copy_header(header)
        marker.ns = ns
        marker.id = marker_id
        marker.type = marker_type
        marker.action = Marker.ADD
        marker.pose.orientation.w = 1.0
        marker.color = _color(_CENTER_RGB)  # used by RViz only where per-point colours are absent
        marker.lifetime = Duration(sec=self._lifetime[0], nanosec=self._lifetime[1])
        return marker

    def _delete(self, header: Header, ns: str, marker_id: int) -> Marker:
        marker = Marker()
        marker.header = copy_header(header)
        marker.ns = ns
        marker.id = marker_id
        marker.action = Marker.DELETE
        return marker

    def _deletes(self, header: Header, ns: str) -> list[Marker]:
        return [self._delete(header, ns, JOINTS_ID), self._delete(header, ns, BONES_ID)]
