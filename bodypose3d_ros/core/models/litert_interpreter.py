"""One way to open a BlazePose network with ai-edge-litert, so both networks fail alike."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

from bodypose3d_ros.core.engines.base import ModelLoadError

LITERT_REQUIREMENT: Final = "ai-edge-litert==2.3.0"


def open_interpreter(
    model_path: str | Path, num_threads: int, content: bytes | None = None
) -> tuple[Any, int]:
    """(allocated interpreter, threads) for ``model_path``, or for ``content`` (the network's
    bytes, e.g. a cut graph) named by ``model_path`` in errors.

    ``num_threads`` 0 means 2, or the cores there are if fewer: more would only compete with the
    stages after the network for the cores of a small robot computer. A missing runtime or an
    unloadable network is a ModelLoadError naming the fix or the file.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise ModelLoadError(
            f"the blazepose backend needs ai-edge-litert ({exc}); install it with: "
            f"pip install {LITERT_REQUIREMENT}"
        ) from exc
    if num_threads < 0:
        raise ValueError(f"num_threads must be >= 0, got {num_threads}")
    threads = num_threads or min(2, os.cpu_count() or 1)
    try:
        if content is None:
            interpreter = Interpreter(model_path=str(model_path), num_threads=threads)
        else:
            interpreter = Interpreter(model_content=content, num_threads=threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"ai-edge-litert cannot load {model_path}: {exc}") from exc
    return interpreter, threads
