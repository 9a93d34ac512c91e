"""Both backends through the same node, CLI and messages: same structures, same guarantees.

BodyPose3DNet runs here on the contract TEST FIXTURE (real weights are not redistributable):
it checks our plumbing around the network, not pose quality.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from node_harness import NodeHarness, make_camera_info, make_image_msg

from bodypose3d_ros.core.output.result_json import validate_frame_json
from bodypose3d_ros.core.skeleton import KEYPOINT_NAMES
from bodypose3d_ros.core.types import Box
from bodypose3d_ros.testing.contract_model import write_contract_model
from bodypose3d_ros.testing.contract_scene import draw_person

WIDTH, HEIGHT = 640, 480
FX, FY, CX, CY = 600.0, 610.0, 322.0, 236.0


@pytest.fixture(scope="module")
def fixture_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_contract_model(tmp_path_factory.mktemp("backends") / "contract_fixture.onnx")


@pytest.fixture(scope="module")
def blob_scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A black frame with one fixture 'person' drawn for the first frame's crop (whole image)."""
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    drawn, uv = draw_person(image, Box.full_image(WIDTH, HEIGHT), np.random.default_rng(11))
    assert drawn.sum() >= 6  # the crop of the whole frame reaches past it: outer blobs fall off
    return image, drawn, uv


@pytest.fixture(scope="module")
def bp3d_node(fixture_model: Path) -> Iterator[NodeHarness]:
    with NodeHarness(
        backend="bodypose3dnet",
        model_path=str(fixture_model),
        engine="onnxruntime",
        smoothing=False,
        person_min_keypoints=6,
        detector="none",  # the fixture's blob person is found by the model's whole-image look
        track_min_hits=1,
    ) as h:
        h.start()
        yield h


def test_bodypose3dnet_node_serves_the_fixture_over_dds(
    bp3d_node: NodeHarness, blob_scene: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    image, drawn, uv = blob_scene
    bp3d_node.send_camera_info(make_camera_info(WIDTH, HEIGHT, FX, FY, CX, CY))
    bp3d_node.image_pub.publish(make_image_msg(image, 42.25, frame_id="lab_cam"))
    out = bp3d_node.wait_for_output(42.25)
    assert out.header.frame_id == "lab_cam"
    assert (out.header.stamp.sec, out.header.stamp.nanosec) == (42, 250_000_000)
    assert len(out.poses) == 1
    pose = out.poses[0]
    got = np.array([(kp.u, kp.v) for kp in pose.keypoints])
    error = np.hypot(*(got[drawn] - uv[drawn]).T)
    assert error.max() <= 1.0, f"a keypoint came back {error.max():.2f} px from its blob"
    for kp in pose.keypoints:
        values = (kp.u, kp.v, kp.position.x, kp.position.y, kp.position.z, kp.confidence)
        assert all(math.isfinite(v) for v in values)
        assert 0.0 <= kp.confidence <= 1.0
    snap = bp3d_node.node.snapshot()
    assert snap.backend == "bodypose3dnet"
    assert "onnxruntime" in snap.engine
    assert snap.model_status == "loaded"


def _structure(value: Any) -> Any:
    """The shape of a JSON value: keys and types, with lists reduced to length + first item."""
    if isinstance(value, dict):
        return {k: _structure(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return ("list", len(value), _structure(value[0]) if value else None)
    return type(value).__name__


def _run_cli(args: list[str]) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bodypose3d_ros.infer", *args],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]


def test_cli_json_has_the_same_structure_for_both_backends(
    tmp_path: Path,
    fixture_model: Path,
    person_image_path: Path,
    blob_scene: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    blobs = tmp_path / "blobs.png"
    cv2.imwrite(str(blobs), blob_scene[0])
    intrinsics = ["--fx", str(FX), "--fy", str(FY), "--cx", str(CX), "--cy", str(CY)]
    _run_cli(["--backend", "blazepose", *intrinsics, "--out", str(tmp_path / "a"),
              str(person_image_path)])  # fmt: skip
    _run_cli(["--backend", "bodypose3dnet", "--model-path", str(fixture_model),
              "--engine", "onnxruntime", "--detector", "none", *intrinsics,
              "--out", str(tmp_path / "b"), str(blobs)])  # fmt: skip
    a = json.loads((tmp_path / "a" / f"{person_image_path.stem}.json").read_text())
    b = json.loads((tmp_path / "b" / "blobs.json").read_text())
    for record in (a, b):
        validate_frame_json(record)
        assert len(record["people"]) == 1
        assert [kp["name"] for kp in record["people"][0]["keypoints"]] == list(KEYPOINT_NAMES)
        assert record["intrinsics"]["source"] == "arguments"
    assert (a["backend"], b["backend"]) == ("blazepose", "bodypose3dnet")
    a["image"] = b["image"] = ""
    assert _structure(a) == _structure(b)
