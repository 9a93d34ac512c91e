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
PREFIX = REPO / ".build" / "install"


def _site_packages() -> Path:
    found = sorted(PREFIX.glob("lib/python3*/site-packages"))
    if not found:
        pytest.fail(
            f"no install at {PREFIX}: tools/setup-env builds it (run tests via tools/with-env)"
        )
    return found[0]


def _env_without_sources() -> dict[str, str]:
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p) != REPO]
    env["PYTHONPATH"] = os.pathsep.join([str(_site_packages()), *paths])
    return env


def test_package_and_messages_import_from_the_install_alone(tmp_path: Path) -> None:
    code = (
        "import bodypose3d_ros, bodypose3d_ros.node, bodypose3d_ros.infer;"
        "from bodypose3d_ros.msg import Pose3DArray, Pose3D;"
        "print(bodypose3d_ros.__file__); print(Pose3D.NUM_KEYPOINTS)"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env_without_sources(),
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    package_file, keypoints = run.stdout.split()
    assert Path(package_file).is_relative_to(_site_packages())
    assert keypoints == "34"


def test_executables_launch_and_config_are_installed(tmp_path: Path) -> None:
    lib = PREFIX / "lib" / "bodypose3d_ros"
    share = PREFIX / "share" / "bodypose3d_ros"
    for name in ("bodypose3d_node", "bodypose3d_infer"):
        assert os.access(lib / name, os.X_OK), f"{name} missing or not executable in {lib}"
    assert (share / "launch" / "bodypose3d.launch.py").is_file()
    assert (share / "config" / "bodypose3d.yaml").is_file()
    assert (share / "config" / "bodypose3d.rviz").is_file()
    # The installed node entry point runs and fails fast on a missing model, naming the fix.
    run = subprocess.run(
        [sys.executable, str(lib / "bodypose3d_node"), "--ros-args",
         "-p", "backend:=bodypose3dnet", "-p", f"model_path:={tmp_path / 'missing.onnx'}"],
        cwd=tmp_path, env=_env_without_sources(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 1
    assert "missing.onnx" in run.stderr
