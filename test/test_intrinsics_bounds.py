"""Absurd intrinsics are rejected, real cameras pass, and a failed lift never becomes a person."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bodypose3d_ros.core.camera.intrinsics import (
    Intrinsics,
    IntrinsicsError,
    intrinsics_from_camera_info,
)
from bodypose3d_ros.core.people.tracking import TrackerParams
from bodypose3d_ros.core.pipeline import PipelineConfig, PosePipeline


def pinhole_info(f: float, cx: float, cy: float) -> tuple[list[float], list[float]]:
    """K and P of a CameraInfo (f on both axes)."""
    return [f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0], [f, 0.0, cx, 0.0, 0.0, f, cy, 0.0, 0, 0, 1, 0]


# (calibrated width, height, fx, fy, cx, cy) of real or extreme-but-real cameras.
REAL_CAMERAS = {
    "webcam_640x480": (640, 480, 525.0, 525.0, 319.5, 239.5),
    "realsense_colour_1280x720": (1280, 720, 909.0, 908.0, 641.0, 362.0),
    "fisheye_tracking_848x800": (848, 800, 285.7, 285.9, 424.3, 399.2),
    # A 280-degree circular fisheye whose image circle just fits the height of a 16:9 sensor.
    "fisheye_280deg_1920x1080": (1920, 1080, 540.0 / 2.44, 540.0 / 2.44, 960.0, 540.0),
    # 800 mm telephoto on a full-frame 6000x4000 sensor (6 um pixels).
    "telephoto_800mm_6000x4000": (6000, 4000, 133_333.0, 133_333.0, 3000.0, 2000.0),
    # A 539 mm superzoom on a 1/2.3" 4608x3456 sensor (1.34 um pixels).
    "superzoom_4608x3456": (4608, 3456, 402_560.0, 402_560.0, 2304.0, 1728.0),
}


@pytest.mark.parametrize("camera", list(REAL_CAMERAS))
def test_real_cameras_pass_at_full_size_and_at_a_quarter(camera: str) -> None:
    w, h, fx, fy, cx, cy = REAL_CAMERAS[camera]
    k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    full = intrinsics_from_camera_info(k, p, w, h, w, h)
    assert (full.fx, full.fy) == (fx, fy)
    quarter = intrinsics_from_camera_info(k, p, w, h, w // 4, h // 4)
    assert quarter.fx == pytest.approx(fx * (w // 4) / w)


@pytest.mark.parametrize(
    ("info_size", "f", "image_size", "message"),
    [
        ((640, 424), 1e-9, (640, 424), "fx=1e-09 px"),
        ((640, 424), 1e30, (640, 424), "fx=1e+30 px"),
        ((640, 424), 20.0, (640, 424), "real cameras lie within"),
        # A CameraInfo for 100000x100000 pixels on a 640x424 stream: a x0.0064 resize.
        ((100_000, 100_000), 60_000.0, (640, 424), "does not belong to this image"),
        # A 1x1 CameraInfo silently stretched to 640x424 (the pelvis landed at 994 m).
        ((1, 1), 0.6, (640, 424), "does not belong to this image"),
    ],
)
def test_absurd_camera_info_is_rejected_with_the_reason(
    info_size: tuple[int, int], f: float, image_size: tuple[int, int], message: str
) -> None:
    w, h = info_size
    k, p = pinhole_info(f, w / 2, h / 2)
    with pytest.raises(IntrinsicsError, match=message.replace("+", r"\+")):
        intrinsics_from_camera_info(k, p, w, h, *image_size)


def test_a_principal_point_far_outside_the_image_is_rejected() -> None:
    k, p = pinhole_info(500.0, 1e7, 240.0)
    with pytest.raises(IntrinsicsError, match="principal point cx"):
        intrinsics_from_camera_info(k, p, 640, 480, 640, 480)
    # A sensor window at the edge of a large calibration keeps its (off-image) principal point.
    k, p = pinhole_info(3000.0, 2000.0, 1500.0)
    roi = intrinsics_from_camera_info(k, p, 4000, 3000, 200, 150, roi_width=200, roi_height=150)
    assert roi.cx == 2000.0


def test_the_check_applies_to_the_image_the_intrinsics_are_used_for() -> None:
    intrinsics = Intrinsics(400.0, 400.0, 320.0, 212.0, "arguments")
    intrinsics.check_plausible(640, 424)
    # The same focal length on a 10000 px wide image would see 171 degrees through a pinhole.
    with pytest.raises(IntrinsicsError, match=r"implausible intrinsics: fx=400 px is 0\.04 x"):
        intrinsics.check_plausible(10_000, 7_000)


@pytest.fixture(scope="module")
def pipeline_on_photo(person_image_path: Path):  # type: ignore[no-untyped-def]
    from bodypose3d_ros.core.models.factory import create_model

    image = cv2.imread(str(person_image_path))
    assert image is not None
    model = create_model("blazepose", None)
    yield image, model
    model.close()


@pytest.mark.parametrize("f", [1e-9, 1e30])
def test_a_person_whose_lift_fails_is_dropped_not_published_as_zeros(
    pipeline_on_photo,
    f: float,  # type: ignore[no-untyped-def]
) -> None:
    image, model = pipeline_on_photo
    h, w = image.shape[:2]
    # One photo: a person counts from the first sighting.
    pipeline = PosePipeline(
        model, PipelineConfig(smoothing=False, tracker=TrackerParams(min_hits=1))
    )
    # Intrinsics built directly (as a caller bypassing the CameraInfo checks could).
    absurd = pipeline.process(image, Intrinsics(f, f, w / 2, h / 2, "arguments"), 0.0)
    assert absurd.people == []
    assert absurd.lift_failures == 1
    sane = pipeline.process(image, Intrinsics(400.0, 400.0, w / 2, h / 2, "arguments"), 1.0)
    assert len(sane.people) == 1
    assert sane.lift_failures == 0
    assert np.count_nonzero(sane.people[0].xyz) > 0
