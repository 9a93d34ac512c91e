"""Turning launch arguments into node settings (kept free of launch imports, so it is testable).

Every node parameter is also a launch argument. An argument left empty means "not given", so the
value comes from the params file (or the node's default) instead of overriding it. The topic
arguments become the node's remappings and the topics of the RViz displays, so RViz shows the
node's output whatever namespace and image topic it was launched with.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import yaml  # type: ignore[import-untyped,unused-ignore]  # no stubs in every environment

from bodypose3d_ros.ros.dds_transport import dds_transport_environment
from bodypose3d_ros.ros.parameters import defaults

TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off"}


def parameter_overrides(raw: Mapping[str, str]) -> dict[str, Any]:
    """Typed parameter values for the launch arguments that were given (non-empty)."""
    base = defaults()
    typed: dict[str, Any] = {}
    for name, text in raw.items():
        if name not in base or text == "":
            continue
        default = base[name]
        if isinstance(default, bool):
            word = text.strip().lower()
            if word not in TRUE_WORDS | FALSE_WORDS:
                raise ValueError(f"launch argument {name}:={text!r} must be true or false")
            typed[name] = word in TRUE_WORDS
        elif isinstance(default, int):
            try:
                typed[name] = int(text)
            except ValueError:
                raise ValueError(f"launch argument {name}:={text!r} must be an integer") from None
        elif isinstance(default, float):
            try:
                typed[name] = float(text)
            except ValueError:
                raise ValueError(f"launch argument {name}:={text!r} must be a number") from None
        else:
            typed[name] = text
    return typed


# RViz display name -> the node topic it shows (relative: resolved in the node's namespace).
# None marks the camera image display, which shows the input image topic instead.
RVIZ_DISPLAY_TOPICS: Final[dict[str, str | None]] = {
    "Skeletons": "markers",
    "Debug image": "debug_image",
    "Camera image": None,
}


def _check_topic(topic: str, what: str) -> str:
    """``topic`` if it is a usable topic name for a launch argument, else a clear error."""
    if not topic or topic.strip() != topic or topic.endswith("/"):
        raise ValueError(f"{what} topic {topic!r} must be a non-empty name without a trailing '/'")
    if topic.startswith("~"):
        raise ValueError(f"{what} topic {topic!r}: private ('~') names are not supported here")
    return topic


def node_namespace(namespace: str, pushed: str = "") -> str:
    """The absolute namespace launch_ros gives a node launched with ``namespace``.

    A relative ``namespace`` goes under the one pushed by an including launch file
    (``PushRosNamespace``, the ``ros_namespace`` launch configuration); an absolute one does not.
    """
    parts = [namespace] if namespace.startswith("/") else [pushed, namespace]
    segments = [seg for part in parts for seg in part.split("/") if seg]
    return "/" + "/".join(segments)


def resolve_topic(topic: str, namespace: str) -> str:
    """The absolute name of ``topic`` for a node in ``namespace`` (absolute names stay as is).

    An empty namespace is the root, and a relative namespace is taken from the root, as
    launch_ros does for a node started with that ``namespace``.
    """
    _check_topic(topic, "the")
    if topic.startswith("/"):
        return topic
    ns = namespace.strip("/")
    return f"/{ns}/{topic}" if ns else f"/{topic}"


def remappings_for(image: str, camera_info: str, depth: str | None = None) -> list[tuple[str, str]]:
    """The node's remappings: its image, CameraInfo and depth inputs.

    The compressed input needs no remapping of its own: the node subscribes to the resolved
    image topic + '/compressed', as image_transport does.
    """
    _check_topic(image, "image")
    _check_topic(camera_info, "camera_info")
    remaps = [("image", image), ("camera_info", camera_info)]
    if depth is not None:
        remaps.append(("depth", _check_topic(depth, "depth")))
    return remaps


DEFAULT_FIXED_FRAME: Final = "camera_optical_frame"


def rviz_missing_message() -> str | None:
    """Why RViz cannot start (rviz2 not installed), or None when it can.

    Looks rviz2 up in the ament index ($AMENT_PREFIX_PATH), as launch_ros does when it starts a
    node, so the answer matches what would happen: without this check the missing package
    aborted the whole launch, the node included.
    """
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        get_package_prefix("rviz2")
    except (PackageNotFoundError, LookupError, OSError, ValueError):
        distro = os.environ.get("ROS_DISTRO") or "<distro>"
        return (
            "rviz:=true but RViz is not installed (no 'rviz2' package in the ament index): "
            "bodypose3d_node runs without it. Install it with "
            f"'sudo apt install ros-{distro}-rviz2', or run RViz on another machine."
        )
    return None


def rviz_config_for(
    template: str, namespace: str, image_topic: str, fixed_frame: str = DEFAULT_FIXED_FRAME
) -> str:
    """The RViz config ``template`` (YAML text) with its topics and fixed frame set for this launch.

    The marker and debug-image displays show the node's topics resolved in ``namespace``; the
    camera image display shows ``image_topic`` (resolved the same way, as the node's remapping
    is). Every display named in :data:`RVIZ_DISPLAY_TOPICS` must be in the template, so a
    renamed display is an error instead of a silently wrong topic. ``fixed_frame`` is RViz's
    global frame: the camera's optical frame, or a robot frame when TF links the two.
    """
    if not fixed_frame or fixed_frame.strip() != fixed_frame or fixed_frame.startswith("/"):
        raise ValueError(
            f"fixed_frame {fixed_frame!r} must be a TF frame name (no spaces, no leading '/')"
        )
    config = yaml.safe_load(template)
    config["Visualization Manager"]["Global Options"]["Fixed Frame"] = fixed_frame
    displays = config["Visualization Manager"]["Displays"]
    found = {d.get("Name"): d for d in displays if isinstance(d, dict)}
    missing = [name for name in RVIZ_DISPLAY_TOPICS if name not in found]
    if missing:
        raise ValueError(f"RViz config has no display named {', '.join(missing)}")
    for name, topic in RVIZ_DISPLAY_TOPICS.items():
        shown = image_topic if topic is None else topic
        found[name]["Topic"]["Value"] = resolve_topic(shown, namespace)
    text: str = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
    return text


# The launch arguments the node itself is built from (besides one per node parameter).
NODE_LAUNCH_ARGUMENTS: Final = (
    "image", "camera_info", "depth", "namespace", "node_name", "params_file", "dds_transport"
)  # fmt: skip


def node_settings(arguments: Mapping[str, str], profile_file: str) -> dict[str, Any]:
    """The keyword arguments of launch_ros's ``Node`` for this launch's argument values.

    ``arguments`` are all launch configurations (strings); every node parameter and every name
    in :data:`NODE_LAUNCH_ARGUMENTS` must be among them, so a launch file that forgets to
    declare one fails at launch, naming it, instead of silently ignoring what the user gave.
    ``dds_transport`` picks the Fast DDS recipe for the node's process (see
    :mod:`bodypose3d_ros.ros.dds_transport`); ``profile_file`` is the shipped XML profile.
    """
    missing = [n for n in (*NODE_LAUNCH_ARGUMENTS, *defaults()) if n not in arguments]
    if missing:
        raise ValueError(f"the launch file does not declare: {', '.join(missing)}")
    return {
        "package": "bodypose3d_ros",
        "executable": "bodypose3d_node",
        "name": arguments["node_name"],
        "namespace": arguments["namespace"],
        "output": "screen",
        "parameters": [arguments["params_file"], parameter_overrides(arguments)],
        "remappings": remappings_for(
            arguments["image"], arguments["camera_info"], arguments["depth"]
        ),
        "additional_env": dds_transport_environment(arguments["dds_transport"], profile_file),
    }


@dataclass(frozen=True)
class RvizPlan:
    """What the launch does about RViz: start it with ``config`` (RViz config text), or not,
    with ``warning`` to log when it was asked for but cannot start."""

    config: str | None
    warning: str | None = None


def rviz_launch_plan(
    arguments: Mapping[str, str],
    template: Callable[[], str],
    missing: Callable[[], str | None] = rviz_missing_message,
) -> RvizPlan:
    """RViz for this launch's ``arguments`` (all launch configurations, as strings).

    ``rviz`` false: nothing. True but ``missing()`` names a reason (rviz2 not installed): no RViz,
    that reason as a warning, and the node starts anyway. Else the packaged ``template()`` with
    its topics following ``namespace`` (under any pushed ``ros_namespace``) and ``image``, and
    ``fixed_frame`` as RViz's fixed frame.
    """
    word = arguments.get("rviz", "false").strip().lower()
    if word not in TRUE_WORDS | FALSE_WORDS:
        raise ValueError(f"launch argument rviz:={arguments.get('rviz')!r} must be true or false")
    if word in FALSE_WORDS:
        return RvizPlan(None)
    reason = missing()
    if reason:
        return RvizPlan(None, reason)
    namespace = node_namespace(arguments["namespace"], arguments.get("ros_namespace") or "")
    config = rviz_config_for(template(), namespace, arguments["image"], arguments["fixed_frame"])
    return RvizPlan(config)
