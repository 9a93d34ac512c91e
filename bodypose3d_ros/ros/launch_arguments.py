"""Turning launch arguments into node settings (kept free of launch imports, so it is testable).

Every node parameter is also a launch argument. An argument left empty means "not given", so the
value comes from the params file (or the node's default) instead of overriding it. The topic
arguments become the node's remappings and the topics of the RViz displays, so RViz shows the
node's output whatever namespace and image topic it was launched with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import yaml  # type: ignore[import-untyped,unused-ignore]  # no stubs in every environment

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
    """The node's remappings: its image (raw and '/compressed'), CameraInfo and depth inputs."""
    _check_topic(image, "image")
    _check_topic(camera_info, "camera_info")
    remaps = [
        ("image", image),
        ("image/compressed", f"{image}/compressed"),
        ("camera_info", camera_info),
    ]
    if depth is not None:
        remaps.append(("depth", _check_topic(depth, "depth")))
    return remaps


def rviz_config_for(template: str, namespace: str, image_topic: str) -> str:
    """The RViz config ``template`` (YAML text) with its topics set for this launch.

    The marker and debug-image displays show the node's topics resolved in ``namespace``; the
    camera image display shows ``image_topic`` (resolved the same way, as the node's remapping
    is). Every display named in :data:`RVIZ_DISPLAY_TOPICS` must be in the template, so a
    renamed display is an error instead of a silently wrong topic.
    """
    config = yaml.safe_load(template)
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
