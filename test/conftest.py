"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# A real photo of a standing person (Debian's darknet package, data/person.jpg, 640x424);
# the environment setup fetches it here.
CACHED_PERSON_IMAGE = REPO_ROOT / ".cache" / "data" / "person.jpg"


@pytest.fixture(scope="session")
def person_image_path() -> Path:
    """The person photo: $BODYPOSE3D_TEST_IMAGE, else the cached copy; skip if neither exists."""
    from_env = os.environ.get("BODYPOSE3D_TEST_IMAGE")
    for candidate in ([Path(from_env)] if from_env else []) + [CACHED_PERSON_IMAGE]:
        if candidate.is_file():
            return candidate
    message = (
        f"person photo missing: set BODYPOSE3D_TEST_IMAGE or fetch it to {CACHED_PERSON_IMAGE}"
    )
    if os.environ.get("CI"):
        pytest.fail(message + " (tools/setup-env fetches it; CI must not skip these tests)")
    pytest.skip(message)


pytest_plugins = ["ros_fixtures"]
