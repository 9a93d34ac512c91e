"""The offline CLI's --camera-info: a ROS calibration YAML, rescaled, distortion honoured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from test_infer_cli import Run, _run_cli

from bodypose3d_ros.core import skeleton
from bodypose3d_ros.core.output.result_json import validate_frame_json

# A wide-angle camera as camera_calibration writes it (its exact layout and number format).
CALIBRATION = """\
image_width: {width}
image_height: {height}
camera_name: head_camera
camera_matrix:
  rows: 3
  cols: 3
  data: [{fx}, 0., {cx}, 0., {fy}, {cy}, 0., 0., 1.]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [-0.291634, 0.084472, 0.000512, -0.000331, -0.010218]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1., 0., 0., 0., 1., 0., 0., 0., 1.]
projection_matrix:
  rows: 3
  cols: 4
  data: [{fx}, 0., {cx}, 0., 0., {fy}, {cy}, 0., 0., 0., 1., 0.]
"""
# At the photo's 640x424.
FX, FY, CX, CY = 402.7315, 401.9921, 318.4402, 215.0873
D = [-0.291634, 0.084472, 0.000512, -0.000331, -0.010218]


def write_calibration(folder: Path, scale: float, name: str) -> Path:
    path = folder / name
    path.write_text(
        CALIBRATION.format(
            width=round(640 * scale),
            height=round(424 * scale),
            fx=FX * scale,
            fy=FY * scale,
            cx=CX * scale,
            cy=CY * scale,
        )
    )
    return path


@pytest.fixture(scope="module")
def photo_path(person_image_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photo")
    image = cv2.imread(str(person_image_path))
    assert image is not None
    assert image.shape[:2] == (424, 640)
    path = folder / "person.jpg"
    cv2.imwrite(str(path), image)
    return path


def _record(run: Run) -> dict[str, Any]:
    assert run.returncode == 0, run.stderr
    record: dict[str, Any] = json.loads((run.out / "person.json").read_text())
    validate_frame_json(record)
    return record


def _check_reprojects_through_the_lens(record: dict[str, Any]) -> None:
    k = np.array([[FX, 0, CX], [0, FY, CY], [0, 0, 1]])
    (person,) = record["people"]
    sure = [kp for kp in person["keypoints"] if kp["confidence"] > 0.5]
    assert len(sure) >= 12
    xyz = np.array([[kp["x"], kp["y"], kp["z"]] for kp in sure])
    uv = np.array([[kp["u"], kp["v"]] for kp in sure])
    lens, _ = cv2.projectPoints(xyz, np.zeros(3), np.zeros(3), k, np.array(D))
    # The file keeps 0.01 px and 0.1 mm (about 0.02 px at 2.4 m).
    np.testing.assert_allclose(lens.reshape(-1, 2), uv, atol=0.05)
    pinhole = xyz[:, :2] / xyz[:, 2:] * [FX, FY] + [CX, CY]
    assert np.abs(pinhole - uv).max() > 0.5, "the lens model, not the pinhole, maps 3D to u, v"


def test_calibration_file_at_the_image_size(tmp_path: Path, photo_path: Path) -> None:
    calibration = write_calibration(tmp_path, 1.0, "head_camera.yaml")
    record = _record(_run_cli(tmp_path / "out", "--camera-info", str(calibration), str(photo_path)))
    intrinsics = record["intrinsics"]
    assert intrinsics["source"] == "calibration_file"
    assert (intrinsics["fx"], intrinsics["fy"], intrinsics["cx"], intrinsics["cy"]) == (
        pytest.approx(FX), pytest.approx(FY), pytest.approx(CX), pytest.approx(CY),
    )  # fmt: skip
    assert intrinsics["distortion_model"] == "plumb_bob"
    assert intrinsics["distortion_coefficients"] == pytest.approx(D)
    _check_reprojects_through_the_lens(record)
    pelvis = record["people"][0]["keypoints"][skeleton.INDEX["pelvis"]]
    assert 1.5 <= pelvis["z"] <= 15.0


def test_calibration_of_another_size_is_rescaled(tmp_path: Path, photo_path: Path) -> None:
    # Calibrated at 1920x1272, used on the 640x424 photo: K shrinks by 3, D stays.
    calibration = write_calibration(tmp_path, 3.0, "full_resolution.yaml")
    record = _record(_run_cli(tmp_path / "out", "--camera-info", str(calibration), str(photo_path)))
    intrinsics = record["intrinsics"]
    assert intrinsics["source"] == "calibration_file"
    assert intrinsics["fx"] == pytest.approx(FX)
    assert intrinsics["cy"] == pytest.approx(CY)
    assert intrinsics["distortion_coefficients"] == pytest.approx(D)
    _check_reprojects_through_the_lens(record)


def test_a_calibration_of_another_shape_is_used_with_a_note(
    tmp_path: Path, photo_path: Path
) -> None:
    """A 16:9 calibration on the 3:2 photo: rescaled per axis as a resized stream would be, but
    such a stretch is far more often the wrong file than a binning mode, so the CLI says so."""
    calibration = tmp_path / "widescreen.yaml"
    calibration.write_text(
        CALIBRATION.format(width=1280, height=720, fx=800.0, fy=800.0, cx=640.0, cy=360.0)
    )
    run = _run_cli(tmp_path / "out", "--camera-info", str(calibration), str(photo_path))
    assert run.returncode == 0, run.stderr
    assert "calibrated at 1280x720, this image is 640x424: another shape" in run.stderr
    intrinsics = _record(run)["intrinsics"]
    assert intrinsics["fx"] == pytest.approx(400.0)
    assert intrinsics["fy"] == pytest.approx(800.0 * 424 / 720)
    same_shape = write_calibration(tmp_path, 3.0, "same_shape.yaml")
    quiet = _run_cli(tmp_path / "out2", "--camera-info", str(same_shape), str(photo_path))
    assert "another shape" not in quiet.stderr


BAD_FILES = {
    "missing.yaml": (None, "cannot read it"),
    "syntax.yaml": ("image_width: [640\n", "not valid YAML"),
    "list.yaml": ("- 1\n- 2\n", "expected a YAML mapping"),
    "no_k.yaml": ("image_width: 640\nimage_height: 424\n", "missing camera_matrix"),
    "k_2x3.yaml": (
        "image_width: 640\nimage_height: 424\n"
        "camera_matrix: {rows: 2, cols: 3, data: [400, 0, 320, 0, 400, 212]}\n",
        "'camera_matrix' must be 3x3, got 2x3",
    ),
    "short_data.yaml": (
        "image_width: 640\nimage_height: 424\n"
        "camera_matrix: {rows: 3, cols: 3, data: [400, 0, 320, 0, 400, 212]}\n",
        "declares rows=3 cols=3 but has 6 values",
    ),
    "text_in_d.yaml": (
        "image_width: 640\nimage_height: 424\n"
        "camera_matrix: {rows: 3, cols: 3, data: [400, 0, 320, 0, 400, 212, 0, 0, 1]}\n"
        "distortion_coefficients: {rows: 1, cols: 2, data: [0.1, abc]}\n",
        "'distortion_coefficients.data' must contain only numbers",
    ),
    "negative_size.yaml": (
        "image_width: -640\nimage_height: 424\n"
        "camera_matrix: {rows: 3, cols: 3, data: [400, 0, 320, 0, 400, 212, 0, 0, 1]}\n",
        "'image_width' must be a non-negative integer",
    ),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_bad_calibration_file_is_one_clear_error_line(
    tmp_path: Path, photo_path: Path, name: str
) -> None:
    text, message = BAD_FILES[name]
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    run = _run_cli(tmp_path / "out", "--camera-info", str(path), str(photo_path))
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert lines == [f"error: --camera-info {path}: {lines[0].split(': ', 2)[2]}"], run.stderr
    assert message in lines[0]
    assert not (tmp_path / "out" / "person.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # A 1x1 calibration stretched to the 640x424 photo.
        (("--camera-info", "one_pixel.yaml"), "does not belong to this image"),
        (("--fx", "1e-9", "--fy", "1e-9", "--cx", "320", "--cy", "212"), "implausible"),
        (("--fx", "1e30", "--fy", "1e30", "--cx", "320", "--cy", "212"), "implausible"),
    ],
)
def test_intrinsics_that_cannot_fit_the_image_are_an_input_error(
    tmp_path: Path, photo_path: Path, args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "one_pixel.yaml").write_text(
        CALIBRATION.format(width=1, height=1, fx=0.63, fy=0.63, cx=0.5, cy=0.5)
    )
    args = tuple(str(tmp_path / a) if a.endswith(".yaml") else a for a in args)
    run = _run_cli(tmp_path / "out", *args, str(photo_path))
    assert run.returncode == 1
    assert f"error: {photo_path}: " in run.stderr
    assert message in run.stderr
    assert "cannot describe this 640x424 image" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "out" / "person.json").exists()


def test_camera_info_and_explicit_intrinsics_are_exclusive(
    tmp_path: Path, photo_path: Path
) -> None:
    calibration = write_calibration(tmp_path, 1.0, "c.yaml")
    run = _run_cli(
        tmp_path / "out", "--camera-info", str(calibration), "--fx", "400", "--fy", "400",
        "--cx", "320", "--cy", "212", str(photo_path),
    )  # fmt: skip
    assert run.returncode == 2
    assert "either --camera-info or --fx --fy --cx --cy" in run.stderr


def test_an_unknown_distortion_model_is_noted_and_treated_as_none(
    tmp_path: Path, photo_path: Path
) -> None:
    calibration = write_calibration(tmp_path, 1.0, "odd_lens.yaml")
    calibration.write_text(
        calibration.read_text().replace("distortion_model: plumb_bob", "distortion_model: odd")
    )
    run = _run_cli(tmp_path / "out", "--camera-info", str(calibration), str(photo_path))
    record = _record(run)
    assert f"note: {calibration}: unknown distortion_model 'odd'" in run.stderr
    intrinsics = record["intrinsics"]
    assert intrinsics["source"] == "calibration_file"
    assert "distortion_model" not in intrinsics
    (person,) = record["people"]
    sure = [kp for kp in person["keypoints"] if kp["confidence"] > 0.5]
    for kp in sure:  # the pinhole model of K maps the 3D onto u, v
        u = FX * kp["x"] / kp["z"] + CX
        v = FY * kp["y"] / kp["z"] + CY
        assert abs(u - kp["u"]) < 0.05
        assert abs(v - kp["v"]) < 0.05


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("distortion_model: plumb_bob", "distortion_model: banana", "unknown distortion_model"),
        (  # banana with nothing to distort: the same answer as none, still a word about it
            "data: [-0.291634, 0.084472, 0.000512, -0.000331, -0.010218]",
            "data: [0., 0., 0., 0., 0.]",
            "unknown distortion_model 'banana'",
        ),
        ("data: [-0.291634, 0.084472,", "data: [1e308, 0.084472,", "reach 1e+308"),
    ],
)
def test_a_malformed_distortion_gets_one_note_and_people_are_still_found(
    tmp_path: Path, photo_path: Path, old: str, new: str, says: str
) -> None:
    calibration = write_calibration(tmp_path, 1.0, "lens.yaml")
    text = calibration.read_text()
    if "banana" in says:
        text = text.replace("distortion_model: plumb_bob", "distortion_model: banana")
    assert old in text
    calibration.write_text(text.replace(old, new))
    run = _run_cli(tmp_path / "out", "--camera-info", str(calibration), str(photo_path))
    record = _record(run)
    notes = [line for line in run.stderr.splitlines() if "distortion" in line]
    assert len(notes) == 1, run.stderr
    assert notes[0].startswith(f"note: {calibration}: ")
    assert says in notes[0]
    assert "treated as none" in notes[0] or "no distortion assumed" in notes[0]
    assert len(record["people"]) == 1  # the pinhole model of K: the person is still there
