"""What a real install provides: the generated messages and our package in one folder, the
executables in lib/<package>, launch and config in share/<package>. Imported from the install
prefix alone, as `ros2 run` would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "bodypose3d_ros"
PREFIX_VARIABLE = "BODYPOSE3D_INSTALL_PREFIX"
# Where an ament_cmake_python install puts Python packages (Debian layouts included).
SITE_PACKAGES_GLOBS = (
    "lib/python3*/site-packages",
    "lib/python3*/dist-packages",
    "local/lib/python3*/dist-packages",
)


def install_prefix() -> Path:
    """The install to check: $BODYPOSE3D_INSTALL_PREFIX, else the ament index's (colcon).

    tools/with-env exports the variable for the development install in .build/python3.X/install;
    under `colcon test` the package's own prefix is found through AMENT_PREFIX_PATH.
    """
    from_env = os.environ.get(PREFIX_VARIABLE)
    if from_env:
        return Path(from_env)
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    except ImportError:
        reason = "ament_index_python is not importable"
    else:
        try:
            return Path(get_package_prefix(PACKAGE))
        except PackageNotFoundError:
            reason = f"{PACKAGE} is not in the ament index (AMENT_PREFIX_PATH)"
    pytest.fail(
        f"no install of {PACKAGE} to check: {PREFIX_VARIABLE} is not set and {reason}. Build it "
        "with tools/setup-env and run the tests via tools/with-env, or `colcon build` and "
        "source install/setup.bash before `colcon test`."
    )


@pytest.fixture(scope="module")
def prefix() -> Path:
    return install_prefix()


def _site_packages(prefix: Path) -> Path:
    found = sorted(p for pattern in SITE_PACKAGES_GLOBS for p in prefix.glob(pattern))
    if not found:
        pytest.fail(f"no Python packages installed under {prefix}: build the install first")
    return found[0]


def _env_without_sources(prefix: Path) -> dict[str, str]:
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p) != REPO]
    env["PYTHONPATH"] = os.pathsep.join([str(_site_packages(prefix)), *paths])
    return env


def test_install_prefix_comes_from_the_variable_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(PREFIX_VARIABLE, str(tmp_path / "custom"))
    assert install_prefix() == tmp_path / "custom"


def test_install_prefix_falls_back_to_the_ament_index(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("ament_index_python", reason="ament_index_python missing: no colcon")
    # A colcon install registers the package in its ament resource index.
    marker = tmp_path / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE
    marker.parent.mkdir(parents=True)
    marker.touch()
    monkeypatch.delenv(PREFIX_VARIABLE, raising=False)
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))
    assert install_prefix() == tmp_path
    # Neither the variable nor an index entry: a failure that says how to build it.
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path / "empty"))
    with pytest.raises(pytest.fail.Exception, match=f"{PREFIX_VARIABLE} is not set.*colcon build"):
        install_prefix()


def test_package_and_messages_import_from_the_install_alone(prefix: Path, tmp_path: Path) -> None:
    code = (
        "import bodypose3d_ros, bodypose3d_ros.node, bodypose3d_ros.infer;"
        "from bodypose3d_ros.msg import Pose3DArray, Pose3D;"
        "print(bodypose3d_ros.__file__); print(Pose3D.NUM_KEYPOINTS)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=_env_without_sources(prefix),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    package_file, keypoints = run.stdout.split()
    assert Path(package_file).is_relative_to(_site_packages(prefix))
    assert keypoints == "34"


def test_executables_launch_and_config_are_installed(prefix: Path, tmp_path: Path) -> None:
    lib = prefix / "lib" / PACKAGE
    share = prefix / "share" / PACKAGE
    for name in ("bodypose3d_node", "bodypose3d_infer"):
        assert os.access(lib / name, os.X_OK), f"{name} missing or not executable in {lib}"
    assert (share / "launch" / "bodypose3d.launch.py").is_file()
    assert (share / "config" / "bodypose3d.yaml").is_file()
    assert (share / "config" / "bodypose3d.rviz").is_file()
    # The installed node entry point runs and fails fast on a missing model, naming the fix.
    run = subprocess.run(
        [sys.executable, str(lib / "bodypose3d_node"), "--ros-args",
         "-p", "backend:=bodypose3dnet", "-p", f"model_path:={tmp_path / 'missing.onnx'}"],
        cwd=tmp_path, env=_env_without_sources(prefix), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 1
    assert "missing.onnx" in run.stderr
