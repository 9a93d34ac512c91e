"""BodyPose3DNet's tensor contract (reference section 1) and the start-up check against it.

Checking names and shapes when the model loads turns "wrong file" into one clear error at start-up
instead of a shape error on the first frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from bodypose3d_ros.core.engines.base import ModelLoadError
from bodypose3d_ros.core.models.bodypose3dnet_crop import CROP_HEIGHT, CROP_WIDTH
from bodypose3d_ros.core.skeleton import NUM_KEYPOINTS, NUM_LIMB_SLOTS

# A dimension: a size, or symbolic (a name, None, or -1 as TensorRT reports it).
Dim = int | str | None

BATCH: Final = "batch"
CROP_CHANNELS: Final = 3

MODEL_FILES_HINT: Final = (
    "set model_path to a BodyPose3DNet .onnx from NGC "
    "(bodypose3dnet_performance.onnx / bodypose3dnet_accuracy.onnx)"
)


@dataclass(frozen=True)
class TensorSpec:
    """A named tensor with its shape (batch first) and element type (NumPy name)."""

    name: str
    shape: tuple[Dim, ...]
    dtype: str = "float32"

    def describe(self) -> str:
        dims = ", ".join(_dim_text(d) for d in self.shape)
        return f"{self.name} [{dims}] {self.dtype}"


INPUT_SPECS: Final[tuple[TensorSpec, ...]] = (
    TensorSpec("input0", (BATCH, CROP_CHANNELS, CROP_HEIGHT, CROP_WIDTH)),
    TensorSpec("k_inv", (BATCH, 3, 3)),
    TensorSpec("t_form_inv", (BATCH, 3, 3)),
    TensorSpec("scale_normalized_mean_limb_lengths", (BATCH, NUM_LIMB_SLOTS)),
    TensorSpec("mean_limb_lengths", (BATCH, NUM_LIMB_SLOTS)),
)
OUTPUT_SPECS: Final[tuple[TensorSpec, ...]] = (
    TensorSpec("pose2d", (BATCH, NUM_KEYPOINTS, 3)),
    TensorSpec("pose2d_org_img", (BATCH, NUM_KEYPOINTS, 3)),
    TensorSpec("pose25d", (BATCH, NUM_KEYPOINTS, 4)),
    TensorSpec("pose3d", (BATCH, NUM_KEYPOINTS, 3)),
)
INPUT_NAMES: Final[tuple[str, ...]] = tuple(s.name for s in INPUT_SPECS)
OUTPUT_NAMES: Final[tuple[str, ...]] = tuple(s.name for s in OUTPUT_SPECS)


def _dim_text(dim: Dim) -> str:
    return str(dim) if is_fixed(dim) else (dim if isinstance(dim, str) else "?")


def is_fixed(dim: Dim) -> bool:
    """True for a known size; symbolic names, None and TensorRT's -1 are dynamic."""
    return isinstance(dim, int) and dim > 0


def _problems(kind: str, expected: Sequence[TensorSpec], found: Sequence[TensorSpec]) -> list[str]:
    found_by_name = {spec.name: spec for spec in found}
    expected_names = [spec.name for spec in expected]
    problems: list[str] = []
    missing = [name for name in expected_names if name not in found_by_name]
    unexpected = [spec.name for spec in found if spec.name not in expected_names]
    if missing:
        problems.append(f"missing {kind}s: {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected {kind}s: {', '.join(unexpected)}")
    for want in expected:
        got = found_by_name.get(want.name)
        if got is None:
            continue
        if not _shape_matches(want.shape, got.shape):
            problems.append(f"{kind} {got.describe()} should be {want.describe()}")
        elif got.dtype != want.dtype:
            problems.append(f"{kind} {got.name} has type {got.dtype}, expected {want.dtype}")
    return problems


def _shape_matches(want: tuple[Dim, ...], got: tuple[Dim, ...]) -> bool:
    """Fixed expected sizes must match where the model states a size; the batch may be anything.

    A symbolic size in the model cannot be checked statically; the adapter checks real output
    shapes on every run.
    """
    if len(want) != len(got):
        return False
    return all(
        not is_fixed(w) or not is_fixed(g) or w == g for w, g in zip(want[1:], got[1:], strict=True)
    )


def check_model_io(
    found_inputs: Sequence[TensorSpec], found_outputs: Sequence[TensorSpec]
) -> int | None:
    """Raise :class:`ModelLoadError` unless the model has BodyPose3DNet's inputs and outputs.

    Returns the batch size the model is fixed to, or None when the batch is dynamic (the
    published files), so an engine can cap its chunk size.
    """
    problems = _problems("input", INPUT_SPECS, found_inputs) + _problems(
        "output", OUTPUT_SPECS, found_outputs
    )
    if problems:
        raise ModelLoadError(
            "the model's tensors do not match BodyPose3DNet: "
            + "; ".join(problems)
            + ".\n  expected inputs:  "
            + ", ".join(s.describe() for s in INPUT_SPECS)
            + "\n  found inputs:     "
            + ", ".join(s.describe() for s in found_inputs)
            + "\n  expected outputs: "
            + ", ".join(s.describe() for s in OUTPUT_SPECS)
            + "\n  found outputs:    "
            + ", ".join(s.describe() for s in found_outputs)
            + f"\n  fix: {MODEL_FILES_HINT}"
        )
    fixed_batches = [s.shape[0] for s in found_inputs if s.shape and is_fixed(s.shape[0])]
    return min(b for b in fixed_batches if isinstance(b, int)) if fixed_batches else None


def check_model_file(model_path: str | Path) -> Path:
    """The path if it names an existing file; otherwise a ModelLoadError naming the fix."""
    path = Path(model_path).expanduser()
    if not path.exists():
        raise ModelLoadError(f"model file not found: {path} — {MODEL_FILES_HINT}")
    if not path.is_file():
        raise ModelLoadError(f"model path is not a file: {path} — {MODEL_FILES_HINT}")
    return path
