"""The offline CLI, run for real in a subprocess on the person photo and a short video of it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from bodypose3d_ros.core import skeleton
from bodypose3d_ros.core.lift.bone_lengths import (
    CORRECTED_BONES,
    MAIN_BONES,
    TABLE_LENGTHS_M,
    bone_lengths,
    person_scale,
)
from bodypose3d_ros.core.output.result_json import validate_frame_json
from bodypose3d_ros.core.people.tracking import TrackerParams

REPO_ROOT = Path(__file__).resolve().parent.parent
PELVIS = skeleton.INDEX["pelvis"]
VIDEO_FRAMES = 6
VIDEO_FPS = 10.0
SHIFT_PX = 8  # the person moves this far right in every video frame
# Twice the default focal length (0.6256 * 640 px wide): distances should double.
FX_DOUBLE = 2 * 0.6256 * 640


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    out: Path


def _run_cli(out: Path, *args: str) -> Run:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bodypose3d_ros.infer", "--out", str(out), *args],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    return Run(done.returncode, done.stdout, done.stderr, out)


def _write_video(photo: np.ndarray, folder: Path) -> Path:
    """The photo shifted right a little more in every frame."""
    h, w = photo.shape[:2]
    for name, fourcc in (("walk.mp4", "mp4v"), ("walk.avi", "MJPG")):
        path = folder / name
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), VIDEO_FPS, (w, h))
        if writer.isOpened():
            for i in range(VIDEO_FRAMES):
                writer.write(np.roll(photo, SHIFT_PX * i, axis=1))
            writer.release()
            return path
    pytest.skip("this OpenCV build can write neither mp4v nor MJPG video")


@pytest.fixture(scope="module")
def inputs(person_image_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    photo = cv2.imread(str(person_image_path))
    assert photo is not None
    image = folder / "person.jpg"
    cv2.imwrite(str(image), photo)
    broken = folder / "notes.jpg"
    broken.write_text("not a picture\n")
    return {"image": image, "video": _write_video(photo, folder), "broken": broken}


@pytest.fixture(scope="module")
def default_run(inputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Photo and video with default intrinsics and smoothing."""
    return _run_cli(tmp_path_factory.mktemp("default"), str(inputs["image"]), str(inputs["video"]))


