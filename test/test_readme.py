"""The README tells a newcomer the truth: every flag, launch argument, diagnostics key and message
field the code has is documented where a user looks for it.

Each test reads the names from the code itself (argparse parsers, the launch file's syntax tree,
the diagnostics builder, the .msg files), so a new flag or key that is not documented fails here.
"""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import pytest
from builtin_interfaces.msg import Time

from bodypose3d_ros.ros.diagnostics import DepthCounters, DiagnosticsSnapshot, build_diagnostics

REPO = Path(__file__).resolve().parent.parent
# Whitespace collapsed: a name the README wraps across two lines still counts as written.
README = " ".join((REPO / "README.md").read_text().split())


def _section(heading: str) -> str:
    """The README text under ``heading`` (a whole heading line), up to the next heading."""
    start = README.index(f" {heading} ") + len(heading) + 2
    following = re.search(r" #{1,6} [A-Z]", README[start:])
    return README[start : start + following.start()] if following else README[start:]


def _options(parser: object) -> set[str]:
    import argparse

    assert isinstance(parser, argparse.ArgumentParser)
    return {
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }


def test_every_offline_cli_flag_is_in_the_readme_synopsis() -> None:
    from bodypose3d_ros.infer import build_parser

    text = _section("## Offline: images and videos without ROS")
    missing = sorted(flag for flag in _options(build_parser()) if flag not in text)
    assert not missing, f"python -m bodypose3d_ros.infer flags missing from the README: {missing}"


def test_every_demo_flag_is_in_the_readme() -> None:
    from bodypose3d_ros.demo import build_parser

    text = _section("## Two commands on a fresh machine")
    # --startup-timeout is for slow machines and tests, not something a newcomer sets.
    flags = _options(build_parser()) - {"--startup-timeout"}
    missing = sorted(flag for flag in flags if f"`{flag}" not in text)
    assert not missing, f"python -m bodypose3d_ros.demo flags missing from the README: {missing}"


def _declared_launch_arguments() -> set[str]:
    """The launch file's arguments with a literal name (the node parameters come in a loop)."""
    tree = ast.parse((REPO / "launch" / "bodypose3d.launch.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "DeclareLaunchArgument"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(str(node.args[0].value))
    return names


def test_every_launch_argument_is_in_the_readme() -> None:
    names = _declared_launch_arguments()
    assert {"image", "camera_info", "depth", "rviz"} <= names  # the parse found the real ones
    text = _section("### Launch arguments")
    missing = sorted(name for name in names if f"`{name}`" not in text)
    assert not missing, f"launch arguments missing from the README's list: {missing}"


def test_every_diagnostics_key_is_in_the_readme() -> None:
    snapshot = DiagnosticsSnapshot(
        input_rate_hz=1.0, output_rate_hz=1.0, processing_ms_p50=1.0, processing_ms_p95=1.0,
        frames_received=1, frames_processed=1, frames_dropped=0, frames_rejected=0,
        last_error="", backend="blazepose", engine="x", precision="fp32",
        intrinsics_source="camera_info", model_status="loaded", lifecycle_state="active",
        detector_ms_p50=math.nan, depth=DepthCounters(),
    )  # fmt: skip
    status = build_diagnostics(Time(), "hw", "name", snapshot).status[0]
    keys = [value.key for value in status.values]
    assert {"people tracked", "depth frames received"} <= set(keys)
    text = README[README.index("**Diagnostics**") :]
    missing = [key for key in keys if f"`{key}`" not in text]
    assert not missing, f"/diagnostics keys missing from the README: {missing}"


@pytest.mark.parametrize("message", ["Keypoint3D", "Pose3D", "Pose3DArray"])
def test_every_message_field_is_in_the_readme(message: str) -> None:
    fields = []
    for line in (REPO / "msg" / f"{message}.msg").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and "=" not in line:  # a field, not a constant
            kind, name = line.split()
            fields.append(f"{kind} {name}")
    assert fields
    text = _section("## Messages")
    missing = [field for field in fields if f"`{field}`" not in text]
    assert not missing, f"msg/{message}.msg fields missing from the README: {missing}"
