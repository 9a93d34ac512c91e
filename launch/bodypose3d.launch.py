"""Launch bodypose3d_node (and optionally RViz).

  ros2 launch bodypose3d_ros bodypose3d.launch.py image:=/camera/color/image_raw \
      camera_info:=/camera/color/camera_info rviz:=true

Every node parameter is a launch argument too (empty = take it from params_file / the default).
"""

from __future__ import annotations

import os
from typing import Any

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from bodypose3d_ros.ros.launch_arguments import parameter_overrides
from bodypose3d_ros.ros.parameters import DESCRIPTIONS, defaults
from launch import LaunchContext, LaunchDescription

PACKAGE = "bodypose3d_ros"


def _node(context: LaunchContext, *args: Any, **kwargs: Any) -> list[Node]:
    raw = {name: LaunchConfiguration(name).perform(context) for name in defaults()}
    return [
        Node(
            package=PACKAGE,
            executable="bodypose3d_node",
            name=LaunchConfiguration("node_name").perform(context),
            namespace=LaunchConfiguration("namespace").perform(context),
            output="screen",
            parameters=[
                LaunchConfiguration("params_file").perform(context),
                parameter_overrides(raw),
            ],
            remappings=[
                ("image", LaunchConfiguration("image").perform(context)),
                ("image/compressed", LaunchConfiguration("image").perform(context) + "/compressed"),
                ("camera_info", LaunchConfiguration("camera_info").perform(context)),
            ],
        )
    ]


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
        DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
        DeclareLaunchArgument("node_name", default_value="bodypose3d_node"),
        DeclareLaunchArgument(
            "params_file",
            default_value=os.path.join(share, "config", "bodypose3d.yaml"),
            description="YAML parameters file",
        ),
        DeclareLaunchArgument("rviz", default_value="false", description="start RViz"),
    ]
    for name in defaults():
        arguments.append(
            DeclareLaunchArgument(name, default_value="", description=DESCRIPTIONS.get(name, name))
        )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        arguments=["-d", os.path.join(share, "config", "bodypose3d.rviz")],
        condition=IfCondition(LaunchConfiguration("rviz")),
        output="log",
    )
    return LaunchDescription([*arguments, OpaqueFunction(function=_node), rviz])
