"""Smoke test of the benchmark: ``python -m bench.run --quick`` runs every part end to end.

It checks that the results file has every key a reader relies on, that the numbers are finite and
positive and that the counters are consistent with each other. It never asserts a timing: those
depend on the machine (the targets are the benchmark's business, reported as PASS/MISS).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
POSITIVE_KEYS = (
    "overhead_ms_640x480",
    "overhead_ms_1280x720",
    "model_ms",
    "e2e_rate_ratio",
    "e2e_camera_rate_ratio",
    "latency_p50_ms",
    "latency_p99_ms",
    "per_person_ms_batch1",
    "per_person_ms_batch8",
)
MACHINE_KEYS = ("cpu_model", "logical_cores", "python", "onnxruntime")

# Frames the node can hold between arrival and being processed or dropped: slot + worker.
IN_FLIGHT = 2


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


@pytest.mark.slow
def test_quick_bench_writes_complete_consistent_results(
    tmp_path: Path, person_image_path: Path
) -> None:
    for module in ("rclpy", "mediapipe", "psutil"):
        pytest.importorskip(module, reason=f"{module} missing: run the tests via tools/with-env")
    env = dict(os.environ, BODYPOSE3D_TEST_IMAGE=str(person_image_path))
    run = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--out", str(tmp_path)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())

    bad = {key: results.get(key) for key in POSITIVE_KEYS if not _positive(results.get(key))}
    assert not bad, f"missing or not finite and positive: {bad}"
    metric_3d = results["metric_3d"]
    assert _positive(metric_3d["pipeline_us_with_bone_correction"])
    assert _positive(metric_3d["pipeline_us_without_bone_correction"])
    assert math.isfinite(metric_3d["bone_correction_us_per_person"])
    assert isinstance(results["frames_dropped"], int)
    assert results["frames_dropped"] >= 0
    assert math.isfinite(results["rss_growth_mb"])
    assert all(results["machine"].get(key) for key in MACHINE_KEYS), results["machine"]
    assert results["command"] == f"python -m bench.run --quick --out {tmp_path}"

    # Counters agree with each other: nothing is processed that did not arrive, and every output
    # answers a frame that was sent. The counters are differences of two diagnostics snapshots;
    # at the first one up to IN_FLIGHT frames had arrived without being processed or dropped yet
    # (one parked in the newest-frame slot, one in the worker), and they are counted in the window.
    e2e = results["e2e"]
    assert 0 < e2e["outputs_received"] <= e2e["frames_sent"]
    assert (
        e2e["frames_processed"] + e2e["frames_dropped"]
        <= e2e["frames_received_by_node"] + IN_FLIGHT
    )
    assert e2e["frames_received_by_node"] <= e2e["frames_sent"]
    assert e2e["outputs_with_a_person"] > 0, "the node never found the person in the photo"

    # Depth fusion's extra cost per person, measured beside the pipeline without it.
    fusion = results["metric_3d"]["depth_fusion"]
    assert _positive(results["metric_3d"]["depth_fusion_us_per_person"])
    assert fusion["8_people"]["people_anchored_per_frame"] == 8.0
    # The batching part says that its network is a test fixture, not a pose model.
    assert "TEST FIXTURE" in results["batching"]["network"]
    # The metric-3D part reports undistortion's cost beside the plain lift, in the same run.
    lift_us = results["metric_3d"]["lift_us_per_person_by_distortion"]
    assert all(_positive(lift_us[name]) for name in ("none", "plumb_bob", "equidistant"))
    assert math.isfinite(results["metric_3d"]["undistortion_us_per_person"])
    # Every target is reported, in the file and in the printed table.
    saturated = results["e2e_saturated"]
    assert saturated["publish_rate_hz"] > e2e["publish_rate_hz"]
    assert (
        saturated["frames_processed"] + saturated["frames_dropped"]
        <= saturated["frames_received_by_node"] + IN_FLIGHT
    )
    # Everyone in view: a frame with 1, 2, 4 and 8 people for both models, and the detector.
    multi = results["multi_person"]
    for name in ("blazepose", "bodypose3dnet_fixture"):
        frame_ms = multi["frame_ms"][name]
        assert set(frame_ms) == {"1", "2", "4", "8"}
        assert all(_positive(frame_ms[n]) for n in frame_ms)
    assert _positive(multi["detector_ms"])
    assert math.isfinite(multi["overhead_ms_per_extra_person"])
    assert results["overhead_ms_per_extra_person"] == multi["overhead_ms_per_extra_person"]
    # Crowds beyond one detector call: 8 / 12 / 24 / 30 people beside one plain pass.
    crowd = results["crowd"]
    assert set(crowd["detector_ms"]) == {"8", "12", "24", "30"}
    assert all(_positive(ms) for ms in crowd["detector_ms"].values())
    assert _positive(crowd["plain_pass_ms"])
    assert all(calls > 1 for calls in crowd["network_calls"].values()), "more than 6: a search"
    assert results["crowd_detector_30_to_plain_pass"] == crowd["detector_to_plain_pass"]["30"]
    # ... and whole frames with the default max_pose_people: time and the people published.
    assert set(crowd["frame_ms"]) == set(crowd["published"]) == {"8", "12", "24", "30"}
    assert all(_positive(ms) for ms in crowd["frame_ms"].values())
    assert all(crowd["published_once"][n] <= crowd["published"][n] for n in crowd["published"])
    assert all(crowd["published"][n] > 0 for n in crowd["published"])
    assert results["crowd_frame_30_to_8"] == crowd["frame_to_8"]["30"]
    assert len(results["targets"]) == 16
    assert all(isinstance(target["passed"], bool) for target in results["targets"])
    lines = run.stdout.splitlines()
    verdicts = [line for line in lines if line.strip().startswith(("PASS", "MISS"))]
    assert len(verdicts) == len(results["targets"])
