"""Real rclpy + DDS fixtures: each test session gets its own ROS domain, kept on this machine."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# Own domain per test process, so parallel runs and other ROS users on the machine never interfere;
# discovery stays on the loopback interface.
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 200))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


@pytest.fixture
def ros_context() -> Iterator[Any]:
    """A fresh rclpy context (its own DDS participant), shut down after the test."""
    rclpy = pytest.importorskip("rclpy", reason="rclpy missing: run the tests via tools/with-env")
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.shutdown(context=context)


def spin_until(
    executor: Any, condition: Callable[[], bool], timeout_s: float, step_s: float = 0.05
) -> bool:
    """Spin ``executor`` until ``condition()`` holds or ``timeout_s`` passes; returns it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        executor.spin_once(timeout_sec=step_s)
    return condition()


def run_with_field_checks(script: str) -> None:
    """Run ``script`` with rclpy's message field type checks on; it must print "checked"."""
    env = dict(os.environ, ROS_PYTHON_CHECK_FIELDS="1")
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "checked" in result.stdout
