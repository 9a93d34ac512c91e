"""Part 4: everyone in view: what one frame costs with 1, 2, 4 and 8 people.

The frames are built from a real photo: its person, cut out with a margin, is pasted 1, 2, 4 or
8 times side by side into a 1280x720 frame whose background is the same photo, blurred. Every
frame runs the node worker's pipeline after the detector (tracking, one crop per person, ONE
``estimate`` call for everyone, one batched lift, smoothing) and builds the Pose3DArray and the
RViz markers as the node does, for both pose models:

* ``blazepose``: the embedded BlazePose GHUM 3D, its landmark network on each person's rotated
  crop (one ``invoke`` per crop), aligned on the person's last landmarks once tracked;
* ``blazepose_batched``: the same with every crop of the frame in one batched ``invoke``;
* ``blazepose_tasks``: the former path, mediapipe's Tasks PoseLandmarker on each person's square
  crop (its face-based person detector and the landmark network, every crop, every frame), kept
  as a reference in ``bodypose3d_ros.testing.blazepose_tasks`` and timed in the same run;
* ``bodypose3dnet_fixture``: the BodyPose3DNet path (crop + normalise, ONNX Runtime, decode)
  on the contract TEST FIXTURE network, not the real one (its weights are not available here):
  its compute is tiny, so this path shows our per-person plumbing, not the network's speed. The
  fixture's confidences mean nothing, so every pose it returns is taken as a person.

The detector's boxes are replayed (the tiles' known boxes), because the detector's cost does not
grow with the number of people and MoveNet returns at most 6 people per call; the detector is
timed on its own on the 8-person frame (``detector_ms``), and ``frame_with_detector_ms`` adds it
to every frame (``detection_interval`` 1). ``overhead_ms_per_extra_person`` is what each person
beyond the first adds to the BodyPose3DNet path's frame besides the network's own run.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from bench.common import Frame, median_ms
from bench.replay import ReplayDetector
from bodypose3d_ros.core.camera.intrinsics import default_intrinsics
from bodypose3d_ros.core.engines.base import InferenceEngine, Tensor
from bodypose3d_ros.core.engines.onnxruntime_engine import OnnxRuntimeEngine
from bodypose3d_ros.core.models.blazepose import BlazePoseModel
from bodypose3d_ros.core.models.bodypose3dnet import BodyPose3DNetModel
from bodypose3d_ros.core.people.tracking import TrackerParams
from bodypose3d_ros.core.pipeline import PipelineConfig, PoseModel, PosePipeline
from bodypose3d_ros.core.types import Box
from bodypose3d_ros.testing.blazepose_tasks import TasksBlazePoseModel
from bodypose3d_ros.testing.contract_model import write_contract_model

PEOPLE = (1, 2, 4, 8)
SIZE = (1280, 720)
SLOTS = 8
PERSON_HEIGHT = 560  # px in the 1280x720 frame
MARGIN = 0.15  # of the person box, around the pasted cut-out


class _TimedEngine:
    """An engine wrapper that adds up the time spent in the network's ``run``."""

    def __init__(self, engine: InferenceEngine) -> None:
        self.engine = engine
        self.seconds = 0.0
        self.name = engine.name
        self.precision = engine.precision
        self.max_batch_size = engine.max_batch_size
        self.description = engine.description

    def run(self, feeds: Mapping[str, npt.NDArray[np.generic]]) -> dict[str, Tensor]:
        t0 = time.perf_counter()
        try:
            return self.engine.run(feeds)
        finally:
            self.seconds += time.perf_counter() - t0

    def close(self) -> None:
        self.engine.close()


def _person_box(photo: Frame) -> Box:
    """The photo's person (BlazePose on the whole photo)."""
    model = BlazePoseModel()
    try:
        height, width = photo.shape[:2]
        poses = model.estimate(
            photo, [Box.full_image(width, height)], default_intrinsics(width, height)
        )
    finally:
        model.close()
    if not poses:
        raise SystemExit("BlazePose found nobody in the photo: the multi-person frames need one")
    return poses[0].box


