"""Shared pytest plugins: the test folder's helper modules are importable from every test."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "test"))

pytest_plugins = ["ros_fixtures"]
