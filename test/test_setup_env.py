"""The environment command is idempotent: a second run finds everything in place."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_a_second_setup_run_reuses_everything() -> None:
    # The test suite itself runs inside the environment, so it has been set up already.
    run = subprocess.run(
        [str(REPO / "tools" / "setup-env")], capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-2000:]
    log = run.stderr
    assert "venv up to date" in log
    assert "messages up to date" in log
    assert "creating" not in log
    assert "building" not in log
    assert "unpacking" not in log
    assert log.rstrip().endswith("ready")


def test_with_env_runs_a_command_inside_the_environment() -> None:
    code = "import rclpy, bodypose3d_ros.msg, sys; print(sys.prefix)"
    run = subprocess.run(
        [str(REPO / "tools" / "with-env"), "python", "-c", code],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    # The environment these tests run in (.venv, or BODYPOSE3D_VENV's: one per Python on CI).
    assert Path(run.stdout.strip()) == Path(sys.prefix)


def _setup_env(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / "tools" / "setup-env")], env=dict(os.environ, **env),
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_an_unsupported_python_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    fake = tmp_path / "python3.9"
    fake.write_text("#!/bin/sh\n[ \"$1\" = --version ] && echo 'Python 3.9.18' && exit 0\nexit 1\n")
    fake.chmod(0o755)
    venv = tmp_path / "venv"
    run = _setup_env(tmp_path, BODYPOSE3D_PYTHON=str(fake), BODYPOSE3D_VENV=str(venv))
    assert run.returncode == 1
    assert f"BODYPOSE3D_PYTHON={fake} is not a Python 3.10-3.12" in run.stderr
    assert "Python 3.9.18" in run.stderr
    assert not venv.exists()  # refused before anything was made


def test_the_same_python_given_explicitly_keeps_the_environment(tmp_path: Path) -> None:
    # sys.prefix is the venv the tests run in, made by setup-env with a Python of this version.
    run = _setup_env(tmp_path, BODYPOSE3D_PYTHON=sys.executable, BODYPOSE3D_VENV=sys.prefix)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "venv up to date" in run.stderr
    assert "making it anew" not in run.stderr