@pytest.fixture(scope="module")
def argument_run(inputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A broken file among good ones, given intrinsics, no smoothing, no bone correction."""
    return _run_cli(
        tmp_path_factory.mktemp("arguments"),
        "--no-smoothing", "--no-bone-correction", "--fx", str(FX_DOUBLE), "--fy", str(FX_DOUBLE),
        "--cx", "320", "--cy", "212",
        str(inputs["broken"]), str(inputs["image"]), str(inputs["video"]),
    )  # fmt: skip


def _load(path: Path) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(path.read_text())
    return record


def _frames(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_image_gives_valid_json_and_pictures(default_run: Run, inputs: dict[str, Path]) -> None:
    assert default_run.returncode == 0, default_run.stderr
    out = default_run.out
    record = _load(out / "person.json")
    validate_frame_json(record)
    assert (record["image"], record["width"], record["height"]) == ("person.jpg", 640, 424)
    assert record["backend"] == "blazepose"
    assert record["intrinsics"]["source"] == "default"
    assert "default intrinsics" in default_run.stderr
    (person,) = record["people"]
    assert 1.5 <= person["keypoints"][PELVIS]["z"] <= 15.0
    for name in ("person_overlay.png", "person_3d.png"):
        picture = cv2.imread(str(out / name))
        assert picture is not None, name
    overlay = cv2.imread(str(out / "person_overlay.png"))
    original = cv2.imread(str(inputs["image"]))
    assert overlay is not None
    assert original is not None
    assert overlay.shape == original.shape == (424, 640, 3)
    changed = np.any(np.abs(overlay.astype(int) - original) > 60, axis=2)
    assert changed.any(), "the skeleton is drawn"
    assert not changed[:, 400:].any(), "and only around the person, not on the horse"


def test_video_gives_one_valid_record_per_frame(default_run: Run, inputs: dict[str, Path]) -> None:
    assert default_run.returncode == 0, default_run.stderr
    stem = inputs["video"].stem
    frames = _frames(default_run.out / f"{stem}.jsonl")
    assert len(frames) == VIDEO_FRAMES
    for i, record in enumerate(frames):
        validate_frame_json(record)
        assert record["frame"] == i
        assert record["stamp"] == pytest.approx(i / VIDEO_FPS)
        # A person in a video is reported once found min_hits times (no one-frame ghosts).
        assert len(record["people"]) == (1 if i >= TrackerParams().min_hits - 1 else 0)
    ids = {person["id"] for record in frames for person in record["people"]}
    assert len(ids) == 1, "one person, one id across the video"
    overlay = cv2.VideoCapture(str(default_run.out / f"{stem}_overlay.mp4"))
    count = 0
    while True:
        ok, frame = overlay.read()
        if not ok:
            break
        assert frame.shape == (424, 640, 3)
        count += 1
    overlay.release()
    assert count == VIDEO_FRAMES
    sheet = cv2.imread(str(default_run.out / f"{stem}_sheet.png"))
    assert sheet is not None
    assert sheet.shape[0] >= 212


def test_one_summary_line_per_input(default_run: Run, inputs: dict[str, Path]) -> None:
    lines = default_run.stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("person.jpg: 1 person")
    assert lines[1].startswith(f"{inputs['video'].name}: {VIDEO_FRAMES} frames")


def test_broken_input_is_reported_and_the_rest_still_runs(
    argument_run: Run, inputs: dict[str, Path]
) -> None:
    assert argument_run.returncode == 1
    assert f"error: {inputs['broken']}: cannot read it as an image or a video" in (
        argument_run.stderr
    )
    assert "Traceback" not in argument_run.stderr
    assert (argument_run.out / "person.json").is_file()
    assert not (argument_run.out / "notes.json").exists()


def test_given_intrinsics_are_used(argument_run: Run, default_run: Run) -> None:
    given = _load(argument_run.out / "person.json")
    validate_frame_json(given)
    assert given["intrinsics"] == {
        "fx": pytest.approx(FX_DOUBLE), "fy": pytest.approx(FX_DOUBLE), "cx": 320.0,
        "cy": 212.0, "source": "arguments",
    }  # fmt: skip
    assert "default intrinsics" not in argument_run.stderr
    default = _load(default_run.out / "person.json")
    z_given = given["people"][0]["keypoints"][PELVIS]["z"]
    z_default = default["people"][0]["keypoints"][PELVIS]["z"]
    assert z_given / z_default == pytest.approx(2.0, rel=0.1), "depth scales with the focal length"


def test_bone_correction_is_on_by_default_and_can_be_turned_off(
    argument_run: Run, default_run: Run
) -> None:
    def worst_main_bone(run: Run) -> float:
        (person,) = _load(run.out / "person.json")["people"]
        xyz = np.array([[k["x"], k["y"], k["z"]] for k in person["keypoints"]])
        conf = np.array([k["confidence"] for k in person["keypoints"]])
        rows = [CORRECTED_BONES.index(b) for b in MAIN_BONES]
        seen = [conf[p] >= 0.5 and conf[c] >= 0.5 for p, c in MAIN_BONES]
        ratio = bone_lengths(xyz, MAIN_BONES) / (person_scale(xyz, conf) * TABLE_LENGTHS_M[rows])
        return float(np.max(np.maximum(ratio, 1.0 / ratio)[seen]))

    # One photo: the estimate is the table, nudged by what this one view shows side-on.
    assert worst_main_bone(default_run) < 1.2 < worst_main_bone(argument_run)


def test_unsmoothed_video_follows_the_motion(argument_run: Run, inputs: dict[str, Path]) -> None:
    frames = _frames(argument_run.out / f"{inputs['video'].stem}.jsonl")
    assert len(frames) == VIDEO_FRAMES
    u = np.array([f["people"][0]["keypoints"][PELVIS]["u"] for f in frames if f["people"]])
    assert len(u) >= VIDEO_FRAMES - (TrackerParams().min_hits - 1)
    np.testing.assert_allclose(np.diff(u), SHIFT_PX, atol=3)


def test_partial_intrinsics_are_a_usage_error(tmp_path: Path, inputs: dict[str, Path]) -> None:
    run = _run_cli(tmp_path, "--fx", "500", str(inputs["image"]))
    assert run.returncode == 2
    assert "--fx --fy --cx --cy" in run.stderr
    assert not list(tmp_path.iterdir())


def test_model_load_failure_is_one_clear_line(tmp_path: Path, inputs: dict[str, Path]) -> None:
    run = _run_cli(tmp_path, "--backend", "bodypose3dnet", str(inputs["image"]))
    assert run.returncode == 1
    assert "error: cannot load the bodypose3dnet model" in run.stderr
    assert "model_path" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_detector_model_path_that_is_a_device_fails_naming_it(
    tmp_path: Path, inputs: dict[str, Path]
) -> None:
    run = _run_cli(
        tmp_path,
        "--detector",
        "movenet",
        "--detector-model-path",
        "/dev/zero",
        str(inputs["image"]),
    )
    assert run.returncode == 1, run.stderr
    assert "/dev/zero is not a regular file" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_video_with_damaged_frames_goes_on_and_says_how_many_were_lost(
    tmp_path: Path, person_image_path: Path, zidane_image_path: Path
) -> None:
    """An MJPG AVI written from the real photos; four frames' JPEG headers are then zeroed (the
    first, two in the middle, the last). Every readable frame is processed, with its own index."""
    person = cv2.imread(str(person_image_path))
    zidane = cv2.imread(str(zidane_image_path))
    assert person is not None
    assert zidane is not None
    h, w = person.shape[:2]
    photos = [np.roll(person, SHIFT_PX * i, axis=1) for i in range(6)]
    photos += [cv2.resize(zidane, (w, h)) for _ in range(6)]
    path = tmp_path / "damaged.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), VIDEO_FPS, (w, h))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write MJPG video")
    for photo in photos:
        writer.write(photo)
    writer.release()
    data = bytearray(path.read_bytes())
    starts = [m.start() for m in re.finditer(b"\xff\xd8\xff", bytes(data))]  # JPEG SOI markers
    assert len(starts) == len(photos)
    damaged = {0, 4, 5, len(photos) - 1}
    for frame in damaged:
        data[starts[frame] : starts[frame] + 600] = bytes(600)
    path.write_bytes(bytes(data))
    run = _run_cli(tmp_path / "out", "--fx", "500", "--fy", "500", "--cx", "320", "--cy", "212",
                   str(path))  # fmt: skip
    assert run.returncode == 0, run.stderr
    records = _frames(tmp_path / "out" / "damaged.jsonl")
    read = [i for i in range(len(photos)) if i not in damaged]
    assert [r["frame"] for r in records] == read  # frames keep their place in the file
    for record in records:
        assert record["stamp"] == pytest.approx(record["frame"] / VIDEO_FPS)
    assert any(len(r["people"]) >= 2 for r in records if r["frame"] >= 6)  # the zidane frames
    assert f"note: damaged.avi: 4 unreadable frame(s) skipped (8 of {len(photos)} read)" in (
        run.stderr
    )
    assert "8 frames (4 unreadable, skipped)" in run.stdout


SLOW_FRAMES = 8


@pytest.fixture(scope="module")
def slow_run(person_image_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Two videos of the person at 0.5 and 0.2 fps (a throttled camera, a time-lapse)."""
    folder = tmp_path_factory.mktemp("slow")
    photo = cv2.imread(str(person_image_path))
    assert photo is not None
    h, w = photo.shape[:2]
    paths = []
    for fps in (0.5, 0.2):
        path = folder / f"slow_{fps:g}.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (w, h))
        if not writer.isOpened():
            pytest.skip("this OpenCV build cannot write MJPG video")
        for i in range(SLOW_FRAMES):
            writer.write(np.roll(photo, SHIFT_PX * i, axis=1))
        writer.release()
        paths.append(str(path))
    return _run_cli(tmp_path_factory.mktemp("slow_out"), *paths)


@pytest.mark.parametrize("fps", [0.5, 0.2])
def test_a_video_frames_seconds_apart_reports_the_person_from_the_third_frame(
    slow_run: Run, fps: float
) -> None:
    assert slow_run.returncode == 0, slow_run.stderr
    frames = _frames(slow_run.out / f"slow_{fps:g}.jsonl")
    assert [record["stamp"] for record in frames] == pytest.approx(
        [i / fps for i in range(SLOW_FRAMES)]
    )
    counts = [len(record["people"]) for record in frames]
    min_hits = TrackerParams().min_hits
    assert counts == [0] * (min_hits - 1) + [1] * (SLOW_FRAMES - min_hits + 1)
    assert len({person["id"] for record in frames for person in record["people"]}) == 1


def test_tracking_flags_are_checked(tmp_path: Path, inputs: dict[str, Path]) -> None:
    for flags in (["--track-max-missed-frames", "0"], ["--track-max-age-s", "nan"]):
        run = _run_cli(tmp_path, *flags, str(inputs["image"]))
        assert run.returncode == 2
        assert flags[0] in run.stderr
