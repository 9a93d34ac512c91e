"""Part 1: what the pipeline costs per frame besides the model, next to the model's own time.

For each camera resolution one loop runs the node worker's stages on the same frame, in the
node's order, and times each stage on every iteration:

* ``decode``: a *received* sensor_msgs/Image (serialised and deserialised, so its ``data`` is
  what a subscription hands over) -> BGR array via ``ros.conversions.image_to_bgr``;
* ``crop``: BodyPose3DNet's crop + normalise (``core.models.bodypose3dnet_crop.prepare_batch``)
  of the people's boxes, where that path runs it. BlazePose crops internally, so it is not in the
  BlazePose overhead;
* ``model``: the embedded BlazePose model's ``estimate`` on that frame (the reference);
* ``lift_smooth``: ``PosePipeline.process`` with a :class:`~bench.replay.ReplayPoseModel` that
  replays BlazePose's result, i.e. tracking + One-Euro smoothing + lifting, no network;
* ``pose_array`` / ``markers``: building the Pose3DArray and the RViz MarkerArray;
* ``publish``: rclpy ``publish`` of both (conversion to C and serialisation; no subscribers).

The overhead is decode + lift_smooth + pose_array + markers. Every stage runs right after the
model, as in the node: the model's ~10 ms of work evicts our code and data from the CPU caches,
which makes these small stages about twice as slow as in a tight loop of their own. That is what
a frame really costs, so it is what is measured; it also keeps the overhead/model ratio honest.
A second loop replays eight people (side by side) for the per-person part of the cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from bench.common import RESOLUTIONS, Frame, crowd, median_ms, resized, resolution_key
from bench.replay import ReplayDetector, ReplayPoseModel
from bodypose3d_ros.core.camera.intrinsics import Intrinsics, default_intrinsics
from bodypose3d_ros.core.models.blazepose import (
    NUM_BLAZEPOSE_LANDMARKS,
    BlazePoseModel,
    landmarks_to_pose25d,
)
from bodypose3d_ros.core.models.bodypose3dnet_crop import prepare_batch
from bodypose3d_ros.core.people.tracking import TrackerParams
from bodypose3d_ros.core.pipeline import PipelineConfig, PosePipeline
from bodypose3d_ros.core.types import Pose25D

FRAME_PERIOD_S = 1.0 / 30.0
CROWD = 8
STAGES = ("decode", "crop", "model", "lift_smooth", "pose_array", "markers", "publish")
HEADLINE_STAGES = ("decode", "lift_smooth", "pose_array", "markers")


def received_image(frame: Frame, stamp_s: float) -> Any:
    """A bgr8 Image exactly as a subscription delivers it (through CDR and back)."""
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import Image

    from bodypose3d_ros.ros.conversions import bgr_to_image_msg

    msg = bgr_to_image_msg(frame, _header(stamp_s))
    return deserialize_message(serialize_message(msg), Image)


def _header(stamp_s: float) -> Any:
    from std_msgs.msg import Header

    header = Header(frame_id="bench_camera_optical_frame")
    header.stamp.sec = int(stamp_s)
    header.stamp.nanosec = int((stamp_s - int(stamp_s)) * 1e9)
    return header


class _Publishers:
    """A throw-away rclpy node publishing what the node publishes (no one subscribes)."""

    def __init__(self) -> None:
        import rclpy
        from bodypose3d_ros.msg import Pose3DArray
        from rclpy.context import Context
        from visualization_msgs.msg import MarkerArray

        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("bodypose3d_bench_overhead", context=self.context)
        self.poses = self.node.create_publisher(Pose3DArray, "/bench_overhead/poses", 10)
        self.markers = self.node.create_publisher(MarkerArray, "/bench_overhead/markers", 10)

    def close(self) -> None:
        self.node.destroy_node()  # type: ignore[no-untyped-call]
        self.context.try_shutdown()


def _adapter_ms(frame: Frame, reps: int) -> float:
    """Median cost of the BlazePose adapter's own work (BGR->RGB, landmark mapping).

    It runs inside ``model_ms``; shown apart so that our share of that time is known. The
    landmarks are synthetic (the mapping's cost does not depend on their values).
    """
    rng = np.random.default_rng(0)
    image_lm = rng.uniform(0.2, 0.8, (NUM_BLAZEPOSE_LANDMARKS, 3))
    world = rng.normal(0.0, 0.3, (NUM_BLAZEPOSE_LANDMARKS, 3))
    height, width = frame.shape[:2]
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        landmarks_to_pose25d(image_lm, world, width, height)
        samples.append(time.perf_counter() - t0)
    return median_ms(samples)


def _stage_loop(
    frame: Frame,
    model: BlazePoseModel,
    poses: list[Pose25D],
    intrinsics: Intrinsics,
    publishers: _Publishers,
    warmup: int,
    reps: int,
) -> dict[str, list[float]]:
    """Run the worker's stages ``warmup + reps`` times; per-stage durations (s) of timed reps."""
    from bodypose3d_ros.ros.conversions import image_to_bgr
    from bodypose3d_ros.ros.markers import MarkerBuilder
    from bodypose3d_ros.ros.pose_array_builder import PoseArrayBuilder

    # Everyone published from the first frame (no confirmation wait: the warm-up needs them).
    config = PipelineConfig(tracker=TrackerParams(min_hits=1, max_people=max(len(poses), 1)))
    pipeline = PosePipeline(ReplayPoseModel(poses), config, ReplayDetector([p.box for p in poses]))
    builder = MarkerBuilder()
    pose_arrays = PoseArrayBuilder()  # as the node builds them
    boxes = [pose.box for pose in poses]
    height, width = frame.shape[:2]
    samples: dict[str, list[float]] = {name: [] for name in STAGES}
    base = time.time()
    for i in range(warmup + reps):
        stamp = base + i * FRAME_PERIOD_S
        msg = received_image(frame, stamp)  # a fresh message each frame, as in the node
        t0 = time.perf_counter()
        image = image_to_bgr(msg)
        t1 = time.perf_counter()
        prepare_batch(image, boxes, intrinsics.k)
        t2 = time.perf_counter()
        model.estimate(image, [], intrinsics)
        t3 = time.perf_counter()
        result = pipeline.process(image, intrinsics, stamp)
        t4 = time.perf_counter()
        pose_array = pose_arrays.build(msg.header, result.people, width, height)
        t5 = time.perf_counter()
        markers = builder.build(msg.header, result.people, result.lost_ids)
        t6 = time.perf_counter()
        publishers.poses.publish(pose_array)
        publishers.markers.publish(markers)
        t7 = time.perf_counter()
        if len(result.people) != len(poses):
            raise RuntimeError(
                f"replay of {len(poses)} people produced {len(result.people)}: "
                "the benchmark would time the wrong amount of work"
            )
        if i >= warmup:
            times = (t0, t1, t2, t3, t4, t5, t6, t7)
            for name, start, end in zip(STAGES, times, times[1:], strict=False):
                samples[name].append(end - start)
    return samples


def _reference_pose(model: BlazePoseModel, frame: Frame, intrinsics: Intrinsics) -> Pose25D:
    """BlazePose's result on the frame (what the replay hands back)."""
    model.reset()
    poses: list[Pose25D] = []
    for _ in range(3):  # the first call detects, later ones track: keep a tracked result
        poses = model.estimate(frame, [], intrinsics)
    if not poses:
        raise SystemExit("BlazePose found nobody in the photo: the overhead needs one person")
    return poses[0]


def _medians(samples: dict[str, list[float]], names: tuple[str, ...]) -> dict[str, float]:
    return {name: median_ms(samples[name]) for name in names}


def _per_frame_total(samples: dict[str, list[float]]) -> float:
    """Median over frames of the headline stages' sum (not the sum of the stage medians)."""
    count = len(samples[HEADLINE_STAGES[0]])
    return median_ms([sum(samples[s][i] for s in HEADLINE_STAGES) for i in range(count)])


def measure_overhead(
    photo: Frame, warmup: int, reps: int, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Per-stage medians (ms) at every resolution; see the module docstring for the stages."""
    model = BlazePoseModel()
    publishers = _Publishers()
    results: dict[str, Any] = {}
    try:
        for size in RESOLUTIONS:
            key = resolution_key(size)
            frame = resized(photo, size)
            intrinsics = default_intrinsics(size[0], size[1])
            pose = _reference_pose(model, frame, intrinsics)
            log(f"  overhead {key}: {reps} frames, 1 person")
            one = _stage_loop(frame, model, [pose], intrinsics, publishers, warmup, reps)
            log(f"  overhead {key}: {reps} frames, {CROWD} people replayed")
            people = crowd(pose, CROWD, size[0])
            many = _stage_loop(frame, model, people, intrinsics, publishers, warmup, reps)
            overhead_ms = _per_frame_total(one)
            model_ms = median_ms(one["model"])
            results[key] = {
                "stages_ms": _medians(one, STAGES),
                "overhead_ms": overhead_ms,
                "model_ms": model_ms,
                "overhead_to_model": overhead_ms / model_ms,
                "blazepose_adapter_ms": _adapter_ms(frame, reps),
                f"stages_ms_{CROWD}_people": _medians(
                    many, tuple(s for s in STAGES if s != "model")
                ),
                f"overhead_ms_{CROWD}_people": _per_frame_total(many),
            }
    finally:
        publishers.close()
        model.close()
    return results
