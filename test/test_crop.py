"""Person crop -> model inputs: geometry, pixel sampling, black fill, normalisation, aux inputs."""

from __future__ import annotations

import numpy as np
import pytest

import bodypose3d_ros.core.models.bodypose3dnet_crop as crop_module
from bodypose3d_ros.core.models.bodypose3dnet_crop import (
    CROP_HEIGHT,
    CROP_WIDTH,
    K_INV_MODES,
    NORMALIZATIONS,
    NVIDIA_CROP_FOCAL,
    crop_box_for,
    crop_camera_k_inv,
    crop_to_image,
    crop_to_image_transform,
    prepare_batch,
)
from bodypose3d_ros.core.skeleton import MEAN_LIMB_LENGTHS_MM, SCALE_NORMALIZED_MEAN_LIMB_LENGTHS
from bodypose3d_ros.core.types import Box

K_1280 = np.array([[800.0, 0.0, 640.0], [0.0, 810.0, 360.0], [0.0, 0.0, 1.0]])


def test_crop_box_is_3_by_4_centred_on_box() -> None:
    box = Box(100.0, 50.0, 80.0, 200.0)  # tall person: side from the height
    crop = crop_box_for(box)
    assert crop.width == 250.0  # round(1.25 * 200)
    assert crop.height == 333.0  # round(250 * 4 / 3) = round(333.33)
    assert crop.center == pytest.approx(box.center)


def test_crop_box_from_wide_box_and_half_rounds_up() -> None:
    box = Box(10.5, 20.0, 10.0, 4.0)  # 1.25 * 10 = 12.5 -> 13 (not banker's 12)
    crop = crop_box_for(box)
    assert crop.width == 13.0
    assert crop.height == 17.0  # 13 * 4 / 3 = 17.33
    assert crop.center == pytest.approx(box.center)


def test_crop_box_is_not_clamped() -> None:
    crop = crop_box_for(Box(-50.0, -30.0, 100.0, 100.0))
    assert crop.x < -50.0
    assert crop.y < -30.0


@pytest.mark.parametrize("box", [Box(0, 0, 0, 0), Box(0, 0, -5, 10), Box(0, 0, float("nan"), 10)])
def test_crop_box_rejects_degenerate(box: Box) -> None:
    with pytest.raises(ValueError, match="box"):
        crop_box_for(box)


def test_crop_to_image_matches_reference_formula_and_transform() -> None:
    crop = Box(37.25, -12.5, 144.0, 192.0)
    xy = np.array([[0.0, 0.0], [96.0, 128.0], [191.0, 255.0], [10.5, 3.25]])
    uv = crop_to_image(xy, crop)
    expected = np.stack([xy[:, 0] * 144.0 / 192 + 37.25, xy[:, 1] * 192.0 / 256 - 12.5], axis=1)
    assert np.allclose(uv, expected)
    t = crop_to_image_transform(crop)
    homog = np.c_[xy, np.ones(len(xy))] @ t.T
    assert np.allclose(homog[:, :2], expected)
    assert np.allclose(homog[:, 2], 1.0)
    # Batched (..., 2) input keeps its leading shape.
    assert crop_to_image(xy.reshape(2, 2, 2), crop).shape == (2, 2, 2)


def _blob_image(u0: int, v0: int, radius: int) -> np.ndarray:
    image = np.zeros((480, 640, 3), dtype=np.uint8)
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    blob = np.clip(250.0 * (1.0 - np.hypot(xx, yy) / (radius + 1.0)), 0, 255).astype(np.uint8)
    image[v0 - radius : v0 + radius + 1, u0 - radius : u0 + radius + 1] = blob[..., None]
    return image


