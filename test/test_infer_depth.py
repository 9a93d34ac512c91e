"""The offline CLI with ``--depth``: a 16-bit millimetre PNG anchors the person at its distance.

Run for real in a subprocess on the person photo. The depth PNG is synthetic: the surface of a
child 0.6x the table adult's size, rendered around the skeleton the CLI lifted from the photo
and scaled to the child's true distance (the same pixels, 0.6x as far as the lift says).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from bodypose3d_ros.core import skeleton
from bodypose3d_ros.core.camera.intrinsics import Intrinsics
from bodypose3d_ros.core.output.result_json import validate_frame_json
from bodypose3d_ros.testing.depth_scene import render_body_depth, to_16uc1

REPO_ROOT = Path(__file__).resolve().parent.parent
PELVIS = skeleton.INDEX["pelvis"]
FX, CX, CY = 700.0, 320.0, 212.0
CHILD = 0.6


def _cli(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "bodypose3d_ros.infer", "--out", str(out),
         "--fx", str(FX), "--fy", str(FX), "--cx", str(CX), "--cy", str(CY), *args],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip


def _person(out: Path, stem: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((out / f"{stem}.json").read_text())
    validate_frame_json(record)
    (person,) = record["people"]
    return dict(person)


def _xyz(person: dict[str, Any]) -> np.ndarray:
    return np.array([(k["x"], k["y"], k["z"]) for k in person["keypoints"]])


def test_depth_png_anchors_the_person_at_the_measured_distance(
    person_image_path: Path, tmp_path: Path
) -> None:
    photo = tmp_path / "person.jpg"
    image = cv2.imread(str(person_image_path))
    assert image is not None
    cv2.imwrite(str(photo), image)
    height, width = image.shape[:2]
    plain = _cli(tmp_path / "plain", str(photo))
    assert plain.returncode == 0, plain.stderr
    lifted = _person(tmp_path / "plain", "person")
    assert lifted["root_depth_source"] == "limb_lengths"
    truth = _xyz(lifted) * CHILD
    depth = render_body_depth(
        truth, CHILD, Intrinsics(FX, FX, CX, CY, "arguments"), (width, height),
        rng=np.random.default_rng(7),
    )  # fmt: skip
    depth_png = tmp_path / "person_depth.png"
    assert cv2.imwrite(str(depth_png), to_16uc1(depth))
    fused_run = _cli(tmp_path / "fused", "--depth", str(depth_png), str(photo))
    assert fused_run.returncode == 0, fused_run.stderr
    assert "anchored by the depth image" in fused_run.stdout
    fused = _person(tmp_path / "fused", "person")
    assert fused["root_depth_source"] == "depth"
    true_z = truth[PELVIS, 2]
    assert _xyz(lifted)[PELVIS, 2] / true_z == pytest.approx(1 / CHILD, rel=1e-3)
    assert abs(_xyz(fused)[PELVIS, 2] - true_z) <= 0.05


def test_depth_that_does_not_fit_the_image_is_refused(
    person_image_path: Path, tmp_path: Path
) -> None:
    wrong = tmp_path / "square.png"
    assert cv2.imwrite(str(wrong), np.full((100, 100), 2000, np.uint16))
    run = _cli(tmp_path / "out", "--depth", str(wrong), str(person_image_path))
    assert run.returncode == 1
    assert "not registered" in run.stderr
    colour = tmp_path / "colour.png"
    assert cv2.imwrite(str(colour), np.zeros((424, 640, 3), np.uint8))
    run = _cli(tmp_path / "out", "--depth", str(colour), str(person_image_path))
    assert run.returncode == 1
    assert "16-bit" in run.stderr
    run = _cli(tmp_path / "out", "--depth", str(wrong), str(person_image_path), str(wrong))
    assert run.returncode == 2
    assert "exactly one input image" in run.stderr


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("all zero", "every depth pixel is 0"),
        ("2 mm", "metres stored as 16UC1"),
        ("16UC1 in metres", "metres stored as 16UC1"),
        ("32FC1 in millimetres", "millimetres stored as 32FC1"),
        ("3x2", "too coarse"),
    ],
)
def test_depth_that_anchors_nobody_says_why(
    person_image_path: Path, tmp_path: Path, case: str, words: str
) -> None:
    """Each unusable depth file still gives the limb-length result, and one note naming why."""
    image = cv2.imread(str(person_image_path))
    assert image is not None
    height, width = image.shape[:2]
    metres = np.tile(np.linspace(1.2, 4.0, width, dtype=np.float32), (height, 1))  # a floor
    depth_file = tmp_path / "depth.png"
    if case == "all zero":
        values: np.ndarray = np.zeros((height, width), np.uint16)
    elif case == "2 mm":
        values = np.full((height, width), 2, np.uint16)
    elif case == "16UC1 in metres":
        values = np.round(metres).astype(np.uint16)
    elif case == "32FC1 in millimetres":
        values, depth_file = metres * 1000.0, tmp_path / "depth.tiff"
    else:  # the colour image's aspect ratio (640x424: 1.51) in a handful of pixels
        values = np.full((2, 3), 2500, np.uint16)
    assert cv2.imwrite(str(depth_file), values)
    run = _cli(tmp_path / "out", "--depth", str(depth_file), str(person_image_path))
    assert run.returncode == 0, run.stderr
    notes = [
        line for line in run.stderr.splitlines() if line.startswith("note:") and "depth" in line
    ]
    assert len(notes) == 1, run.stderr
    assert words in notes[0]
    assert _person(tmp_path / "out", person_image_path.stem)["root_depth_source"] == "limb_lengths"
