"""Build a :class:`PoseModel` from the user-facing settings (node parameters, CLI flags)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bodypose3d_ros.core.engines.base import ModelLoadError
from bodypose3d_ros.core.pipeline import PoseModel

if TYPE_CHECKING:
    from bodypose3d_ros.core.engines.triton_engine import TritonSettings

BACKENDS = ("blazepose", "bodypose3dnet")


def create_model(
    backend: str,
    model_path: str | None = None,
    *,
    engine: str = "auto",
    precision: str = "fp16",
    max_batch_size: int = 8,
    engine_cache_dir: str | None = None,
    force_engine_rebuild: bool = False,
    normalization: str = "bgr_unit",
    k_inv_mode: str = "crop_camera",
    triton: TritonSettings | None = None,
    log: Callable[[str], None] = print,
) -> PoseModel:
    """Load the model for ``backend``; raise ModelLoadError/ValueError with a fix-naming message."""
    if backend == "blazepose":
        from bodypose3d_ros.core.models.blazepose import BlazePoseModel

        return BlazePoseModel()
    if backend == "bodypose3dnet":
        if not model_path and engine != "triton":
            raise ModelLoadError(
                "backend 'bodypose3dnet' needs model_path: download bodypose3dnet_performance.onnx "
                "or bodypose3dnet_accuracy.onnx from NGC and set model_path to it"
            )
        from bodypose3d_ros.core.engines.factory import create_engine
        from bodypose3d_ros.core.models.bodypose3dnet import BodyPose3DNetModel

        inference = create_engine(
            engine,
            model_path or "",
            precision=precision,
            max_batch_size=max_batch_size,
            cache_dir=engine_cache_dir,
            force_rebuild=force_engine_rebuild,
            providers=None,
            triton=triton,
            log=log,
        )
        return BodyPose3DNetModel(inference, normalization=normalization, k_inv_mode=k_inv_mode)
    raise ValueError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
