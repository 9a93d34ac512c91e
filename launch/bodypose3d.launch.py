"""Launch bodypose3d_node (and optionally RViz).

  ros2 launch bodypose3d_ros bodypose3d.launch.py image:=/camera/color/image_raw \
      camera_info:=/camera/color/camera_info rviz:=true

Every node parameter is a launch argument too (empty = take it from params_file / the default).
RViz gets a copy of config/bodypose3d.rviz whose topics follow ``namespace`` and ``image``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import launch.logging
from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch_ros.actions import Node

from bodypose3d_ros.ros.dds_transport import DDS_TRANSPORTS, PROFILE_FILE_NAME
from bodypose3d_ros.ros.launch_arguments import (
    DEFAULT_FIXED_FRAME,
    node_settings,
    rviz_launch_plan,
)
from bodypose3d_ros.ros.parameters import DESCRIPTIONS, defaults
from launch import LaunchContext, LaunchDescription

PACKAGE = "bodypose3d_ros"


def _node(context: LaunchContext, *args: Any, **kwargs: Any) -> list[Node]:
    profile = Path(get_package_share_directory(PACKAGE), "config", PROFILE_FILE_NAME)
    return [Node(**node_settings(dict(context.launch_configurations), str(profile)))]


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _rviz(context: LaunchContext, *args: Any, **kwargs: Any) -> list[Node]:
    """RViz with the packaged config rewritten to this launch's topics (only with rviz:=true)."""
    template = Path(get_package_share_directory(PACKAGE), "config", "bodypose3d.rviz")
    plan = rviz_launch_plan(dict(context.launch_configurations), template.read_text)
    if plan.warning:  # the node still starts: RViz is optional
        launch.logging.get_logger("bodypose3d.launch").warning(plan.warning)
    if plan.config is None:
        return []
    fd, path = tempfile.mkstemp(prefix="bodypose3d_", suffix=".rviz")
    with os.fdopen(fd, "w") as out:
        out.write(plan.config)
    atexit.register(_remove, path)  # RViz reads it at start; the launch outlives RViz
    return [Node(package="rviz2", executable="rviz2", arguments=["-d", path], output="log")]


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
    arguments = [
        DeclareLaunchArgument(
            "image",
            default_value="/camera/image_raw",
            description="input image topic (raw; '/compressed' is appended "
            "when image_compressed:=true)",
        ),
        DeclareLaunchArgument(
            "camera_info",
            default_value="/camera/camera_info",
            description="CameraInfo topic of that image",
        ),
        DeclareLaunchArgument(
            "depth",
            default_value="/camera/aligned_depth_to_color/image_raw",
            description="depth image registered to the colour image (read with use_depth:=true)",
        ),
        DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
        DeclareLaunchArgument("node_name", default_value="bodypose3d_node"),
        DeclareLaunchArgument(
            "params_file",
            default_value=os.path.join(share, "config", "bodypose3d.yaml"),
            description="YAML parameters file",
        ),
        DeclareLaunchArgument(
            "rviz", default_value="false", description="start RViz (skipped if not installed)"
        ),
        DeclareLaunchArgument(
            "fixed_frame",
            default_value=DEFAULT_FIXED_FRAME,
            description="RViz fixed frame: the camera's optical frame (the frame_id of its "
            "images), or a robot frame such as base_link when TF links them",
        ),
        DeclareLaunchArgument(
            "dds_transport",
            default_value="default",
            description="Fast DDS recipe for the node's process: "
            + "; ".join(f"{name}: {text}" for name, text in DDS_TRANSPORTS.items()),
        ),
    ]
    for name in defaults():
        arguments.append(
            DeclareLaunchArgument(name, default_value="", description=DESCRIPTIONS.get(name, name))
        )
    return LaunchDescription(
        [*arguments, OpaqueFunction(function=_node), OpaqueFunction(function=_rviz)]
    )
