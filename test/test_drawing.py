"""Overlay, 3D plot and contact sheet: checked on the pixels they produce."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from bodypose3d_ros.core import skeleton
from bodypose3d_ros.core.output.drawing import contact_sheet, draw_overlay, plot_3d
from bodypose3d_ros.core.types import Box, Person3D

REPO_ROOT = Path(__file__).resolve().parent.parent
K = skeleton.INDEX


def _bgr(side: str) -> np.ndarray:
    r, g, b = skeleton.SIDE_COLORS[side]
    return np.array([b, g, r]) * 255


def _person(uv: dict[str, tuple[float, float]], xyz: dict[str, tuple[float, float, float]],
            confidence: dict[str, float]) -> Person3D:  # fmt: skip
    """A person whose unlisted keypoints have confidence 0."""
    p_uv = np.zeros((34, 2))
    p_xyz = np.zeros((34, 3))
    conf = np.zeros(34)
    for name, value in uv.items():
        p_uv[K[name]] = value
    for name, value3 in xyz.items():
        p_xyz[K[name]] = value3
    for name, c in confidence.items():
        conf[K[name]] = c
    return Person3D(
        id="body_7", score=0.9, box=Box(40, 40, 400, 400), uv=p_uv, xyz=p_xyz, confidence=conf
    )


def _legs_person() -> Person3D:
    """A vertical left thigh at x=150 and a right thigh at x=300 whose knee is unsure."""
    return _person(
        uv={"left_hip": (150, 100), "left_knee": (150, 300),
            "right_hip": (300, 100), "right_knee": (300, 300)},
        xyz={},
        confidence={"left_hip": 0.9, "left_knee": 0.8, "right_hip": 0.9, "right_knee": 0.1},
    )  # fmt: skip


def test_overlay_draws_confident_bones_in_side_colours_on_a_copy() -> None:
    image = np.zeros((480, 480, 3), dtype=np.uint8)
    out = draw_overlay(image, [_legs_person()])
    assert out.shape == image.shape
    assert out.dtype == np.uint8
    assert not image.any(), "the input image must stay untouched"
    np.testing.assert_allclose(out[200, 150], _bgr("left"), atol=3)
    # Right knee below min_confidence: the right thigh is not drawn ...
    assert not out[200, 300].any()
    # ... until the threshold is lowered.
    lowered = draw_overlay(image, [_legs_person()], min_confidence=0.05)
    np.testing.assert_allclose(lowered[200, 300], _bgr("right"), atol=3)


def test_overlay_draws_detector_keypoint_people_in_grey() -> None:
    import dataclasses

    from bodypose3d_ros.core.output.drawing import DETECTOR_BGR

    image = np.zeros((480, 480, 3), dtype=np.uint8)
    person = dataclasses.replace(_legs_person(), keypoint_source="detector")
    out = draw_overlay(image, [person])
    np.testing.assert_allclose(out[200, 150], DETECTOR_BGR, atol=3)  # not the left side's colour
    assert np.abs(out[200, 150].astype(float) - _bgr("left")).max() > 30
    wide_tab = draw_overlay(image, [person])[20:40, 40:240]
    plain_tab = draw_overlay(image, [_legs_person()])[20:40, 40:240]
    assert (wide_tab == 255).sum() > (plain_tab == 255).sum()  # the label says "det"


def test_overlay_draws_the_roi_box_and_label() -> None:
    image = np.zeros((480, 480, 3), dtype=np.uint8)
    out = draw_overlay(image, [_legs_person()])
    # The box (40, 40, 400, 400): its bottom and right edges are white lines.
    assert np.all(out[440, 100:400] == 255)
    assert np.all(out[100:400, 440] == 255)
    # The label tab sits at the box's top-left corner, clear of the skeleton.
    tab = out[20:40, 40:120]
    assert (tab == 255).mean() > 0.3
    assert (tab == 0).any()
    assert not out[60:90, 200:400].any()  # nothing drawn where there is neither box nor bone


def test_overlay_accepts_grey_images_and_no_people() -> None:
    grey = np.full((100, 120), 50, dtype=np.uint8)
    out = draw_overlay(grey, [])
    assert out.shape == (100, 120, 3)
    assert np.all(out == 50)


def test_plot_3d_is_upright_and_written(tmp_path: Path) -> None:
    # Optical frame: y down. The right arm is high (y = -0.5), the left leg low (y = +0.5).
    person = _person(
        uv={},
        xyz={"right_shoulder": (0.2, -0.5, 3.0), "right_elbow": (0.4, -0.5, 3.0),
             "left_knee": (-0.2, 0.3, 3.0), "left_ankle": (-0.2, 0.7, 3.0)},
        confidence={"right_shoulder": 1, "right_elbow": 1, "left_knee": 1, "left_ankle": 1},
    )  # fmt: skip
    path = tmp_path / "plot.png"
    plot_3d([person], str(path), title="test")
    image = cv2.imread(str(path))
    assert image is not None
    assert image.shape[0] >= 300
    rows_right = np.nonzero(np.all(np.abs(image - _bgr("right")) < 40, axis=2))[0]
    rows_left = np.nonzero(np.all(np.abs(image - _bgr("left")) < 40, axis=2))[0]
    assert len(rows_right) > 20
    assert len(rows_left) > 20
    assert rows_right.mean() < rows_left.mean(), "the arm (y up) must be drawn above the leg"


def test_plot_3d_without_people_still_writes_a_picture(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    plot_3d([], str(path))
    assert cv2.imread(str(path)) is not None


def test_drawing_does_not_import_matplotlib_until_plotting() -> None:
    code = "import sys, bodypose3d_ros.core.output.drawing\nprint('matplotlib' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_contact_sheet_tiles_row_by_row() -> None:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    images = [np.full((10, 20, 3), c, dtype=np.uint8) for c in colours]
    sheet = contact_sheet(images, columns=2)
    assert sheet.shape == (20, 40, 3)
    np.testing.assert_array_equal(sheet[5, 10], colours[0])
    np.testing.assert_array_equal(sheet[5, 30], colours[1])
    np.testing.assert_array_equal(sheet[15, 10], colours[2])
    assert not sheet[10:, 20:].any(), "the empty last cell stays black"


def test_contact_sheet_scales_to_the_first_image_and_caps_columns() -> None:
    first = np.full((10, 20, 3), 200, dtype=np.uint8)
    big_grey = np.full((40, 80), 90, dtype=np.uint8)
    sheet = contact_sheet([first, big_grey], columns=5)
    assert sheet.shape == (10, 40, 3)
    assert np.all(sheet[:, 20:] == 90)
    with pytest.raises(ValueError, match="at least one"):
        contact_sheet([], columns=2)
    with pytest.raises(ValueError, match="columns"):
        contact_sheet([first], columns=0)