def tiled_frame(photo: Frame, person: Box, count: int) -> tuple[Frame, list[Box]]:
    """``count`` copies of the photo's person side by side on the blurred photo, and their boxes."""
    width, height = SIZE
    background = cv2.GaussianBlur(cv2.resize(photo, SIZE), (0, 0), 25)
    frame = np.ascontiguousarray(background, dtype=np.uint8)
    h, w = photo.shape[:2]
    x0 = max(0, int(person.x - MARGIN * person.width))
    y0 = max(0, int(person.y - MARGIN * person.height))
    x1 = min(w, int(person.x + (1 + MARGIN) * person.width))
    y1 = min(h, int(person.y + (1 + MARGIN) * person.height))
    cut = photo[y0:y1, x0:x1]
    scale = PERSON_HEIGHT / cut.shape[0]
    tile_w = min(width // SLOTS, round(cut.shape[1] * scale))
    tile = cv2.resize(cut, (tile_w, PERSON_HEIGHT), interpolation=cv2.INTER_AREA)
    sx, sy = tile_w / cut.shape[1], scale
    top = (height - PERSON_HEIGHT) // 2
    boxes = []
    for i in range(count):
        left = i * (width // SLOTS) + (width // SLOTS - tile_w) // 2
        frame[top : top + PERSON_HEIGHT, left : left + tile_w] = tile
        boxes.append(
            Box(
                left + (person.x - x0) * sx, top + (person.y - y0) * sy,
                person.width * sx, person.height * sy,
            )
        )  # fmt: skip
    return frame, boxes


def _frame_loop(
    models: dict[str, tuple[PoseModel | dict[int, PoseModel], TrackerParams, _TimedEngine | None]],
    frames: dict[int, tuple[Frame, list[Box]]],
    warmup: int,
    reps: int,
) -> dict[str, dict[int, dict[str, list[float]]]]:
    """Frame, model and network times (s) for every model and people count, interleaved.

    A model given as {people count: model} has one instance per pipeline (BlazePose remembers
    each pipeline's tracks)."""
    from std_msgs.msg import Header

    from bodypose3d_ros.ros.markers import MarkerBuilder
    from bodypose3d_ros.ros.pose_array_builder import PoseArrayBuilder

    intrinsics = default_intrinsics(*SIZE)
    builder = MarkerBuilder()
    pose_arrays = PoseArrayBuilder()  # as the node builds them
    header = Header(frame_id="bench_camera_optical_frame")
    pipelines = {
        (name, n): PosePipeline(
            model[n] if isinstance(model, dict) else model,
            PipelineConfig(tracker=tracker),
            ReplayDetector(frames[n][1]),
        )
        for name, (model, tracker, _) in models.items()
        for n in frames
    }
    samples: dict[str, dict[int, dict[str, list[float]]]] = {
        name: {n: {"frame": [], "model": [], "network": []} for n in frames} for name in models
    }
    for i in range(warmup + reps):
        stamp = 1000.0 + i / 30.0
        for (name, n), pipeline in pipelines.items():
            engine = models[name][2]
            if engine is not None:
                engine.seconds = 0.0
            image = frames[n][0]
            t0 = time.perf_counter()
            result = pipeline.process(image, intrinsics, stamp)
            pose_arrays.build(header, result.people, SIZE[0], SIZE[1])
            builder.build(header, result.people, result.lost_ids)
            t1 = time.perf_counter()
            if i < warmup:
                continue
            if len(result.people) != n:
                raise RuntimeError(
                    f"{name}: {len(result.people)} people published from a frame of {n}: "
                    "the benchmark would time the wrong amount of work"
                )
            samples[name][n]["frame"].append(t1 - t0)
            samples[name][n]["model"].append(result.timings_ms["model"] / 1e3)
            samples[name][n]["network"].append(engine.seconds if engine is not None else 0.0)
    return samples


def _detector_ms(frame: Frame, reps: int) -> tuple[float | None, str]:
    """The default detector's median time on a frame (None when there is no detector)."""
    from bodypose3d_ros.core.people.detectors.factory import DETECTORS, create_detector

    detector = create_detector(DETECTORS[0])
    if detector is None:
        return None, "none"
    try:
        for _ in range(3):
            detector.detect(frame, 0.0)
        samples = []
        for i in range(reps):
            t0 = time.perf_counter()
            detector.detect(frame, float(i))
            samples.append(time.perf_counter() - t0)
        return median_ms(samples), detector.description
    finally:
        detector.close()


def measure_multi_person(
    photo: Frame, warmup: int, reps: int, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """See the module docstring; every time is a median in milliseconds."""
    person = _person_box(photo)
    frames = {n: tiled_frame(photo, person, n) for n in PEOPLE}
    detector_ms, detector = _detector_ms(frames[max(PEOPLE)][0], max(10, reps // 5))
    log(f"  multi-person: detector {detector}: {detector_ms} ms")
    with tempfile.TemporaryDirectory(prefix="bodypose3d_bench_") as tmp:
        path = write_contract_model(Path(tmp) / "contract_fixture.onnx")
        engine = _TimedEngine(OnnxRuntimeEngine(path, max_batch_size=max(PEOPLE)))
        fixture = BodyPose3DNetModel(engine)
        direct = {n: BlazePoseModel() for n in PEOPLE}
        batched = {n: BlazePoseModel(batched=True) for n in PEOPLE}
        tasks = TasksBlazePoseModel()
        people = TrackerParams(min_hits=1, max_people=max(PEOPLE))
        models: dict[
            str, tuple[PoseModel | dict[int, PoseModel], TrackerParams, _TimedEngine | None]
        ] = {
            "blazepose": (dict(direct), people, None),
            "blazepose_batched": (dict(batched), people, None),
            "blazepose_tasks": (tasks, people, None),
            # Not a pose model: its confidences mean nothing, every pose counts as a person.
            "bodypose3dnet_fixture": (
                fixture,
                TrackerParams(min_hits=1, max_people=max(PEOPLE), min_keypoint_confidence=0.0),
                engine,
            ),
        }
        log(f"  multi-person: {PEOPLE} people, {reps} frames each, {len(models)} models")
        try:
            samples = _frame_loop(models, frames, warmup, reps)
        finally:
            for model, _, _ in models.values():
                for each in model.values() if isinstance(model, dict) else [model]:
                    each.close()
    frame_ms = {
        name: {str(n): median_ms(by_n[n]["frame"]) for n in PEOPLE}
        for name, by_n in samples.items()
    }
    model_ms = {
        name: {str(n): median_ms(by_n[n]["model"]) for n in PEOPLE}
        for name, by_n in samples.items()
    }
    fixture_samples = samples["bodypose3dnet_fixture"]
    besides_network = {
        n: median_ms(
            [f - e for f, e in zip(s["frame"], s["network"], strict=True)]
        )
        for n, s in fixture_samples.items()
    }  # fmt: skip
    lo, hi = min(PEOPLE), max(PEOPLE)
    per_extra = (besides_network[hi] - besides_network[lo]) / (hi - lo)
    fixture_frame = frame_ms["bodypose3dnet_fixture"]
    with_detector = (
        {name: {n: ms + detector_ms for n, ms in by_n.items()} for name, by_n in frame_ms.items()}
        if detector_ms is not None
        else None
    )
    return {
        "frame_size": f"{SIZE[0]}x{SIZE[1]}",
        "people": list(PEOPLE),
        "detector": detector,
        "detector_ms": detector_ms,
        "frame_ms": frame_ms,
        "model_ms": model_ms,
        "frame_with_detector_ms": with_detector,
        "bodypose3dnet_fixture_besides_network_ms": {str(n): v for n, v in besides_network.items()},
        "overhead_ms_per_extra_person": per_extra,
        "bodypose3dnet_fixture_8_to_1": fixture_frame[str(hi)] / fixture_frame[str(lo)],
        "blazepose_tasks_to_direct": {
            str(n): frame_ms["blazepose_tasks"][str(n)] / frame_ms["blazepose"][str(n)]
            for n in PEOPLE
        },
        "bodypose3dnet_fixture_8_to_1_with_detector": (
            with_detector["bodypose3dnet_fixture"][str(hi)]
            / with_detector["bodypose3dnet_fixture"][str(lo)]
            if with_detector is not None
            else None
        ),
    }
