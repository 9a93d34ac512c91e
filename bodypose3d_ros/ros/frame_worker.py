"""The node's worker: the newest image in, Pose3DArray / markers / debug image out, counted.

Subscriptions only park the newest serialized frame in a one-item slot (older waiting frames are
dropped and counted); one thread takes it, decodes, runs the pipeline and publishes. Inference
never blocks the executor, and outputs never lag behind a queue of stale frames. Anything a
frame can cause is caught here, logged (throttled), counted, and the next frame is served.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CompressedImage, Image

from bodypose3d_ros.core.engines.base import EngineUnavailableError
from bodypose3d_ros.core.image.image_decode import ImageDecodeError
from bodypose3d_ros.core.image.untrusted_text import clip
from bodypose3d_ros.core.pipeline import PosePipeline
from bodypose3d_ros.core.types import PeopleCounts
from bodypose3d_ros.ros.conversions import bgr_to_image_msg, compressed_to_bgr, image_to_bgr
from bodypose3d_ros.ros.depth_input import DepthInput
from bodypose3d_ros.ros.intrinsics_source import IntrinsicsSource
from bodypose3d_ros.ros.latest_slot import LatestSlot
from bodypose3d_ros.ros.markers import MarkerBuilder
from bodypose3d_ros.ros.parameters import NodeParameters
from bodypose3d_ros.ros.pose_array_builder import PoseArrayBuilder
from bodypose3d_ros.ros.stats import LatencyStats, RateMeter

LOG_THROTTLE_S = 5.0
MAX_LOGGED_ERROR_CHARS = 300


@dataclass
class Frame:
    """A serialized image message waiting for the worker, with its type and when it arrived.

    Images are taken from DDS still serialized and only the frame the worker picks is turned into
    a message: a frame that is dropped (a newer one came first) costs one copy, not a full
    deserialisation.
    """

    serialized: bytes
    msg_type: type[Image] | type[CompressedImage]
    received: float
    received_stamp: float = 0.0
    """Arrival on the node's ROS clock (the clock of image stamps), for images with no stamp."""


@dataclass
class Outputs:
    """Where a processed frame goes: the configured publishers and the marker builder."""

    poses: Any
    markers: Any | None = None
    debug_image: Any | None = None
    marker_builder: MarkerBuilder | None = None


@dataclass(frozen=True)
class WorkerCounters:
    """The worker's counters and rates at one moment, for diagnostics.

    Named as in :class:`~bodypose3d_ros.ros.diagnostics.DiagnosticsSnapshot`, which takes them
    as they are; ``engine_outage`` becomes its model status.
    """

    input_rate_hz: float
    output_rate_hz: float
    processing_ms_p50: float
    processing_ms_p95: float
    people_tracked: int
    detector_ms_p50: float
    frames_received: int
    frames_processed: int
    frames_dropped: int
    frames_rejected: int
    recent_rejects: int
    recent_inputs: int
    people_not_lifted: int
    people_detected: int
    people_fitted: int
    people_from_detector_keypoints: int
    people_dropped: int
    last_error: str
    engine_outage: str


