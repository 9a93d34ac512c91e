"""The Tasks reference (bodypose3d_ros.testing.blazepose_tasks, the package's former BlazePose
path): its bundle built from the mediapipe wheel, cached, rebuilt when damaged, and giving the
same answer as mediapipe's legacy pose solution; its square crops."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from bodypose3d_ros.core.models.blazepose import BLAZEPOSE_LANDMARK_NAMES
from bodypose3d_ros.core.types import Box
from bodypose3d_ros.testing.blazepose_tasks import BUNDLE_ENTRIES, crop_regions, pose_task_path

mp: Any = pytest.importorskip("mediapipe", reason="mediapipe==0.10.14 is not installed")


def test_bundle_is_an_uncompressed_zip_of_the_two_networks_with_image_metadata(
    tmp_path: Path,
) -> None:
    path = pose_task_path(mp, tmp_path)
    assert path.parent == tmp_path
    with zipfile.ZipFile(path) as bundle:
        infos = {info.filename: info for info in bundle.infolist()}
        assert sorted(infos) == ["pose_detector.tflite", "pose_landmarks_detector.tflite"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos.values())
        for entry, (_, mean, std) in BUNDLE_ENTRIES.items():
            (image_input,) = _input_metadata(bundle.read(entry))
            assert image_input["name"] == "image"
            assert image_input["content"]["content_properties"]["color_space"] == "RGB"
            (unit,) = image_input["process_units"]
            assert unit["options_type"] == "NormalizationOptions"
            assert unit["options"] == {"mean": [mean], "std": [std]}
    assert [e[1:] for e in BUNDLE_ENTRIES.values()] == [(127.5, 127.5), (0.0, 255.0)]
    assert not list(tmp_path.glob(".*.tmp")), "no temporary file left behind"


def _input_metadata(model: bytes) -> list[dict[str, Any]]:
    """The input tensors' metadata as mediapipe's own reader reports it."""
    from mediapipe.tasks.python.metadata import metadata

    shown = json.loads(metadata.MetadataDisplayer.with_model_buffer(model).get_metadata_json())
    inputs: list[dict[str, Any]] = shown["subgraph_metadata"][0]["input_tensor_metadata"]
    return inputs


def test_bundle_is_built_once_and_rebuilt_when_damaged(tmp_path: Path) -> None:
    path = pose_task_path(mp, tmp_path)
    built = path.stat().st_mtime_ns
    assert pose_task_path(mp, tmp_path) == path
    assert path.stat().st_mtime_ns == built, "a sound bundle is reused, not rebuilt"
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # truncated, e.g. a full disk
    assert pose_task_path(mp, tmp_path) == path
    # A rebuild has the same networks; the zip's entry times may differ (2-second resolution).
    assert _entries(path) == _entries_of(good)
    damaged = bytearray(good)
    damaged[len(good) // 2] ^= 0xFF  # one flipped byte inside a network
    path.write_bytes(bytes(damaged))
    pose_task_path(mp, tmp_path)
    assert _entries(path) == _entries_of(good)


def _entries_of(bundle: bytes) -> dict[str, bytes]:
    """Every entry of a zip held in memory, by name."""
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _entries(path: Path) -> dict[str, bytes]:
    return _entries_of(path.read_bytes())


def test_tasks_world_landmarks_match_the_legacy_solution(
    person_image_path: Path, model_cache_dir: Path
) -> None:
    from mediapipe.tasks.python import BaseOptions, vision

    rgb = cv2.cvtColor(cv2.imread(str(person_image_path)), cv2.COLOR_BGR2RGB)
    options = vision.PoseLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(pose_task_path(mp, model_cache_dir))),
        running_mode=vision.RunningMode.IMAGE,
    )
    with vision.PoseLandmarker.create_from_options(options) as landmarker:
        result = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))
    assert len(result.pose_world_landmarks) == 1
    tasks = np.array([(p.x, p.y, p.z) for p in result.pose_world_landmarks[0]])

    # The legacy solution, used here only as the reference the bundle must reproduce.
    with mp.solutions.pose.Pose(
        static_image_mode=True, model_complexity=1, smooth_landmarks=False
    ) as legacy:
        reference = legacy.process(rgb).pose_world_landmarks
    assert reference is not None
    legacy_world = np.array([(p.x, p.y, p.z) for p in reference.landmark])
    assert tasks.shape == legacy_world.shape == (33, 3)
    assert np.abs(tasks - legacy_world).max() <= 1e-4  # 0.1 mm
    assert np.ptp(tasks[:, 1]) > 1.0, "a standing person spans over a metre"
    # Both APIs use the same landmark order, which the 33 -> 34 mapping relies on (the Tasks
    # API has no enum of its own for it).
    names = tuple(lm.name.lower() for lm in mp.solutions.pose.PoseLandmark)
    assert names == BLAZEPOSE_LANDMARK_NAMES


# --- crops: one per box, mapped back to the source image ------------------------------------


def test_crop_regions_square_the_grown_box_cut_to_the_image() -> None:
    square, visible = crop_regions(Box(100, 50, 40, 100), 640, 480, margin=0.2)
    assert (visible.x, visible.y, visible.width, visible.height) == pytest.approx((92, 30, 56, 140))
    assert square.width == square.height == pytest.approx(140)
    assert square.center == pytest.approx(visible.center)
    # At the border the visible part is cut to the image, so the person stays big in the crop.
    square, visible = crop_regions(Box(-20, 400, 60, 100), 640, 480, margin=0.2)
    assert (visible.x, visible.y) == (0, 380)
    assert visible.x + visible.width == pytest.approx(52)
    assert visible.y + visible.height == pytest.approx(480)
    assert square.width == pytest.approx(100)
    # A box wholly outside the image gives nothing to look at.
    _, visible = crop_regions(Box(700, 10, 50, 100), 640, 480)
    assert visible.width == 0


def test_crop_shows_only_the_grown_box_and_is_black_elsewhere() -> None:
    from bodypose3d_ros.testing.blazepose_tasks import MAX_CROP_SIDE, _cut_square

    image = np.full((480, 640, 3), 200, np.uint8)
    square, visible = crop_regions(Box(300, 100, 50, 150), 640, 480, margin=0.2)
    crop = _cut_square(image, square, visible)
    side = crop.shape[0]
    assert crop.shape == (side, side, 3)
    assert side == round(square.width)  # 210 px: not scaled
    x0 = round(visible.x - square.x)
    x1 = x0 + round(visible.width)
    assert np.all(crop[:, x0 + 1 : x1 - 1] == 200)  # the visible strip, full height
    assert np.all(crop[:, : x0 - 1] == 0)
    assert np.all(crop[:, x1 + 1 :] == 0)  # the neighbours beside it are blacked out
    # A big box is scaled down to MAX_CROP_SIDE.
    square, visible = crop_regions(Box(0, 0, 640, 480), 640, 480)
    assert _cut_square(image, square, visible).shape == (MAX_CROP_SIDE, MAX_CROP_SIDE, 3)
