"""Each frame's Pose3DArray, written into Pose3D messages that are kept from frame to frame.

Building a Pose3D from scratch is mostly the generated constructor making its 34 Keypoint3D and
their Points; filling them is the smaller part. ``publish`` turns a message into its C form at
once, so the node can refill the same Pose3D objects on the next frame: a person then costs the
filling alone. The array a :meth:`PoseArrayBuilder.build` returns is only valid until the next
call (publish it, or copy it through ``people_to_pose_array`` to keep it).
"""

from __future__ import annotations

from collections.abc import Sequence

from std_msgs.msg import Header

from bodypose3d_ros.core.types import Person3D
from bodypose3d_ros.msg import Pose3D, Pose3DArray
from bodypose3d_ros.ros.conversions import copy_header, fill_pose, keypoint_rows_of


class PoseArrayBuilder:
    """Builds Pose3DArray messages for publishing, reusing the Pose3D objects of earlier frames."""

    def __init__(self) -> None:
        self._pool: list[Pose3D] = []

    def build(
        self, header: Header, people: Sequence[Person3D], image_width: int, image_height: int
    ) -> Pose3DArray:
        """All people of one image, as ``people_to_pose_array`` builds them; valid until the
        next call."""
        while len(self._pool) < len(people):
            self._pool.append(Pose3D())
        out = Pose3DArray()
        out.header = copy_header(header)
        tables = keypoint_rows_of(people)  # everyone's keypoint values in one pass
        stamp = copy_header(header)  # one copy shared by the frame's poses (read-only)
        poses = []
        for i, (pose, person) in enumerate(zip(self._pool, people, strict=False)):
            rows = None if tables is None else tables[i]
            poses.append(
                fill_pose(pose, stamp, person, image_width, image_height, rows, own_header=False)
            )
        out.poses = poses
        return out
