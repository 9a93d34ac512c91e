"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import bodypose3d_ros  # noqa: F401  (first: telemetry off before a test imports onnxruntime)

REPO_ROOT = Path(__file__).resolve().parent.parent
# A real photo of a standing person (Debian's darknet package, data/person.jpg, 640x424);
# the environment setup fetches it here.
CACHED_PERSON_IMAGE = REPO_ROOT / ".cache" / "data" / "person.jpg"
# Real multi-person photos from the ultralytics wheel's assets, fetched by the setup as well:
# zidane.jpg (1280x720, two men) and bus.jpg (810x1080, two people in full, two cut by the border).
CACHED_ZIDANE_IMAGE = REPO_ROOT / ".cache" / "data" / "zidane.jpg"
CACHED_BUS_IMAGE = REPO_ROOT / ".cache" / "data" / "bus.jpg"


def _photo(variable: str, cached: Path, what: str) -> Path:
    """$variable, else the cached copy; skip if neither exists (fail under CI)."""
    from_env = os.environ.get(variable)
    for candidate in ([Path(from_env)] if from_env else []) + [cached]:
        if candidate.is_file():
            return candidate
    message = f"{what} missing: set {variable} or fetch it to {cached}"
    if os.environ.get("CI"):
        pytest.fail(message + " (tools/setup-env fetches it; CI must not skip these tests)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def person_image_path() -> Path:
    """The person photo: $BODYPOSE3D_TEST_IMAGE, else the cached copy; skip if neither exists."""
    return _photo("BODYPOSE3D_TEST_IMAGE", CACHED_PERSON_IMAGE, "person photo")


@pytest.fixture(scope="session")
def zidane_image_path() -> Path:
    """Two men, close up (ultralytics' zidane.jpg): $BODYPOSE3D_TEST_ZIDANE or the cached copy."""
    return _photo("BODYPOSE3D_TEST_ZIDANE", CACHED_ZIDANE_IMAGE, "zidane.jpg")


@pytest.fixture(scope="session")
def bus_image_path() -> Path:
    """People by a bus (ultralytics' bus.jpg): $BODYPOSE3D_TEST_BUS or the cached copy."""
    return _photo("BODYPOSE3D_TEST_BUS", CACHED_BUS_IMAGE, "bus.jpg")


@pytest.fixture(scope="session")
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model cache private to this test session (extracted MoveNet, BlazePose's bundle)."""
    return tmp_path_factory.mktemp("model_cache")


pytest_plugins = ["ros_fixtures"]