def _centroid(channel: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[: channel.shape[0], : channel.shape[1]]
    w = channel.astype(np.float64)
    return np.array([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])


@pytest.mark.parametrize(
    ("box", "radius"),
    [
        (Box(250.3, 170.6, 40.0, 70.0), 0),  # crop smaller than 192x256: single pixel enlarged
        (Box(200.2, 130.9, 100.0, 150.0), 0),  # crop about 192x256: close to 1:1
        (Box(180.0, 60.0, 150.0, 300.0), 2),  # crop ~2x larger: a small blob survives sampling
        (Box(100.7, 20.2, 400.0, 440.0), 3),  # strong downscale: a small blob
        (Box(-150.0, -120.0, 500.0, 500.0), 3),  # crop hanging off the top-left corner
    ],
)
def test_warp_sampling_agrees_with_crop_to_image(box: Box, radius: int) -> None:
    u0, v0 = 271, 203
    image = _blob_image(u0, v0, radius)
    batch = prepare_batch(image, [box], K_1280)
    crop_pixels = batch.input0[0, 1]  # the green channel, /255
    assert crop_pixels.max() > 0.0, "the bright spot must be inside the crop"
    found = crop_to_image(_centroid(crop_pixels), batch.crops[0])
    # Well under the 0.5 * |scale - 1| px that a half-pixel convention mismatch would cause.
    assert np.abs(found - [u0, v0]).max() <= 0.15
    # The same mapping through the t_form_inv tensor the model gets.
    via_tensor = batch.t_form_inv[0].astype(np.float64) @ [*_centroid(crop_pixels), 1.0]
    assert np.abs(via_tensor[:2] - [u0, v0]).max() <= 0.15


def test_outside_pixels_are_black_and_crop_keeps_shape() -> None:
    image = np.full((200, 300, 3), 200, dtype=np.uint8)
    box = Box(-40.0, -60.0, 100.0, 120.0)  # hangs off the top-left corner
    batch = prepare_batch(image, [box], K_1280)
    crop = batch.crops[0]
    assert crop.height / crop.width == pytest.approx(4.0 / 3.0, abs=0.01)
    xs, ys = np.meshgrid(np.arange(CROP_WIDTH), np.arange(CROP_HEIGHT))
    uv = crop_to_image(np.stack([xs, ys], axis=-1), crop)
    inside = (uv[..., 0] >= 0) & (uv[..., 1] >= 0)
    outside = (uv[..., 0] <= -1) | (uv[..., 1] <= -1)
    values = batch.input0[0, 0]
    assert outside.any()
    assert inside.any()
    assert np.all(values[outside] == 0.0)
    assert np.allclose(values[inside], 200.0 / 255.0, atol=1e-6)


def test_bgr_unit_and_rgb_mean_normalisations() -> None:
    image = np.empty((120, 160, 3), dtype=np.uint8)
    image[...] = (10, 20, 30)  # B, G, R
    box = Box(40.0, 30.0, 40.0, 50.0)
    bgr = prepare_batch(image, [box], K_1280, normalization="bgr_unit").input0[0]
    assert bgr.dtype == np.float32
    assert bgr.shape == (3, CROP_HEIGHT, CROP_WIDTH)
    assert np.allclose(bgr[0], 10 / 255)
    assert np.allclose(bgr[1], 20 / 255)
    assert np.allclose(bgr[2], 30 / 255)
    rgb = prepare_batch(image, [box], K_1280, normalization="rgb_mean").input0[0]
    assert np.allclose(rgb[0], (30 - 123.675) / 255, atol=1e-6)  # R first
    assert np.allclose(rgb[1], (20 - 116.28) / 255, atol=1e-6)
    assert np.allclose(rgb[2], (10 - 103.53) / 255, atol=1e-6)


def test_image_is_stretched_not_letterboxed() -> None:
    # A horizontal ramp keeps its left-to-right order and covers the full crop width.
    image = np.tile(np.arange(256, dtype=np.uint8)[None, :, None], (256, 1, 3))
    batch = prepare_batch(image, [Box(20.0, 20.0, 100.0, 100.0)], K_1280)
    row = batch.input0[0, 0, 128] * 255
    expected = crop_to_image(
        np.c_[np.arange(CROP_WIDTH), np.full(CROP_WIDTH, 128)], batch.crops[0]
    )[:, 0]
    assert np.allclose(row, expected, atol=0.6)


def test_aux_inputs_filled_for_every_row() -> None:
    image = np.zeros((720, 1280, 3), dtype=np.uint8)
    boxes = [Box(100.0 + 150 * i, 100.0, 80.0 + 10 * i, 300.0) for i in range(3)]
    batch = prepare_batch(image, boxes, K_1280)
    assert len(batch) == 3
    feeds = batch.feeds()
    assert set(feeds) == {
        "input0", "k_inv", "t_form_inv", "scale_normalized_mean_limb_lengths", "mean_limb_lengths"
    }  # fmt: skip
    assert feeds["input0"].shape == (3, 3, CROP_HEIGHT, CROP_WIDTH)
    for name, arr in feeds.items():
        assert arr.dtype == np.float32, name
        assert arr.flags.c_contiguous, name
        assert arr.shape[0] == 3, name
    for i in range(3):
        assert np.array_equal(batch.mean_limb_lengths[i], MEAN_LIMB_LENGTHS_MM)
        assert np.array_equal(
            batch.scale_normalized_mean_limb_lengths[i], SCALE_NORMALIZED_MEAN_LIMB_LENGTHS
        )
        assert np.allclose(batch.t_form_inv[i], crop_to_image_transform(batch.crops[i]))
        assert np.any(batch.k_inv[i] != 0)
    # Different people, different crops: rows must not be copies of row 0.
    assert not np.allclose(batch.t_form_inv[1], batch.t_form_inv[0])
    assert not np.allclose(batch.k_inv[2], batch.k_inv[0])


def test_crop_camera_k_inv_is_the_camera_that_sees_the_crop() -> None:
    crop = crop_box_for(Box(500.0, 200.0, 120.0, 330.0))
    k_inv = crop_camera_k_inv(K_1280, crop)
    k_crop = np.linalg.inv(k_inv)
    # A pinhole camera: no skew, positive focal lengths scaled by the resize.
    assert k_crop[0, 1] == pytest.approx(0.0)
    assert np.allclose(k_crop[2], [0, 0, 1])
    assert k_crop[0, 0] == pytest.approx(800.0 * CROP_WIDTH / crop.width)
    assert k_crop[1, 1] == pytest.approx(810.0 * CROP_HEIGHT / crop.height)
    # Projecting 3D points with K_crop lands where the image projection maps into the crop.
    pts = np.array([[0.1, -0.2, 3.0], [-0.3, 0.4, 2.5], [0.05, 0.0, 4.0]])
    in_crop = pts @ k_crop.T
    in_crop = in_crop[:, :2] / in_crop[:, 2:]
    in_image = pts @ K_1280.T
    in_image = in_image[:, :2] / in_image[:, 2:]
    assert np.allclose(crop_to_image(in_crop, crop), in_image)


def test_k_inv_modes() -> None:
    image = np.zeros((480, 640, 3), dtype=np.uint8)
    boxes = [Box(10.0, 10.0, 50.0, 100.0), Box(300.0, 100.0, 100.0, 200.0)]
    fixed = prepare_batch(image, boxes, K_1280, k_inv_mode="nvidia_fixed").k_inv
    for row in fixed.astype(np.float64):
        assert np.allclose(row @ [96.0, 128.0, 1.0], [0.0, 0.0, 1.0], atol=1e-6)
        assert np.allclose(row @ [96.0 + NVIDIA_CROP_FOCAL, 128.0, 1.0], [1.0, 0.0, 1.0])
    true = prepare_batch(image, boxes, K_1280, k_inv_mode="crop_camera")
    for i, crop in enumerate(true.crops):
        assert np.allclose(true.k_inv[i], crop_camera_k_inv(K_1280, crop), rtol=1e-5, atol=1e-7)


def test_empty_boxes_give_an_empty_batch() -> None:
    batch = prepare_batch(np.zeros((10, 10, 3), dtype=np.uint8), [], K_1280)
    assert len(batch) == 0
    assert batch.crops == []
    shapes = {k: v.shape for k, v in batch.feeds().items()}
    assert shapes == {
        "input0": (0, 3, CROP_HEIGHT, CROP_WIDTH),
        "k_inv": (0, 3, 3),
        "t_form_inv": (0, 3, 3),
        "scale_normalized_mean_limb_lengths": (0, 36),
        "mean_limb_lengths": (0, 36),
    }


def test_bad_names_and_inputs_are_rejected() -> None:
    image = np.zeros((10, 10, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="normalization") as err:
        prepare_batch(image, [], K_1280, normalization="rgb")
    assert all(name in str(err.value) for name in NORMALIZATIONS)
    with pytest.raises(ValueError, match="k_inv_mode") as err:
        prepare_batch(image, [], K_1280, k_inv_mode="fixed")
    assert all(name in str(err.value) for name in K_INV_MODES)
    with pytest.raises(ValueError, match="uint8"):
        prepare_batch(np.zeros((10, 10), dtype=np.uint8), [], K_1280)
    with pytest.raises(ValueError, match="3x3"):
        prepare_batch(image, [], np.eye(4))


def test_prepare_batch_warps_each_person_once_straight_into_the_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hot path at 1280x720: one cv2.warpAffine per person, into one reused buffer.

    The real warpAffine runs; the wrapper only records how it was called. One person's crop is
    warped from the image itself; eight people's from one shared BGRA copy (the cheaper warp),
    and every row is bit for bit what that person alone gives, crops off the border included.
    """
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    boxes = [Box(140.0 * i, 80.0, 120.0, 400.0) for i in range(6)]
    boxes += [Box(-90.3, -150.2, 200.0, 380.0), Box(1150.6, 500.1, 260.0, 330.0)]
    real_warp = crop_module.cv2.warpAffine
    calls: list[tuple[np.ndarray, np.ndarray]] = []

    def recording_warp(src: np.ndarray, m: np.ndarray, *args: object, **kwargs: object) -> object:
        dst = kwargs.get("dst")
        assert isinstance(dst, np.ndarray), "each crop must be written into a given dst"
        calls.append((src, dst))
        return real_warp(src, m, *args, **kwargs)

    monkeypatch.setattr(crop_module.cv2, "warpAffine", recording_warp)
    alone = [prepare_batch(image, [box], K_1280) for box in boxes]
    assert len(calls) == len(boxes)
    assert all(src is image for src, _ in calls), "one crop: warped from the image itself"
    calls.clear()
    batch = prepare_batch(image, boxes, K_1280)
    assert len(calls) == len(boxes)
    # Each warp reads one shared source (no per-person copy): the image as BGRA ...
    source = calls[0][0]
    assert all(src is source for src, _ in calls)
    assert source.shape == (720, 1280, 4)
    np.testing.assert_array_equal(source[..., :3], image)
    # ... into one reused crop buffer (normalised into the batch before the next warp).
    first = calls[0][1]
    assert all(dst is first for _, dst in calls)
    assert first.shape == (CROP_HEIGHT, CROP_WIDTH, 4)
    # Batching changes nothing: row i is exactly what person i alone gives.
    for i, single in enumerate(alone):
        np.testing.assert_array_equal(batch.input0[i], single.input0[0])
        np.testing.assert_array_equal(batch.k_inv[i], single.k_inv[0])


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_small_image_warps_from_bgra_with_the_same_result(normalization: str) -> None:
    """At 320x240 one crop already outweighs the conversion: the BGRA path, same numbers."""
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    box = Box(-30.4, 20.7, 140.0, 260.0)
    batch = prepare_batch(image, [box], K_1280, normalization=normalization)
    t_form = crop_to_image_transform(batch.crops[0])
    expected = real_bgr_warp(image, t_form)
    pixels = np.moveaxis(expected.astype(np.float32), -1, 0)
    if normalization == "bgr_unit":
        reference = pixels * np.float32(1.0 / 255.0)
    else:
        reference = (pixels[::-1] - crop_module.RGB_MEAN[:, None, None]) * np.float32(1.0 / 255.0)
    np.testing.assert_array_equal(batch.input0[0], reference)


def real_bgr_warp(image: np.ndarray, t_form: np.ndarray) -> np.ndarray:
    """The crop as a plain 3-channel warp of the image (the reference for the BGRA path)."""
    return crop_module.cv2.warpAffine(
        image,
        t_form[:2],
        (CROP_WIDTH, CROP_HEIGHT),
        flags=crop_module.cv2.INTER_LINEAR | crop_module.cv2.WARP_INVERSE_MAP,
        borderMode=crop_module.cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
