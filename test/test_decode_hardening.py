"""Hostile image payloads are refused cleanly, before any decode, model call or big allocation.

Reproduced with the node before these checks: sides of 32767 px and more abort the process inside
the model (SIGABRT, uncatchable), and a 35-byte GIF or a JPEG whose SOF hides behind a stray byte
or 128 kB of APP segments made OpenCV allocate gigabytes. Memory is asserted in a fresh process
from its peak RSS, not from the time taken.
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from bodypose3d_ros.core.image.compressed_header import HeaderError, read_header
from bodypose3d_ros.core.image.image_decode import (
    MAX_IMAGE_SIDE,
    SUPPORTED_ENCODINGS,
    ImageDecodeError,
    decode_compressed,
    decode_raw,
)


def _jpeg(width: int, height: int) -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((height, width, 3), 90, np.uint8))
    assert ok
    return data.tobytes()


def _sof_offset(jpeg: bytes) -> int:
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        if marker in jpeg:
            return jpeg.index(marker)
    raise AssertionError("no SOF in the test JPEG")


def _with_declared_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The same JPEG with its SOF claiming ``width`` x ``height`` (a decompression bomb)."""
    sof = _sof_offset(jpeg)
    return jpeg[: sof + 5] + struct.pack(">HH", height, width) + jpeg[sof + 9 :]


def _gif_bomb() -> bytes:
    """A 35-byte GIF whose screen and frame declare 30000 x 30000 pixels."""
    data = (
        b"GIF89a"
        + struct.pack("<HH", 30000, 30000)
        + b"\x80\x00\x00"
        + bytes(6)  # a two-colour global palette
        + b","
        + struct.pack("<HHHH", 0, 0, 30000, 30000)
        + b"\x00\x02\x02\x44\x01\x00;"
    )
    assert len(data) == 35
    return data


def _stray_byte_bomb() -> bytes:
    jpeg = _with_declared_size(_jpeg(16, 16), 30000, 30000)
    sof = _sof_offset(jpeg)
    return jpeg[:sof] + b"\x00" + jpeg[sof:]


def _app_segments_bomb() -> bytes:
    jpeg = _with_declared_size(_jpeg(16, 16), 30000, 30000)
    app = b"\xff\xe1" + struct.pack(">H", 65535) + bytes(65533)
    return jpeg[:2] + app + app + jpeg[2:]  # 128 kB of APP1 before everything else


def _png_bomb() -> bytes:
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk


BOMBS = {
    "gif_35_bytes": _gif_bomb,
    "jpeg_stray_byte_before_sof": _stray_byte_bomb,
    "jpeg_sof_after_128kB_app": _app_segments_bomb,
    "png_ihdr": _png_bomb,
}


def test_header_reader_sees_through_stray_bytes_and_long_app_segments() -> None:
    assert read_header(_stray_byte_bomb()) == read_header(_app_segments_bomb())
    header = read_header(_app_segments_bomb())
    assert (header.format, header.width, header.height) == ("jpeg", 30000, 30000)
    assert read_header(_png_bomb()).width == 30000
    real = read_header(_jpeg(40, 24))
    assert (real.width, real.height) == (40, 24)


def test_header_reader_agrees_with_libjpeg_on_a_stray_byte() -> None:
    """A real JPEG with a stray byte before its SOF still decodes, at the size we read."""
    jpeg = _jpeg(40, 24)
    sof = _sof_offset(jpeg)
    shifted = jpeg[:sof] + b"\x00" + jpeg[sof:]
    header = read_header(shifted)
    image = decode_compressed(shifted)
    assert image.shape[:2] == (header.height, header.width) == (24, 40)


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a" + bytes(40),
        b"BM" + bytes(60),
        b"\xff\xd8\xff\xda\x00\x02",
        b"\xff\xd8" + bytes(9000),
    ],
)
def test_header_reader_refuses_other_formats_and_jpegs_without_sof(data: bytes) -> None:
    with pytest.raises(HeaderError):
        read_header(data)


def test_decoding_a_gif_is_refused_even_when_opencv_could() -> None:
    ok, gif_like = cv2.imencode(".bmp", np.zeros((4, 4, 3), np.uint8))
    assert ok
    with pytest.raises(ImageDecodeError, match="not a JPEG or PNG"):
        decode_compressed(gif_like.tobytes())


_MEMORY_PROBE = """
import json, resource, sys
from bodypose3d_ros.core.image.image_decode import ImageDecodeError, decode_compressed
import tests_payloads
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
outcomes = {}
for name, data in tests_payloads.PAYLOADS.items():
    try:
        decode_compressed(data, max_pixels=1 << 40)
        outcomes[name] = "decoded"
    except ImageDecodeError as error:
        outcomes[name] = str(error)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"outcomes": outcomes, "peak_rss_growth_kib": after - before}))
"""


def test_decompression_bombs_are_refused_without_allocating_their_pixels(tmp_path: Path) -> None:
    """Even with no pixel limit at all, each bomb fails on its declared size, never decoded.

    Each bomb would need 30000 x 30000 x 3 bytes = 2.7 GB; the process may grow by 64 MiB at most.
    """
    payloads = {name: make() for name, make in BOMBS.items()}
    (tmp_path / "tests_payloads.py").write_text(f"PAYLOADS = {payloads!r}\n")
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE],
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for name, outcome in report["outcomes"].items():
        assert outcome != "decoded", name
        assert "30000x30000" in outcome or "not a JPEG or PNG" in outcome, (name, outcome)
    assert report["peak_rss_growth_kib"] < 64 * 1024, report


