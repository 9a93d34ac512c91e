"""package.xml against the code: what rosdep installs is what the code imports.

Every third-party module the package imports at run time (the Python package, its executables,
the launch file) needs an exec_depend (or depend); every one that only the tests import needs a
test_depend; nothing is declared that no code, message or build step uses. Imports are read with
`ast` from the sources, and mapped to rosdep keys by the explicit tables below: a new import
fails this test until its module is added to one of them.
"""

from __future__ import annotations

import ast
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "bodypose3d_ros"

# Top-level Python module -> its rosdep key.
ROSDEP_KEYS: dict[str, str] = {
    # ROS packages: the module is named as the package.
    "ament_index_python": "ament_index_python",
    "builtin_interfaces": "builtin_interfaces",
    "diagnostic_msgs": "diagnostic_msgs",
    "geometry_msgs": "geometry_msgs",
    "launch": "launch",
    "launch_ros": "launch_ros",
    "lifecycle_msgs": "lifecycle_msgs",
    "rcl_interfaces": "rcl_interfaces",
    "rclpy": "rclpy",
    "rosgraph_msgs": "rosgraph_msgs",
    "sensor_msgs": "sensor_msgs",
    "std_msgs": "std_msgs",
    "visualization_msgs": "visualization_msgs",
    # Python libraries: rosdep's system-package keys.
    "cv2": "python3-opencv",
    "jsonschema": "python3-jsonschema",
    "matplotlib": "python3-matplotlib",
    "numpy": "python3-numpy",
    "onnxruntime": "python3-onnxruntime-pip",
    "pytest": "python3-pytest",
    "scipy": "python3-scipy",
    "tqdm": "python3-tqdm",
    "yaml": "python3-yaml",
}

# Imported, but deliberately not a rosdep key (the README's install section says how to get them).
PIP_ONLY: dict[str, str] = {
    "mediapipe": "exactly 0.10.14, pip install --no-deps (rosdep's key pulls ~1 GB of extras)",
    "ai_edge_litert": "MoveNet's and BlazePose's runtime: pip install ai-edge-litert",
    "flatbuffers": "ai-edge-litert's own dependency: cuts BlazePose's unused outputs",
    "tensorrt": "optional engine: JetPack's python3-libnvinfer or NVIDIA's wheels",
    "cuda": "optional, with TensorRT: cuda-python",
    "tritonclient": "optional engine:=triton client, pip install --no-deps",
    "google": "protobuf, of mediapipe and tritonclient's gRPC stubs (pinned below 5 by them)",
    "onnx": "builds the test fixture model: pip install onnx",
    "pytriton": "a Triton server for the Triton tests, in its own Python 3.13 venv",
    "rosbags": "optional bag input of the offline CLI: pip install rosbags",
    "mcap": "with rosbags: reads MCAP files cut short (no footer): pip install mcap",
    "mcap_ros2": "the tests' independent MCAP reader: pip install mcap-ros2-support",
}

# Declared though no Python file imports them.
NOT_IMPORTED: dict[str, str] = {
    "rosidl_default_runtime": "what the generated message modules need at run time",
    "ament_cmake_pytest": "colcon test runs the suite through ament_add_pytest_test",
}

# Imports in run-time files that only the tests reach (the function is called by tests alone).
TEST_ONLY_IMPORTS: dict[tuple[str, str], str] = {
    ("bodypose3d_ros/core/output/result_json.py", "jsonschema"): "validate_frame_json",
}


def _python_files(*patterns: str) -> list[Path]:
    return sorted(p for pattern in patterns for p in REPO.glob(pattern) if p.is_file())


RUNTIME_FILES = [
    p
    for p in _python_files(f"{PACKAGE}/**/*.py", "scripts/*", "launch/*.py")
    if "testing" not in p.relative_to(REPO).parts
]
TEST_FILES = _python_files("test/*.py", f"{PACKAGE}/testing/**/*.py")


def imported_modules(path: Path) -> set[str]:
    """Top-level names of the absolute imports in one file (at any depth: lazy imports count)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def third_party(modules: Iterable[str]) -> set[str]:
    """Leave out the standard library, this package and the test folder's own helper modules."""
    local = {PACKAGE} | {p.stem for p in (REPO / "test").glob("*.py")}
    return {m for m in modules if m not in sys.stdlib_module_names and m not in local}


def imports_of(files: Iterable[Path], *, skip_test_only: bool = False) -> set[str]:
    modules: set[str] = set()
    for path in files:
        relative = path.relative_to(REPO).as_posix()
        modules |= {
            m
            for m in third_party(imported_modules(path))
            if not (skip_test_only and (relative, m) in TEST_ONLY_IMPORTS)
        }
    return modules


