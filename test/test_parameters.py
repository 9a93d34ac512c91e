"""Node parameters: one table, validated with clear errors; YAML and launch arguments agree."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from bodypose3d_ros.ros.launch_arguments import (
    DEFAULT_FIXED_FRAME,
    NODE_LAUNCH_ARGUMENTS,
    RVIZ_DISPLAY_TOPICS,
    RvizPlan,
    node_namespace,
    node_settings,
    parameter_overrides,
    remappings_for,
    resolve_topic,
    rviz_config_for,
    rviz_launch_plan,
    rviz_missing_message,
)
from bodypose3d_ros.ros.parameters import (
    DESCRIPTIONS,
    NodeParameters,
    ParameterError,
    check_parameter,
    defaults,
    parse_parameters,
)

REPO = Path(__file__).resolve().parent.parent


def test_config_yaml_lists_every_parameter_with_its_default() -> None:
    from bodypose3d_ros.ros.parameters import defaults_yaml

    text = (REPO / "config" / "bodypose3d.yaml").read_text()
    assert text == defaults_yaml()
    assert yaml.safe_load(text)["/**"]["ros__parameters"] == defaults()


def test_defaults_are_valid_and_round_trip() -> None:
    assert parse_parameters(defaults()) == NodeParameters()


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("backend", "openpose", "backend='openpose' is not one of blazepose, bodypose3dnet"),
        ("engine", "cuda", "engine='cuda' is not one of auto, onnxruntime, tensorrt"),
        ("precision", "int4", "precision='int4' is not one of fp16, fp32"),
        ("input_normalization", "bgr", "is not one of bgr_unit, rgb_mean"),
        ("input_reliability", "sometimes", "is not one of best_effort, reliable"),
        ("max_batch_size", 0, "max_batch_size=0 must be within [1, 64]"),
        ("default_focal_ratio", -0.6, "default_focal_ratio=-0.6 must be within [0.05, 20]"),
        ("default_focal_ratio", float("inf"), "default_focal_ratio=inf must be within"),
        ("smoothing_root_beta", float("nan"), "smoothing_root_beta=nan must be within [0, 1000]"),
        ("person_min_keypoints", 99, "person_min_keypoints=99 must be within [1, 34]"),
        ("detector", "yolo", "detector='yolo' is not one of"),
        ("detection_interval", 0, "detection_interval=0 must be within [1, 1000]"),
        ("track_max_age_s", -1.0, "track_max_age_s=-1.0 must be within (0, 3600]"),
        ("track_max_missed_frames", 0, "track_max_missed_frames=0 must be within [1, 1000]"),
        ("track_min_hits", 0, "track_min_hits=0 must be within [1, 1000]"),
        ("detector_min_score", 1.5, "detector_min_score=1.5 must be within [0, 1]"),
        ("detector_input_size", -8, "detector_input_size=-8 must be within [0, 1024]"),
        ("detector_input_size", 100, "detector_input_size=100: detector input size must be a mul"),
        ("detector_input_size", 2048, "detector_input_size=2048: detector input size must be a m"),
        ("marker_min_confidence", 1.5, "marker_min_confidence=1.5 must be within [0, 1]"),
        ("smoothing_uv_beta", -1.0, "smoothing_uv_beta=-1.0 must be within [0, 1000]"),
        (
            "diagnostics_period_s",
            1e10,
            "diagnostics_period_s=10000000000.0 must be within [0.1, 3600]",
        ),
        ("diagnostics_period_s", 1e-12, "diagnostics_period_s=1e-12 must be within [0.1, 3600]"),
        ("diagnostics_period_s", 0.0, "diagnostics_period_s=0.0 must be within [0.1, 3600]"),
        ("marker_lifetime_s", -0.5, "marker_lifetime_s=-0.5 must be within [0, 86400]"),
        ("marker_lifetime_s", float("nan"), "marker_lifetime_s=nan must be within [0, 86400]"),
    ],
)
def test_bad_values_are_named_with_what_is_accepted(
    name: str, value: object, expected: str
) -> None:
    values = defaults()
    values[name] = value
    with pytest.raises(ParameterError, match="invalid parameters") as caught:
        parse_parameters(values)
    assert expected in str(caught.value)


def test_diagnostics_period_bounds_are_inclusive() -> None:
    for period in (0.1, 3600, 3600.0):
        assert parse_parameters({**defaults(), "diagnostics_period_s": period})


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("diagnostics_period_s", 1e10, "diagnostics_period_s=10000000000.0 must be within"),
        ("diagnostics_period_s", "fast", "diagnostics_period_s='fast' must be of type float"),
        ("backend", "openpose", "backend='openpose' is not one of"),
        ("marker_lifetime_s", -1, "marker_lifetime_s=-1.0 must be within [0, 86400]"),
        # Once accepted here, this only failed at the next configure, inside the detector.
        ("detector_input_size", 500, "detector_input_size=500: detector input size must be a"),
    ],
)
def test_one_parameter_checked_on_its_own(name: str, value: object, problem: str) -> None:
    """What a running node answers to `ros2 param set` with a bad value."""
    found = check_parameter(name, value)
    assert found is not None
    assert problem in found
    assert "model_path" not in found  # only this parameter's own problems


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        # Each of these was accepted and then broke every frame (or the configure).
        ("marker_lifetime_s", 1e300, "marker_lifetime_s=1e+300 must be within [0, 86400]"),
        ("marker_lifetime_s", 2.0**31, "marker_lifetime_s=2147483648.0 must be within [0, 86400]"),
        ("marker_lifetime_s", 1e10, "marker_lifetime_s=10000000000.0 must be within [0, 86400]"),
        (
            "depth_max_time_offset_s",
            1e300,
            "depth_max_time_offset_s=1e+300 must be within (0, 0.5]",
        ),
        ("depth_max_time_offset_s", 30, "depth_max_time_offset_s=30.0 must be within (0, 0.5]"),
        ("triton_timeout_s", 1e300, "triton_timeout_s=1e+300 must be within [0.01, 60]"),
        ("triton_timeout_s", 1e-6, "triton_timeout_s=1e-06 must be within [0.01, 60]"),
        (
            "max_image_pixels",
            1 << 40,
            "max_image_pixels=1099511627776 must be within [1, 268435456]",
        ),
        ("max_people", 2**62, "max_people=4611686018427387904 must be within [1, 256]"),
        ("smoothing_d_cutoff", 1e-300, "smoothing_d_cutoff=1e-300 must be within [0.001, 1000]"),
        (
            "triton_model_version",
            -3,
            "triton_model_version='-3' must be a positive integer, or empty for the latest",
        ),
        (
            "triton_model_version",
            0,
            "triton_model_version='0' must be a positive integer, or empty for the latest",
        ),
    ],
)
def test_values_that_would_break_frames_are_refused_naming_the_range(
    name: str, value: object, problem: str
) -> None:
    assert check_parameter(name, value) == problem


def test_every_numeric_parameter_has_a_range_that_holds_its_default() -> None:
    from bodypose3d_ros.ros.parameters import RANGES

    numeric = {name for name, value in defaults().items()
               if isinstance(value, (int, float)) and not isinstance(value, bool)}  # fmt: skip
    assert set(RANGES) == numeric
    for name, accepted in RANGES.items():
        assert defaults()[name] in accepted, name
        assert check_parameter(name, accepted.high) is None, name  # the ends are accepted
        low = accepted.low if not accepted.open_low else accepted.low + 1e-3
        assert check_parameter(name, type(defaults()[name])(low)) is None or (
            name == "detector_input_size"  # 0 (the default size) and multiples of 32 from 128
        ), name


def test_an_integer_model_version_is_taken_as_the_cli_takes_it() -> None:
    """`-p triton_model_version:=7` arrives as an integer; `--triton-model-version 7` works."""
    assert check_parameter("triton_model_version", 7) is None
    assert parse_parameters({**defaults(), "triton_model_version": 7}).triton_model_version == "7"
    assert check_parameter("triton_model_version", True) is not None  # a bool is not a version


def test_good_single_values_and_cross_parameter_rules_pass_on_their_own() -> None:
    assert check_parameter("diagnostics_period_s", 2) is None
    assert check_parameter("detector_input_size", 384) is None
    assert check_parameter("backend", "bodypose3dnet") is None  # model_path is set next
    assert check_parameter("use_sim_time", True) is None  # not ours


def test_bodypose3dnet_without_a_model_path_names_the_fix() -> None:
    values = defaults()
    values["backend"] = "bodypose3dnet"
    with pytest.raises(ParameterError) as caught:
        parse_parameters(values)
    message = str(caught.value)
    assert "model_path" in message
    assert "NGC" in message
    assert "bodypose3dnet_performance.onnx" in message


def test_every_problem_is_reported_at_once() -> None:
    values = defaults()
    values.update(engine="x", precision="y")
    with pytest.raises(ParameterError) as caught:
        parse_parameters(values)
    assert "engine='x'" in str(caught.value)
    assert "precision='y'" in str(caught.value)


def test_every_parameter_is_described() -> None:
    assert set(DESCRIPTIONS) == set(defaults())
    assert all(len(text) > 10 for text in DESCRIPTIONS.values())


def test_engine_cache_dir_defaults_to_the_user_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "/tmp/xdg-test")
    assert NodeParameters().resolved_engine_cache_dir == "/tmp/xdg-test/bodypose3d_ros/tensorrt"
    assert NodeParameters(engine_cache_dir="/data/e").resolved_engine_cache_dir == "/data/e"


def test_launch_arguments_left_empty_do_not_override_the_params_file() -> None:
    raw = {name: "" for name in defaults()}
    raw.update(backend="bodypose3dnet", max_batch_size="4", smoothing="False",
               default_focal_ratio="0.7", model_path="/m.onnx", unrelated="x")  # fmt: skip
    assert parameter_overrides(raw) == {
        "backend": "bodypose3dnet",
        "max_batch_size": 4,
        "smoothing": False,
        "default_focal_ratio": 0.7,
        "model_path": "/m.onnx",
    }


@pytest.mark.parametrize(
    ("name", "text"), [("smoothing", "maybe"), ("max_batch_size", "eight"), ("precision", "")]
)
def test_launch_argument_types_are_checked(name: str, text: str) -> None:
    if text == "":
        assert parameter_overrides({name: text}) == {}
        return
    with pytest.raises(ValueError, match=name):
        parameter_overrides({name: text})


def _launch_values(**given: str) -> dict[str, str]:
    """Every launch configuration as a launch gives it: declared defaults, then ``given``."""
    values = {name: "" for name in defaults()}
    values.update(image="/camera/image_raw", camera_info="/camera/camera_info",
                  depth="/camera/aligned_depth_to_color/image_raw", namespace="",
                  node_name="bodypose3d_node", params_file="/share/config/bodypose3d.yaml",
                  rviz="false", fixed_frame="camera_optical_frame",
                  dds_transport="default")  # fmt: skip
    values.update(given)
    return values


def test_node_settings_follow_the_launch_arguments() -> None:
    settings = node_settings(
        _launch_values(image="/cam/color/image_raw", camera_info="/cam/color/camera_info",
                       depth="/cam/depth/image_raw", namespace="robot1", node_name="pose",
                       backend="bodypose3dnet", max_batch_size="4", ros_namespace="/fleet"),
        "/share/config/fastdds_large_images.xml",
    )  # fmt: skip
    assert settings == {
        "package": "bodypose3d_ros",
        "executable": "bodypose3d_node",
        "name": "pose",
        "namespace": "robot1",
        "output": "screen",
        "parameters": [
            "/share/config/bodypose3d.yaml",
            {"backend": "bodypose3dnet", "max_batch_size": 4},  # only what was given
        ],
        "remappings": [
            ("image", "/cam/color/image_raw"),
            ("camera_info", "/cam/color/camera_info"),
            ("depth", "/cam/depth/image_raw"),
        ],
        "additional_env": {},  # dds_transport:=default leaves the environment alone
    }


@pytest.mark.parametrize(
    ("transport", "env"),
    [("large_data", {"FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA"}),
     ("shm_profile", {"FASTRTPS_DEFAULT_PROFILES_FILE": "/p.xml",
                      "FASTDDS_DEFAULT_PROFILES_FILE": "/p.xml"})],
)  # fmt: skip
def test_dds_transport_sets_the_node_process_environment(
    transport: str, env: dict[str, str]
) -> None:
    settings = node_settings(_launch_values(dds_transport=transport), "/p.xml")
    assert settings["additional_env"] == env


def test_bad_launch_arguments_fail_the_launch_naming_them() -> None:
    with pytest.raises(ValueError, match="dds_transport:='udp' is not one of default, large_data"):
        node_settings(_launch_values(dds_transport="udp"), "/p.xml")
    with pytest.raises(ValueError, match="max_batch_size"):
        node_settings(_launch_values(max_batch_size="eight"), "/p.xml")
    with pytest.raises(ValueError, match="image topic"):
        node_settings(_launch_values(image="/image/"), "/p.xml")


@pytest.mark.parametrize("forgotten", ["dds_transport", "depth", "params_file", "smoothing"])
def test_a_launch_file_that_forgets_an_argument_fails_naming_it(forgotten: str) -> None:
    """Every node parameter must be a launch argument: one left undeclared is an error at launch,
    never a silently ignored ``name:=value``."""
    values = _launch_values()
    del values[forgotten]
    with pytest.raises(ValueError, match=f"does not declare: {forgotten}"):
        node_settings(values, "/p.xml")


def test_launch_file_builds_a_description_where_launch_ros_exists() -> None:
    pytest.importorskip(
        "launch_ros", reason="launch_ros is not on PyPI: runs on a real ROS 2 install"
    )
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bp3d_launch", REPO / "launch" / "bodypose3d.launch.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    names = {a.name for a in description.get_launch_arguments()}
    assert set(defaults()) <= names
    assert set(NODE_LAUNCH_ARGUMENTS) <= names


def _rviz_topics(config: dict[str, Any]) -> dict[str, str]:
    displays = config["Visualization Manager"]["Displays"]
    return {d["Name"]: d["Topic"]["Value"] for d in displays if "Topic" in d}


def test_rviz_template_shows_the_default_launch_topics() -> None:
    template = (REPO / "config" / "bodypose3d.rviz").read_text()
    assert set(RVIZ_DISPLAY_TOPICS) == set(_rviz_topics(yaml.safe_load(template)))
    same = yaml.safe_load(rviz_config_for(template, "", "/camera/image_raw"))
    assert same == yaml.safe_load(template)


def test_rviz_config_follows_namespace_and_image_topic() -> None:
    template = (REPO / "config" / "bodypose3d.rviz").read_text()
    out = yaml.safe_load(rviz_config_for(template, "robot1", "/cam/color/image_raw"))
    assert _rviz_topics(out) == {
        "Skeletons": "/robot1/markers",
        "Debug image": "/robot1/debug_image",
        "Camera image": "/cam/color/image_raw",
    }
    # Everything else is kept: only the three topic values differ from the template.
    expected = yaml.safe_load(template)
    for display in expected["Visualization Manager"]["Displays"]:
        if display["Name"] in _rviz_topics(out):
            display["Topic"]["Value"] = _rviz_topics(out)[display["Name"]]
    assert out == expected
    # A relative image topic is remapped in the node's namespace, so RViz shows it there too.
    nested = yaml.safe_load(rviz_config_for(template, "/fleet/robot1/", "camera/image"))
    assert _rviz_topics(nested) == {
        "Skeletons": "/fleet/robot1/markers",
        "Debug image": "/fleet/robot1/debug_image",
        "Camera image": "/fleet/robot1/camera/image",
    }


def test_rviz_config_uses_the_fixed_frame_argument() -> None:
    template = (REPO / "config" / "bodypose3d.rviz").read_text()
    default = yaml.safe_load(rviz_config_for(template, "", "/camera/image_raw"))
    assert default["Visualization Manager"]["Global Options"]["Fixed Frame"] == DEFAULT_FIXED_FRAME
    out = yaml.safe_load(rviz_config_for(template, "", "/camera/image_raw", "base_link"))
    assert out["Visualization Manager"]["Global Options"]["Fixed Frame"] == "base_link"
    for bad in ("", "/base_link", "base link "):
        with pytest.raises(ValueError, match="fixed_frame"):
            rviz_config_for(template, "", "/image", bad)


def _ament_prefix(root: Path, packages: tuple[str, ...]) -> str:
    """An install prefix whose ament index lists ``packages`` (what colcon/apt install)."""
    index = root / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True)
    for package in packages:
        (index / package).touch()
    return str(root)


def test_rviz_missing_is_reported_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROS_DISTRO", "jazzy")
    monkeypatch.setenv("AMENT_PREFIX_PATH", _ament_prefix(tmp_path / "a", ("bodypose3d_ros",)))
    message = rviz_missing_message()
    assert message is not None
    assert "RViz is not installed" in message
    assert "runs without it" in message
    assert "ros-jazzy-rviz2" in message
    with_rviz = _ament_prefix(tmp_path / "b", ("rviz2",))
    monkeypatch.setenv("AMENT_PREFIX_PATH", f"{tmp_path / 'a'}{os.pathsep}{with_rviz}")
    assert rviz_missing_message() is None


def _template() -> str:
    return (REPO / "config" / "bodypose3d.rviz").read_text()


def test_rviz_false_starts_no_rviz_and_asks_nothing() -> None:
    def never() -> str | None:
        raise AssertionError("rviz:=false must not look for RViz")

    for word in ("false", "False", "0"):
        assert rviz_launch_plan(_launch_values(rviz=word), _template, never) == RvizPlan(None)


def test_rviz_missing_gives_a_warning_and_no_rviz_node() -> None:
    plan = rviz_launch_plan(_launch_values(rviz="true"), _template, lambda: "RViz is missing")
    assert plan == RvizPlan(None, "RViz is missing")


def test_rviz_gets_the_launch_topics_namespace_and_fixed_frame() -> None:
    values = _launch_values(rviz="True", namespace="robot1", ros_namespace="/fleet",
                            image="camera/image", fixed_frame="base_link")  # fmt: skip
    plan = rviz_launch_plan(values, _template, lambda: None)
    assert plan.warning is None
    assert plan.config is not None
    config = yaml.safe_load(plan.config)
    assert config["Visualization Manager"]["Global Options"]["Fixed Frame"] == "base_link"
    assert _rviz_topics(config) == {
        "Skeletons": "/fleet/robot1/markers",
        "Debug image": "/fleet/robot1/debug_image",
        "Camera image": "/fleet/robot1/camera/image",
    }
    with pytest.raises(ValueError, match="rviz:='maybe' must be true or false"):
        rviz_launch_plan(_launch_values(rviz="maybe"), _template, lambda: None)


def test_rviz_config_without_an_expected_display_is_an_error() -> None:
    template = (REPO / "config" / "bodypose3d.rviz").read_text()
    with pytest.raises(ValueError, match="Debug image"):
        rviz_config_for(template.replace("Name: Debug image", "Name: Overlay"), "", "/image")


@pytest.mark.parametrize(
    ("topic", "namespace", "resolved"),
    [("markers", "", "/markers"), ("markers", "/", "/markers"), ("markers", "a/b", "/a/b/markers"),
     ("/abs/image", "robot1", "/abs/image"), ("image", "/robot1/", "/robot1/image")],
)  # fmt: skip
def test_topics_resolve_in_the_node_namespace(topic: str, namespace: str, resolved: str) -> None:
    assert resolve_topic(topic, namespace) == resolved


@pytest.mark.parametrize(
    ("namespace", "pushed", "expected"),
    [("", "", "/"), ("robot1", "", "/robot1"), ("robot1/", "/fleet", "/fleet/robot1"),
     ("", "/fleet", "/fleet"), ("/robot1", "/fleet", "/robot1")],
)  # fmt: skip
def test_node_namespace_as_launch_ros_resolves_it(
    namespace: str, pushed: str, expected: str
) -> None:
    assert node_namespace(namespace, pushed) == expected


def test_remappings_cover_image_and_camera_info() -> None:
    # No 'image/compressed' rule: the node derives it from the resolved image topic.
    assert remappings_for("/cam/color/image_raw", "/cam/color/camera_info") == [
        ("image", "/cam/color/image_raw"),
        ("camera_info", "/cam/color/camera_info"),
    ]
    for image, info in (("", "/info"), ("/image/", "/info"), ("/image", " /info"), ("~/x", "/i")):
        with pytest.raises(ValueError, match="topic"):
            remappings_for(image, info)


def test_depth_topic_is_remapped_when_given() -> None:
    remaps = remappings_for("/cam/color/image_raw", "/cam/color/camera_info",
                            "/cam/aligned_depth_to_color/image_raw")  # fmt: skip
    assert remaps[-1] == ("depth", "/cam/aligned_depth_to_color/image_raw")
    with pytest.raises(ValueError, match="depth topic"):
        remappings_for("/image", "/info", "/depth/")


def test_depth_parameters_are_validated() -> None:
    values = defaults()
    assert values["use_depth"] is False
    values.update(use_depth=True, depth_max_time_offset_s=0.0)
    with pytest.raises(
        ParameterError, match=r"depth_max_time_offset_s=0\.0 must be within \(0, 0\.5\]"
    ):
        parse_parameters(values)
    values.update(depth_max_time_offset_s=0.05)
    assert parse_parameters(values).depth_max_time_offset_s == 0.05


def test_readme_documents_every_parameter_with_its_default() -> None:
    from bodypose3d_ros.ros.parameters import markdown_table

    assert markdown_table() in (REPO / "README.md").read_text()


def test_integers_are_accepted_for_floats_and_wrong_types_are_named() -> None:
    values = defaults()
    values.update(default_focal_ratio=1, marker_min_confidence=0)
    parsed = parse_parameters(values)
    assert parsed.default_focal_ratio == 1.0
    assert isinstance(parsed.default_focal_ratio, float)
    values.update(max_batch_size="eight", smoothing="yes", backend=3)
    with pytest.raises(ParameterError) as caught:
        parse_parameters(values)
    message = str(caught.value)
    assert "max_batch_size='eight' must be of type int" in message
    assert "smoothing='yes' must be of type bool" in message
    assert "backend=3 must be of type str" in message
