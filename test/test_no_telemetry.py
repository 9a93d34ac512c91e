"""ONNX Runtime's telemetry is off before onnxruntime loads, wherever the project runs it.

Each check runs in a fresh interpreter whose environment lacks ORT_DISABLE_TELEMETRY: an import
hook records the variable at the moment ``onnxruntime`` is first imported. (The strace test,
test_no_phoning_home, shows what the variable prevents: DNS queries for a telemetry host.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bodypose3d_ros.no_telemetry import TELEMETRY_OPT_OUTS

REPO_ROOT = Path(__file__).resolve().parent.parent
VARIABLE = "ORT_DISABLE_TELEMETRY"

# Records the variable when onnxruntime is first imported, imports the entry point, then imports
# onnxruntime itself (as the entry point would later, lazily) and prints what was seen.
_WATCH = """
import json, os, sys

seen = []

class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "onnxruntime" and not seen:
            seen.append(os.environ.get({variable!r}))
        return None

sys.meta_path.insert(0, Watch())
import {module}
import onnxruntime
print(json.dumps(seen))
"""


def _value_at_onnxruntime_import(module: str, env_value: str | None) -> str | None:
    env = {k: v for k, v in os.environ.items() if k != VARIABLE}
    if env_value is not None:
        env[VARIABLE] = env_value
    code = _WATCH.format(variable=VARIABLE, module=module)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen: list[str | None] = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(seen) == 1
    return seen[0]


def test_the_opt_out_is_onnx_runtimes_variable() -> None:
    assert TELEMETRY_OPT_OUTS == {VARIABLE: "1"}


@pytest.mark.parametrize(
    "module",
    [
        "bodypose3d_ros.core.engines.onnxruntime_engine",  # the engine (node and CLI load it)
        "bodypose3d_ros.infer",  # the CLI
        "bodypose3d_ros.node",
        "bodypose3d_ros.triton_repository",  # its model checks run ONNX Runtime
        "bench.common",  # every benchmark
    ],
)
def test_telemetry_is_off_before_onnxruntime_loads(module: str) -> None:
    assert _value_at_onnxruntime_import(module, None) == "1"


@pytest.mark.parametrize(("users", "expected"), [("0", "0"), ("1", "1"), ("", "1")])
def test_a_value_the_user_set_is_kept(users: str, expected: str) -> None:
    """An explicit choice (even "0", telemetry on) stays; an empty value counts as unset."""
    module = "bodypose3d_ros.core.engines.onnxruntime_engine"
    assert _value_at_onnxruntime_import(module, users) == expected


def test_the_triton_test_server_script_turns_it_off_itself() -> None:
    """pytriton_serve.py runs by path in another environment, importing nothing of the package."""
    script = REPO_ROOT / "bodypose3d_ros" / "testing" / "pytriton_serve.py"
    code = (
        "import os, runpy, sys\n"
        f"runpy.run_path({str(script)!r}, run_name='loaded')\n"
        f"print(os.environ.get({VARIABLE!r}))\n"
        "assert 'onnxruntime' not in sys.modules\n"
    )
    env = {k: v for k, v in os.environ.items() if k != VARIABLE}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "1"


def test_every_onnxruntime_import_outside_the_package_is_covered() -> None:
    """A new script importing onnxruntime without the package first would phone home."""
    uncovered = []
    for path in sorted(REPO_ROOT.glob("**/*.py")):
        relative = path.relative_to(REPO_ROOT)
        if relative.parts[0].startswith("."):
            continue
        if relative.parts[0] == "bodypose3d_ros" and relative.parts[1] != "testing":
            continue  # importing anything of the package runs its __init__ first
        text = path.read_text(errors="replace")
        if "import onnxruntime" not in text:
            continue
        covered = VARIABLE in text or any(
            line.startswith(("from bodypose3d_ros", "import bodypose3d_ros"))
            for line in text.splitlines()
        )
        if relative.parts[0] == "test":  # conftest.py imports the package before any test
            covered = True
        if not covered:
            uncovered.append(str(relative))
    assert not uncovered
    conftest = (REPO_ROOT / "test" / "conftest.py").read_text()
    assert "\nimport bodypose3d_ros  # noqa" in conftest