@pytest.mark.parametrize(
    ("width", "height"), [(32767, 2), (65536, 1), (1, 65536), (MAX_IMAGE_SIDE + 1, 1)]
)
def test_raw_images_with_a_huge_side_are_rejected_before_decoding(width: int, height: int) -> None:
    data = bytes(width * height * 3)  # a complete, well-formed payload
    with pytest.raises(ImageDecodeError, match=f"each side must be at most {MAX_IMAGE_SIDE}"):
        decode_raw(data, width, height, width * 3, "bgr8", max_pixels=1 << 40)


def test_valid_small_jpeg_with_a_huge_side_is_rejected() -> None:
    jpeg = _jpeg(32767, 8)
    assert len(jpeg) < 64 * 1024  # a small, perfectly valid file
    with pytest.raises(ImageDecodeError, match="32767x8"):
        decode_compressed(jpeg)


def test_largest_allowed_side_still_decodes() -> None:
    image = decode_raw(bytes(MAX_IMAGE_SIDE * 2 * 3), MAX_IMAGE_SIDE, 2, MAX_IMAGE_SIDE * 3, "bgr8")
    assert image.shape == (2, MAX_IMAGE_SIDE, 3)


def test_opencv_allocation_cap_is_set_before_opencv_loads() -> None:
    """The package caps OpenCV's decoder (OPENCV_IO_MAX_IMAGE_PIXELS) as soon as it is imported."""
    script = (
        "import bodypose3d_ros, os, cv2, numpy as np\n"
        "print(os.environ['OPENCV_IO_MAX_IMAGE_PIXELS'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_IO_MAX_IMAGE_PIXELS"}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    from bodypose3d_ros import OPENCV_MAX_IMAGE_PIXELS

    assert int(result.stdout.strip()) == OPENCV_MAX_IMAGE_PIXELS < 30000 * 30000


_PIPELINE_PROBE = """
import numpy as np
from bodypose3d_ros.core.image.image_decode import ImageDecodeError
from bodypose3d_ros.core.camera.intrinsics import default_intrinsics
from bodypose3d_ros.core.models.factory import create_model
from bodypose3d_ros.core.pipeline import PosePipeline

pipeline = PosePipeline(create_model("blazepose", None))
for width, height in ((32767, 8), (8, 32767)):
    try:
        pipeline.process(
            np.zeros((height, width, 3), np.uint8), default_intrinsics(width, height, 0.6), 1.0
        )
        print("processed", width, height)
    except ImageDecodeError as error:
        print("refused:", error)
print("alive")
"""


def test_the_pipeline_refuses_a_huge_side_whatever_read_the_image() -> None:
    """The offline CLI and demo read images with OpenCV, not the node's decoder: the pipeline
    itself must refuse what would abort the model (run apart: an abort would end pytest)."""
    result = subprocess.run(
        [sys.executable, "-c", _PIPELINE_PROBE], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("refused:") == 2, result.stdout
    assert "each side must be at most" in result.stdout
    assert result.stdout.strip().endswith("alive")


def test_seeded_fuzz_of_raw_geometry_only_ever_gives_bgr_or_a_decode_error() -> None:
    """Random sizes (up to 2**32 - 1), steps, data lengths and encodings, seeded: each either
    decodes to (height, width, 3) uint8 or raises ImageDecodeError, nothing else."""
    rng = random.Random(11)
    encodings = [*SUPPORTED_ENCODINGS, "", "BGR8", "jpeg"]
    sides = [0, 1, 2, 3, 7, 8, 64, 16384, 16385, 32767, 65536, 2**32 - 1]
    decoded = 0
    for _ in range(3000):
        width, height = rng.choice(sides), rng.choice(sides)
        step = rng.choice([0, 1, width, 2 * width, 3 * width, 3 * width + 1, 2**32 - 1])
        full = step * height * 3 // 2
        size = full if full <= 1 << 20 and rng.random() < 0.7 else rng.choice([0, 1, 100])
        try:
            image = decode_raw(
                bytes(size), width, height, step, rng.choice(encodings), rng.random() < 0.5
            )
        except ImageDecodeError:
            continue
        decoded += 1
        assert image.shape == (height, width, 3)
        assert image.dtype == np.uint8
    assert decoded > 50  # the fuzz reached the decoders, not only the checks


def test_seeded_fuzz_of_damaged_files_never_decodes_a_size_the_header_did_not_declare(
    person_image_path: Path,
) -> None:
    """Bit flips, inserted and deleted bytes and truncation of real JPEGs and a PNG: whenever a
    damaged file still decodes, it has exactly the size read from its header, so the size
    check before decoding cannot be bypassed."""
    photo = cv2.imread(str(person_image_path))[:64, :96]
    seeds = [
        cv2.imencode(".jpg", photo)[1].tobytes(),
        cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes(),
        cv2.imencode(".png", photo)[1].tobytes(),
    ]
    rng = random.Random(12)
    decoded = 0
    for _ in range(1500):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            operation = rng.random()
            if operation < 0.4:
                data[at] = rng.randrange(256)
            elif operation < 0.6:
                data.insert(at, rng.choice([0x00, 0xFF, rng.randrange(256)]))
            elif operation < 0.8:
                del data[at]
            else:
                del data[max(at, 2) :]
        try:
            image = decode_compressed(bytes(data))
        except ImageDecodeError:
            continue
        decoded += 1
        header = read_header(bytes(data))
        assert image.shape[:2] == (header.height, header.width)
    assert decoded > 50
