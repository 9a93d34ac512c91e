"""The node's pipeline, built from its parameters: the model, the detector and their settings.

Loading is where most start-up failures happen (a missing model file, a wrong tensor name, an
unreachable inference server), so every failure becomes one :class:`PipelineSetupError` whose
message says what could not be loaded and why; the node fails its configure transition with it
instead of dying.
"""

from __future__ import annotations

from collections.abc import Callable

from bodypose3d_ros.core.models.factory import create_model
from bodypose3d_ros.core.people.detectors.factory import create_detector
from bodypose3d_ros.core.pipeline import PipelineConfig, PosePipeline
from bodypose3d_ros.ros.parameters import NodeParameters


class PipelineSetupError(RuntimeError):
    """The model or the detector could not be loaded; the message names which and why."""


def build_pipeline(p: NodeParameters, log: Callable[[str], None]) -> PosePipeline:
    """Load the pose model and the person detector named by ``p`` into one pipeline."""
    try:
        model = create_model(
            p.backend,
            p.model_path or None,
            engine=p.engine,
            precision=p.precision,
            max_batch_size=p.max_batch_size,
            engine_cache_dir=p.resolved_engine_cache_dir,
            force_engine_rebuild=p.force_engine_rebuild,
            normalization=p.input_normalization,
            k_inv_mode=p.k_inv_mode,
            triton=p.triton(),
            log=log,
        )
    except Exception as error:  # any load failure must fail the transition, not the process
        raise PipelineSetupError(f"could not load the {p.backend} model: {error}") from error
    try:
        detector = create_detector(
            p.detector,
            p.detector_model_path,
            input_size=p.detector_input_size,
            min_score=p.detector_min_score,
        )
    except Exception as error:  # a missing or wrong detector file fails configure
        model.close()
        raise PipelineSetupError(
            f"could not load the {p.detector} person detector: {error}"
        ) from error
    config = PipelineConfig(
        smoothing=p.smoothing,
        uv_filter=p.uv_filter(),
        z_rel_filter=p.z_rel_filter(),
        root_depth_filter=p.root_filter(),
        tracker=p.tracker(),
        bone_length_correction=p.bone_length_correction,
        detection_interval=p.detection_interval,
        max_pose_people=p.max_pose_people,
    )
    return PosePipeline(model, config, detector)
