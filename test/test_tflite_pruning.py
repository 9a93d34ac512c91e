"""Cutting the unused segmentation mask out of BlazePose's landmark network: the outputs we read
stay bit-identical on real photos, the cut graph is smaller, and bad input fails with a clear
error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from bodypose3d_ros.core.engines.base import ModelLoadError
from bodypose3d_ros.core.image.color import to_rgb
from bodypose3d_ros.core.models.blazepose_file import landmark_model_path
from bodypose3d_ros.core.models.blazepose_network import LandmarkNetwork, cut_roi
from bodypose3d_ros.core.models.blazepose_roi import roi_from_box
from bodypose3d_ros.core.models.tflite_pruning import drop_outputs
from bodypose3d_ros.core.types import Box

SEGMENTATION = (1, 256, 256, 1)
DATA = Path(__file__).resolve().parent.parent / ".cache" / "data"


def _graph(content: bytes) -> tuple[int, list[tuple[int, ...]]]:
    """(operator count, output shapes) of a TFLite network, as the runtime loads it."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content)
    shapes = [tuple(int(d) for d in o["shape"]) for o in interpreter.get_output_details()]
    return len(interpreter._get_ops_details()), shapes


def test_the_mask_and_only_its_operators_leave_the_graph() -> None:
    full = landmark_model_path().read_bytes()
    ops_full, outputs_full = _graph(full)
    ops_cut, outputs_cut = _graph(drop_outputs(full, [SEGMENTATION]))
    assert SEGMENTATION in outputs_full
    assert outputs_cut == [s for s in outputs_full if s != SEGMENTATION]
    assert ops_cut < ops_full, "the mask's decoder is gone"
    # Dropping nothing keeps every operator: only operators no kept output needs are removed.
    assert _graph(drop_outputs(full, []))[0] == ops_full


@pytest.fixture(scope="module")
def networks() -> Iterator[tuple[LandmarkNetwork, LandmarkNetwork]]:
    path = landmark_model_path()
    full, cut = LandmarkNetwork(path, segmentation=True), LandmarkNetwork(path)
    yield full, cut
    full.close()
    cut.close()


@pytest.mark.parametrize(
    ("photo", "box"),
    [
        ("person.jpg", (185, 95, 95, 285)),
        ("zidane.jpg", (750, 40, 400, 680)),
        ("bus.jpg", (50, 230, 200, 680)),
    ],
)
def test_the_outputs_we_read_are_bit_identical(
    photo: str,
    box: tuple[float, float, float, float],
    networks: tuple[LandmarkNetwork, LandmarkNetwork],
) -> None:
    image = cv2.imread(str(DATA / photo))
    assert image is not None, photo
    roi = roi_from_box(Box(*box))
    assert roi is not None
    crop = to_rgb(cut_roi(image, roi))
    full, cut = networks
    (a,), (b,) = full.run([crop]), cut.run([crop])
    assert a.has_pose, "a real person, so the comparison covers a real pose"
    for field in ("xy", "visibility", "presence", "world"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    assert a.pose_flag == b.pose_flag


def test_bad_networks_fail_with_a_clear_error(tmp_path: Path) -> None:
    full = landmark_model_path().read_bytes()
    with pytest.raises(ModelLoadError, match="not a TFLite network"):
        drop_outputs(b"\x00" * 64, [SEGMENTATION])
    with pytest.raises(ModelLoadError, match="not a TFLite network"):
        drop_outputs(full[: len(full) // 3], [SEGMENTATION])
    with pytest.raises(ModelLoadError, match=r"no output of shape \(1, 2, 3\)"):
        drop_outputs(full, [(1, 2, 3)])
    _, outputs = _graph(full)
    with pytest.raises(ModelLoadError, match="leave the network with none"):
        drop_outputs(full, outputs)
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a network")
    with pytest.raises(ModelLoadError, match=r"junk\.tflite"):
        LandmarkNetwork(junk)
    with pytest.raises(ModelLoadError, match="cannot read"):
        LandmarkNetwork(tmp_path / "missing.tflite")
