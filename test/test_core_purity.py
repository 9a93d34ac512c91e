"""bodypose3d_ros.core never imports ROS: it must import, and run, where ROS is not installed.

Every module under bodypose3d_ros/core is found by walking the package (so new modules are
covered without editing this file) and imported in a fresh interpreter in which the ROS
packages cannot be imported at all.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ROS_MODULES = (
    "rclpy",
    "rcl_interfaces",
    "sensor_msgs",
    "std_msgs",
    "geometry_msgs",
    "visualization_msgs",
    "diagnostic_msgs",
    "lifecycle_msgs",
    "builtin_interfaces",
    "bodypose3d_ros.msg",
    "launch",
    "launch_ros",
    "ament_index_python",
    "cv_bridge",
    "message_filters",
    "tf2_ros",
)
MIN_CORE_MODULES = 15

_IMPORT_ALL_CORE = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys, traceback

    for name in {blocked!r}:
        sys.modules[name] = None  # any import of it now raises ImportError

    def fail(name):
        raise ImportError(f"cannot import package {{name}}")

    import bodypose3d_ros.core as core

    imported, errors = {{"bodypose3d_ros.core": core.__file__}}, {{}}
    for info in pkgutil.walk_packages(core.__path__, prefix="bodypose3d_ros.core.", onerror=fail):
        try:
            imported[info.name] = importlib.import_module(info.name).__file__
        except Exception:
            errors[info.name] = traceback.format_exc()
    loaded_ros = sorted(
        name for name, module in list(sys.modules.items())
        if module is not None
        and any(name == b or name.startswith(b + ".") for b in {blocked!r})
    )
    print(json.dumps({{"imported": imported, "errors": errors, "loaded_ros": loaded_ros}}))
    """
)


@pytest.fixture(scope="module")
def core_import() -> dict[str, object]:
    """What importing every core module with ROS made unimportable reported."""
    code = _IMPORT_ALL_CORE.format(blocked=ROS_MODULES)
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-4000:]
    result: dict[str, object] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def test_every_core_module_imports_without_ros(core_import: dict[str, object]) -> None:
    errors = core_import["errors"]
    assert isinstance(errors, dict)
    assert not errors, "core modules that need ROS:\n" + "\n".join(
        f"{name}:\n{trace}" for name, trace in errors.items()
    )
    imported = core_import["imported"]
    assert isinstance(imported, dict)
    # The walk really found the package's modules (not an empty or wrong package).
    assert len(imported) >= MIN_CORE_MODULES, sorted(imported)
    for name in ("bodypose3d_ros.core.camera.intrinsics", "bodypose3d_ros.core.engines.base"):
        assert name in imported
    core_dir = REPO / "bodypose3d_ros" / "core"
    assert all(Path(str(path)).is_relative_to(core_dir) for path in imported.values())
    assert core_import["loaded_ros"] == []


def _imported_names(source: str) -> set[str]:
    """Every absolute module name an ``import`` statement in ``source`` names, anywhere."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_core_source_names_a_ros_module(core_import: dict[str, object]) -> None:
    """Also catches imports inside functions or ``try`` blocks, which importing never runs."""
    imported = core_import["imported"]
    assert isinstance(imported, dict)
    offenders = {
        module: sorted(
            name
            for name in _imported_names(Path(str(path)).read_text())
            if any(name == ros or name.startswith(ros + ".") for ros in ROS_MODULES)
        )
        for module, path in imported.items()
    }
    assert {m: names for m, names in offenders.items() if names} == {}


def test_the_import_check_would_catch_a_ros_import() -> None:
    """The blocking really makes ROS unimportable in the child (so a clean run means something)."""
    for source in ("import rclpy.node", "from sensor_msgs.msg import Image",
                   "from bodypose3d_ros.msg import Pose3DArray"):  # fmt: skip
        code = f"import sys\nfor n in {ROS_MODULES!r}: sys.modules[n] = None\n{source}"
        run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                             text=True, timeout=60)  # fmt: skip
        assert run.returncode != 0
        assert "ModuleNotFoundError" in run.stderr or "ImportError" in run.stderr
    assert _imported_names("def f():\n    from rclpy.node import Node\n") >= {"rclpy.node"}


# The stage folders in the order a frame passes through them. The spine (types, skeleton,
# model_cache) comes first; pipeline.py composes the stages and is imported by none of them
# except models/ (for the PoseModel protocol it defines).
SPINE = ("types", "skeleton", "model_cache")
STAGES = ("camera", "image", "people", "engines", "models", "lift", "depth", "output")


def _core_imports() -> dict[str, set[str]]:
    """Each core module (dotted, under bodypose3d_ros.core) -> the core modules it names."""
    core_dir = REPO / "bodypose3d_ros" / "core"
    graph: dict[str, set[str]] = {}
    for path in core_dir.rglob("*.py"):
        parts = path.relative_to(core_dir).with_suffix("").parts
        name = ".".join(part for part in parts if part != "__init__")
        graph[name] = {
            imported.removeprefix("bodypose3d_ros.core.")
            for imported in _imported_names(path.read_text())
            if imported.startswith("bodypose3d_ros.core.")
        }
    return graph


def test_the_spine_imports_no_stage() -> None:
    graph = _core_imports()
    for module in SPINE:
        assert graph[module] <= set(SPINE), (module, graph[module])
    # What the check reads is real: the pipeline names stage modules.
    assert any(dep.split(".")[0] in STAGES for dep in graph["pipeline"])


def test_every_core_module_lives_in_the_spine_or_a_stage_folder() -> None:
    graph = _core_imports()
    homes = {name.split(".")[0] for name in graph if name}
    assert homes <= set(SPINE) | set(STAGES) | {"pipeline"}, sorted(homes)
    assert {"camera", "image", "people", "lift", "depth", "output"} <= homes


def test_core_imports_have_no_cycles() -> None:
    """Stage folders import earlier stages and the spine; no two modules need each other."""
    graph = _core_imports()
    modules = set(graph)

    def resolve(dep: str) -> str | None:
        # ``from bodypose3d_ros.core.camera import intrinsics`` names ``camera.intrinsics``.
        while dep and dep not in modules:
            dep = dep.rpartition(".")[0]
        return dep or None

    edges = {m: {d for d in map(resolve, deps) if d and d != m} for m, deps in graph.items()}
    _assert_acyclic(edges)
    # The check itself sees cycles: a made-up one is reported.
    with pytest.raises(AssertionError, match="import cycle"):
        _assert_acyclic({**edges, "types": edges["types"] | {"pipeline"}})


def _assert_acyclic(edges: dict[str, set[str]]) -> None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in edges[module]:
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path, module, dep]))
            if dep not in state:
                visit(dep, [*path, module])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [])


def test_no_core_module_imports_the_ros_layer_or_the_entry_points() -> None:
    """The core is below everything ROS: not even the pure helpers in bodypose3d_ros.ros."""
    outside = ("bodypose3d_ros.ros", "bodypose3d_ros.node", "bodypose3d_ros.infer",
               "bodypose3d_ros.demo", "bodypose3d_ros.testing")  # fmt: skip
    core_dir = REPO / "bodypose3d_ros" / "core"
    offenders = {
        str(path.relative_to(core_dir)): sorted(
            name
            for name in _imported_names(path.read_text())
            if any(name == o or name.startswith(o + ".") for o in outside)
        )
        for path in core_dir.rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}
    assert _imported_names("from bodypose3d_ros.ros.stats import RateMeter\n") >= {
        "bodypose3d_ros.ros.stats"
    }