class FrameWorker:
    """One thread that turns the newest parked frame into messages; see the module docstring."""

    def __init__(
        self,
        logger: Any,
        intrinsics: IntrinsicsSource,
        depth: DepthInput,
        ros_ok: Callable[[], bool],
    ) -> None:
        self._logger = logger
        self._slot: LatestSlot[Frame] = LatestSlot()
        self._intrinsics, self._depth = intrinsics, depth
        self._ros_ok = ros_ok  # False once ROS shuts down: a frame failing then is not at fault
        self._thread: threading.Thread | None = None
        self._pipeline: PosePipeline | None = None
        self._params = NodeParameters()
        self._outputs: Outputs | None = None
        self._pose_arrays = PoseArrayBuilder()  # worker thread only
        self._last_stamp: float | None = None
        self._lock = threading.Lock()
        self._input_rate = RateMeter()
        self._output_rate = RateMeter()
        self._processing = LatencyStats()
        self._detector_time = LatencyStats()
        self._recent_rejects = RateMeter()
        self._received = self._processed = self._rejected = 0
        self._people_tracked = self._people_not_lifted = 0
        self._people = PeopleCounts()  # totals of the frames' counts
        self._last_error = ""
        # Set while the engine cannot run (e.g. its inference server is down): diagnostics ERROR.
        self.engine_outage = ""

    # ----------------------------------------------------------------------- control
    def park(self, frame: Frame) -> None:
        """Called from the subscriptions: count the frame and make it the newest one waiting."""
        with self._lock:
            self._received += 1
            self._input_rate.tick(frame.received)
        self._slot.put(frame)

    def start(self, pipeline: PosePipeline, params: NodeParameters, outputs: Outputs) -> None:
        self._pipeline, self._params, self._outputs = pipeline, params, outputs
        self._slot.reopen()
        self._depth.resume()
        self._thread = threading.Thread(target=self._work, name="bodypose3d_worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current frame; never abandon it mid-inference (a wait for its depth
        image ends at once: the frame goes on without it; a wait for a server's answer ends too,
        losing that frame).

        The model must not be closed (or a second worker started) under a running inference,
        which can take long on a first TensorRT/CUDA call or a slow CPU: wait, saying so.
        """
        self._slot.close()
        self._depth.interrupt()  # a frame waiting for its depth image stops waiting
        pipeline = self._pipeline
        if pipeline is not None:
            pipeline.interrupt()  # and one waiting for a remote model's answer (Triton)
        thread = self._thread
        if thread is not None:
            thread.join(timeout=10.0)
            while thread.is_alive():
                self._logger.warning("waiting for the current frame to finish...")
                thread.join(timeout=10.0)
            self._thread = None
        self._slot.clear()
        self._pipeline = self._outputs = None

    def note_error(self, message: str, count_rejected: bool = False) -> None:
        """Make ``message`` the last error (clipped: it may quote untrusted fields) and log it."""
        message = clip(message, MAX_LOGGED_ERROR_CHARS)
        with self._lock:
            if count_rejected:
                self._rejected += 1
                self._recent_rejects.tick(time.monotonic())
            self._last_error = message
        self._logger.warning(message, throttle_duration_sec=LOG_THROTTLE_S)

    def note_bad_depth(self, message: str) -> None:
        """A rejected depth frame is recent bad input (the colour frame itself is still served)."""
        message = clip(message, MAX_LOGGED_ERROR_CHARS)
        with self._lock:
            self._recent_rejects.tick(time.monotonic())
            self._last_error = message

    def set_last_error(self, message: str) -> None:
        with self._lock:
            self._last_error = message

    def counters(self) -> WorkerCounters:
        now = time.monotonic()
        with self._lock:
            return WorkerCounters(
                input_rate_hz=self._input_rate.rate(now),
                output_rate_hz=self._output_rate.rate(now),
                processing_ms_p50=self._processing.percentile(50),
                processing_ms_p95=self._processing.percentile(95),
                people_tracked=self._people_tracked,
                detector_ms_p50=self._detector_time.percentile(50),
                frames_received=self._received,
                frames_processed=self._processed,
                frames_dropped=self._slot.dropped,
                frames_rejected=self._rejected,
                recent_rejects=self._recent_rejects.count(now),
                recent_inputs=self._input_rate.count(now),
                people_not_lifted=self._people_not_lifted,
                **self._people.diagnostics(),
                last_error=self._last_error,
                engine_outage=self.engine_outage,
            )

    # ----------------------------------------------------------------------- the thread
    def _work(self) -> None:
        while True:
            frame = self._slot.take()
            if frame is None:
                return
            try:
                self._process(frame)
                self.engine_outage = ""
            except EngineUnavailableError as error:  # the engine recovers by itself; keep going
                self.engine_outage = str(error)
                self.note_error(f"frame lost: {error}", count_rejected=True)
            except (ImageDecodeError, ValueError) as error:
                self.note_error(f"bad input image: {error}", count_rejected=True)
            except Exception as error:  # the worker must survive anything a frame can cause
                if not self._ros_ok():
                    return  # ROS is shutting down under this frame: not the frame's fault
                self.note_error(
                    f"frame failed: {type(error).__name__}: {error}", count_rejected=True
                )

    def _process(self, frame: Frame) -> None:
        pipeline, outputs, p = self._pipeline, self._outputs, self._params
        if pipeline is None or outputs is None:
            return
        msg = deserialize_message(frame.serialized, frame.msg_type)
        start = time.perf_counter()
        if isinstance(msg, CompressedImage):
            image = compressed_to_bgr(msg, p.max_image_pixels)
        else:
            image = image_to_bgr(msg, p.max_image_pixels)
        height, width = image.shape[:2]
        intrinsics = self._intrinsics.for_image(
            width, height, p.default_focal_ratio, p.use_rectified_intrinsics
        )
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        if stamp <= 0.0:  # some drivers leave stamps empty: the arrival time, on the same clock
            stamp = frame.received_stamp
        self._check_stamp_order(stamp)
        depth = None
        if p.use_depth:
            depth = self._depth.for_frame(
                stamp, width, height, p.depth_max_time_offset_s, p.max_image_pixels
            )
        result = pipeline.process(image, intrinsics, stamp, depth)
        if p.use_depth:
            self._depth.count_people(result.people, result.depth_fallbacks)
        outputs.poses.publish(self._pose_arrays.build(msg.header, result.people, width, height))
        # Markers and the debug image are for people watching: not built while nobody subscribes.
        markers, builder = outputs.markers, outputs.marker_builder
        if markers is not None and builder is not None and markers.get_subscription_count():
            markers.publish(builder.build(msg.header, result.people, result.lost_ids))
        debug = outputs.debug_image
        if debug is not None and debug.get_subscription_count():
            from bodypose3d_ros.core.output.drawing import draw_overlay

            overlay = draw_overlay(image, result.people, min_confidence=p.marker_min_confidence)
            debug.publish(bgr_to_image_msg(overlay, msg.header))
        elapsed_ms = (time.perf_counter() - start) * 1e3
        with self._lock:
            self._people_not_lifted += result.lift_failures
            self._people += result.counts
            self._people_tracked = result.tracked
            if result.detector_ran:
                self._detector_time.add(result.timings_ms["detector"])
            self._processed += 1
            self._processing.add(elapsed_ms)
            self._output_rate.tick(time.monotonic())

    def _check_stamp_order(self, stamp: float) -> None:
        last, self._last_stamp = self._last_stamp, stamp
        if last is not None and stamp <= last:
            self._logger.warning(
                f"image stamps do not increase ({stamp:.3f} s after {last:.3f} s): such frames "
                "are published unsmoothed; fix the camera driver's stamps",
                once=True,
            )