def declared(package_xml: str) -> dict[str, set[str]]:
    """Tag -> keys, for every dependency tag of a package.xml (format 3)."""
    keys: dict[str, set[str]] = {}
    for element in ET.fromstring(package_xml):
        if element.tag.endswith("depend") and element.text:
            keys.setdefault(element.tag, set()).add(element.text.strip())
    return keys


def message_packages(msg_dir: Path) -> set[str]:
    """Packages whose types our .msg files use as fields (`std_msgs/Header header`)."""
    found: set[str] = set()
    for path in msg_dir.glob("*.msg"):
        for line in path.read_text().splitlines():
            match = re.match(r"\s*([a-z][a-z0-9_]*)/[A-Z]\w*", line)
            if match and match.group(1) != PACKAGE:
                found.add(match.group(1))
    return found


def problems(
    package_xml: str, runtime: set[str], tests: set[str], msg_packages: set[str]
) -> list[str]:
    """Everything package.xml gets wrong about these imports; empty when it is right."""
    tags = declared(package_xml)
    at_run_time = tags.get("depend", set()) | tags.get("exec_depend", set())
    for_tests = tags.get("test_depend", set())
    found: list[str] = []
    unmapped = sorted((runtime | tests) - ROSDEP_KEYS.keys() - PIP_ONLY.keys())
    found += [f"{m}: imported, but in neither ROSDEP_KEYS nor PIP_ONLY" for m in unmapped]
    runtime_keys = {ROSDEP_KEYS[m] for m in runtime if m in ROSDEP_KEYS}
    test_keys = {ROSDEP_KEYS[m] for m in tests if m in ROSDEP_KEYS} - runtime_keys
    found += [
        f"{k}: imported at run time, no exec_depend" for k in sorted(runtime_keys - at_run_time)
    ]
    found += [
        f"{k}: imported by the tests only, no test_depend"
        for k in sorted(test_keys - for_tests - at_run_time)
    ]
    found += [
        f"{k}: imported by the tests only, declared for run time: make it a test_depend"
        for k in sorted(test_keys & tags.get("exec_depend", set()))
    ]
    found += [
        f"{p}: our messages use it, no depend"
        for p in sorted(msg_packages - tags.get("depend", set()))
    ]
    used = runtime_keys | msg_packages | NOT_IMPORTED.keys()
    unused = at_run_time - used - test_keys  # (test-only keys are reported above)
    found += [f"{k}: declared for run time, but nothing uses it" for k in sorted(unused)]
    stale_tests = for_tests - test_keys - NOT_IMPORTED.keys()
    found += [f"{k}: test_depend, but no test imports it (only)" for k in sorted(stale_tests)]
    return found


def _repo_problems(package_xml: str | None = None) -> list[str]:
    return problems(
        package_xml if package_xml is not None else (REPO / "package.xml").read_text(),
        imports_of(RUNTIME_FILES, skip_test_only=True),
        imports_of(TEST_FILES) | {m for _, m in TEST_ONLY_IMPORTS},
        message_packages(REPO / "msg"),
    )


def test_the_files_are_found() -> None:
    names = {p.relative_to(REPO).as_posix() for p in RUNTIME_FILES}
    assert {f"{PACKAGE}/node.py", "scripts/bodypose3d_node", "launch/bodypose3d.launch.py"} <= names
    assert REPO / "test" / "test_package_xml.py" in TEST_FILES
    assert message_packages(REPO / "msg") == {"std_msgs", "geometry_msgs", "sensor_msgs"}


def test_package_xml_declares_exactly_what_the_code_imports() -> None:
    assert _repo_problems() == []


def test_an_undeclared_import_and_a_stale_declaration_are_both_reported() -> None:
    package_xml = (REPO / "package.xml").read_text()
    for tag in (
        "<exec_depend>python3-scipy</exec_depend>",
        "<test_depend>python3-pytest</test_depend>",
    ):
        assert tag in package_xml
    broken = (
        package_xml.replace("<exec_depend>python3-scipy</exec_depend>", "")
        .replace(
            "<test_depend>python3-pytest</test_depend>", "<exec_depend>python3-pytest</exec_depend>"
        )
        .replace("<depend>sensor_msgs</depend>", "<exec_depend>sensor_msgs</exec_depend>")
        .replace("</package>", "<exec_depend>python3-requests</exec_depend></package>")
    )
    assert _repo_problems(broken) == [
        "python3-scipy: imported at run time, no exec_depend",
        "python3-pytest: imported by the tests only, declared for run time: make it a test_depend",
        "sensor_msgs: our messages use it, no depend",
        "python3-requests: declared for run time, but nothing uses it",
    ]


def test_an_import_missing_from_the_tables_is_reported() -> None:
    xml = (REPO / "package.xml").read_text()
    assert problems(xml, {"numpy", "somelib"}, set(), set())[0] == (
        "somelib: imported, but in neither ROSDEP_KEYS nor PIP_ONLY"
    )
