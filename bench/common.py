"""Shared helpers: robust timing summaries, the benchmark's input frames, the machine's identity.

Absolute times on a shared machine are noisy, so every number is a median over many repetitions
after a warm-up, and the things that are compared are measured side by side in one run.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from bodypose3d_ros.core.types import Box, Pose25D

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PHOTO = REPO_ROOT / ".cache" / "data" / "person.jpg"
RESOLUTIONS: tuple[tuple[int, int], ...] = ((640, 480), (1280, 720))

Frame = npt.NDArray[np.uint8]


def resolution_key(size: tuple[int, int]) -> str:
    """``(1280, 720)`` -> ``"1280x720"``, the suffix of the result keys."""
    return f"{size[0]}x{size[1]}"


def median_ms(samples_s: Sequence[float]) -> float:
    """Median of durations given in seconds, in milliseconds."""
    return float(np.median(np.asarray(samples_s, dtype=np.float64))) * 1e3


def percentile_ms(samples_s: Sequence[float], p: float) -> float:
    """The ``p``-th percentile of durations given in seconds, in milliseconds."""
    return float(np.percentile(np.asarray(samples_s, dtype=np.float64), p)) * 1e3


def photo_path(explicit: Path | None) -> Path:
    """The photo to use: the flag, else $BODYPOSE3D_TEST_IMAGE, else the cached copy."""
    from_env = os.environ.get("BODYPOSE3D_TEST_IMAGE")
    for candidate in (explicit, Path(from_env) if from_env else None, DEFAULT_PHOTO):
        if candidate is not None and candidate.is_file():
            return candidate
    raise SystemExit(
        f"no photo found: pass --image, set BODYPOSE3D_TEST_IMAGE or fetch {DEFAULT_PHOTO} "
        "(tools/setup-env does)"
    )


def load_photo(path: Path) -> Frame:
    image = cv2.imread(str(path))
    if image is None:
        raise SystemExit(f"cannot read the photo {path}")
    return np.asarray(image, dtype=np.uint8)


def resized(image: Frame, size: tuple[int, int]) -> Frame:
    """The photo stretched to a camera resolution (as a camera of that size would deliver it)."""
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_LINEAR), dtype=np.uint8)


def load_video_frames(path: Path, size: tuple[int, int], limit: int) -> list[Frame]:
    """Up to ``limit`` frames of a clip, resized; kept in memory so streaming costs no decoding."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise SystemExit(f"cannot open the video {path}")
    frames: list[Frame] = []
    while len(frames) < limit:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(resized(np.asarray(frame, dtype=np.uint8), size))
    capture.release()
    if not frames:
        raise SystemExit(f"the video {path} has no readable frames")
    return frames


def crowd(pose: Pose25D, count: int, image_width: int) -> list[Pose25D]:
    """``count`` copies of one person side by side (shifted by a tenth of the image width each).

    The copies are far enough apart for the tracker to keep them as distinct people, so a
    replay of them exercises the per-person cost of tracking, lifting and messages.
    """
    step = image_width / 10.0
    people = []
    for i in range(count):
        dx = (i - (count - 1) / 2.0) * step
        box = pose.box
        people.append(
            Pose25D(
                uv=pose.uv + np.array([dx, 0.0]),
                z_rel=pose.z_rel.copy(),
                confidence=pose.confidence.copy(),
                box=Box(box.x + dx, box.y, box.width, box.height),
                score=pose.score - 1e-3 * i,
            )
        )
    return people


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on (they mean little without it)."""
    import mediapipe
    import onnxruntime
    import psutil

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "onnxruntime": onnxruntime.__version__,
        "mediapipe": mediapipe.__version__,
        "rmw_implementation": os.environ.get("RMW_IMPLEMENTATION", "(default)"),
        "load_average_at_start": [round(x, 2) for x in load],
    }
