"""The README's main job: the real node fed a real photo over DDS, end to end, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from bodypose3d_ros.core.result_json import validate_frame_json
from bodypose3d_ros.core.tracking import TrackerParams


def test_demo_runs_the_node_and_reports_what_came_back(
    tmp_path: Path, zidane_image_path: Path
) -> None:
    out = tmp_path / "demo"
    run = subprocess.run(
        [sys.executable, "-m", "bodypose3d_ros.demo", "--image", str(zidane_image_path),
         "--frames", "6", "--rate", "5", "--out", str(out)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_sent"] == 6
    assert summary["outputs_received"] == 6  # reliable QoS at 5 Hz: nothing may be lost
    # A person is published once found track_min_hits (3) times: from the third frame on.
    assert summary["frames_with_people"] >= 6 - (TrackerParams().min_hits - 1)
    assert summary["max_people_in_a_frame"] == 2  # everyone in view
    assert summary["confident_keypoints_per_output"] >= 12
    assert 0 < summary["latency_ms_p50"] <= summary["latency_ms_p95"]
    # Rates are measured from the run (stamps sent, arrivals), not echoed from the arguments.
    assert summary["input_rate_hz"] == pytest.approx(5.0, rel=0.2)
    assert summary["output_rate_hz"] > 0  # from arrival times (6 frames: too few to compare)
    assert "bodypose3d demo summary" in run.stdout
    records = [json.loads(line) for line in (out / "demo_log.jsonl").read_text().splitlines()]
    assert len(records) == 6
    assert [r["frame"] for r in records] == list(range(6))  # the index of the frame sent
    stamps = [r["stamp"] for r in records]
    assert summary["input_rate_hz"] == pytest.approx(5 / (stamps[-1] - stamps[0]), abs=0.01)
    for record in records:
        validate_frame_json(record)
        assert record["image"] == zidane_image_path.name
    assert max(len(r["people"]) for r in records) == 2
    overlay = cv2.imread(str(out / "demo_overlay.png"))
    photo = cv2.imread(str(zidane_image_path))
    assert overlay is not None
    assert overlay.shape == photo.shape
    assert (overlay != photo).any()  # the skeleton was drawn
    assert cv2.imread(str(out / "demo_3d.png")) is not None


def test_demo_streams_a_video(tmp_path: Path, person_image_path: Path) -> None:
    photo = cv2.imread(str(person_image_path))
    clip = tmp_path / "walk.mp4"
    height, width = photo.shape[:2]
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (width, height))
    assert writer.isOpened()
    for shift in range(0, 56, 8):  # the person drifts right by 8 px a frame
        writer.write(np.roll(photo, shift, axis=1))
    writer.release()
    out = tmp_path / "demo"
    run = subprocess.run(
        [sys.executable, "-m", "bodypose3d_ros.demo", "--video", str(clip), "--rate", "5",
         "--out", str(out)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_sent"] == 7  # the video alone: no photo frames without --image
    assert summary["outputs_received"] == 7
    records = [json.loads(line) for line in (out / "demo_log.jsonl").read_text().splitlines()]
    assert {r["image"] for r in records} == {"walk.mp4"}
    pelvis_u = [r["people"][0]["keypoints"][0]["u"] for r in records if r["people"]]
    assert len(pelvis_u) >= 7 - (TrackerParams().min_hits - 1)
    assert pelvis_u[-1] > pelvis_u[0] + 15  # the skeleton follows the person across the frames
