"""Depth images whose values cannot be depth in their unit get a one-line note naming the cause."""

from __future__ import annotations

import numpy as np
import pytest
from test_depth_fusion import HEIGHT, WIDTH, K

from bodypose3d_ros.core.depth.depth_image import (
    NOTE_NO_VALID_PIXEL,
    NOTE_TOO_LARGE,
    NOTE_TOO_SMALL,
    depth_from_array,
    values_note,
)
from bodypose3d_ros.testing.depth_scene import (
    place,
    render_body_depth,
    standing_skeleton,
    to_16uc1,
)


def _scene_m() -> np.ndarray:
    truth = place(standing_skeleton(1.0), (0.0, 0.0, 2.5))
    return render_body_depth(truth, 1.0, K, (WIDTH, HEIGHT))


@pytest.mark.parametrize(
    ("case", "key", "words"),
    [
        ("all zero", NOTE_NO_VALID_PIXEL, "0 or NaN"),
        ("16UC1 in metres", NOTE_TOO_SMALL, "metres stored as 16UC1"),
        ("2 mm values", NOTE_TOO_SMALL, "metres stored as 16UC1"),
        ("32FC1 in millimetres", NOTE_TOO_LARGE, "millimetres stored as 32FC1"),
    ],
)
def test_a_unit_mix_up_is_named(case: str, key: str, words: str) -> None:
    metres = _scene_m()
    if case == "all zero":
        depth = depth_from_array(np.zeros((HEIGHT, WIDTH), np.uint16), "16UC1")
    elif case == "16UC1 in metres":  # what a driver writing metres into uint16 gives
        depth = depth_from_array(np.round(metres).astype(np.uint16), "16UC1")
    elif case == "2 mm values":
        depth = depth_from_array(np.full((HEIGHT, WIDTH), 2, np.uint16), "16UC1")
    else:
        depth = depth_from_array((metres * 1000.0).astype(np.float32), "32FC1")
    note = values_note(depth)
    assert note is not None
    assert note[0] == key
    assert words in note[1]
    assert "\n" not in note[1]


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_a_real_scene_gets_no_note(encoding: str) -> None:
    metres = _scene_m()
    values = to_16uc1(metres) if encoding == "16UC1" else metres
    assert values_note(depth_from_array(values, encoding)) is None
