"""The environment command is idempotent: a second run finds everything in place."""

from __future__ import annotations

import subprocess
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
    assert run.stdout.strip().endswith(".venv")
