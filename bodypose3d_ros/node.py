"""bodypose3d_node: Image + CameraInfo in; Pose3DArray, RViz skeletons and diagnostics out.

A lifecycle node. Configure loads the model (a bad parameter or model fails the transition with a
message naming the fix); activate subscribes and starts the worker; deactivate stops both; cleanup
frees the model. With ``autostart`` (default) a plain ``ros2 run`` configures and activates itself.

Threading: the image callback only parks the newest frame in a one-item slot (older waiting frames
are dropped and counted); one worker thread decodes, runs the pipeline and publishes. Inference
never blocks the executor, and outputs never lag behind a queue of stale frames.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.duration import Duration
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, QoSReliabilityPolicy, qos_profile_sensor_data
from rclpy.serialization import deserialize_message
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from visualization_msgs.msg import MarkerArray

from bodypose3d_ros.core.camera.intrinsics import Intrinsics, IntrinsicsError, default_intrinsics
from bodypose3d_ros.core.engines.base import EngineUnavailableError
from bodypose3d_ros.core.image.image_decode import ImageDecodeError
from bodypose3d_ros.core.image.untrusted_text import clip
from bodypose3d_ros.core.models.factory import create_model
from bodypose3d_ros.core.people.detectors.factory import create_detector
from bodypose3d_ros.core.pipeline import PipelineConfig, PosePipeline
from bodypose3d_ros.msg import Pose3DArray
from bodypose3d_ros.ros.conversions import (
    bgr_to_image_msg,
    camera_info_to_intrinsics,
    compressed_to_bgr,
    image_to_bgr,
)
from bodypose3d_ros.ros.depth_input import DepthInput
from bodypose3d_ros.ros.diagnostics import DiagnosticsSnapshot, build_diagnostics
from bodypose3d_ros.ros.latest_slot import LatestSlot
from bodypose3d_ros.ros.lifecycle_guard import guard_change_state
from bodypose3d_ros.ros.markers import MarkerBuilder
from bodypose3d_ros.ros.parameters import (
    DESCRIPTIONS,
    NodeParameters,
    ParameterError,
    check_parameter,
    defaults,
    parse_parameters,
)
from bodypose3d_ros.ros.pose_array_builder import PoseArrayBuilder
from bodypose3d_ros.ros.stats import LatencyStats, RateMeter
from bodypose3d_ros.ros.stop_signals import StopRequest

NODE_NAME = "bodypose3d_node"
LOG_THROTTLE_S = 5.0
# How long shutdown waits for subscribers to acknowledge the final DELETEALL of the markers.
MARKER_FLUSH_TIMEOUT_S = 2.0
MAX_LOGGED_ERROR_CHARS = 300


@dataclass
class _Frame:
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


class BodyPose3DNode(LifecycleNode):
    """The perception node; see the module docstring for its life cycle and threading."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        for name, value in defaults().items():
            # Dynamic typing: `-p default_focal_ratio:=1` (an integer) must not crash the start;
            # values are type-checked, and coerced where harmless, on configure.
            self.declare_parameter(
                name,
                value,
                ParameterDescriptor(description=DESCRIPTIONS.get(name, ""), dynamic_typing=True),
            )
        self.params = NodeParameters()
        self._pipeline: PosePipeline | None = None
        self._model_status = "not loaded"
        self._slot: LatestSlot[_Frame] = LatestSlot()
        self._worker: threading.Thread | None = None
        self._camera_info: CameraInfo | None = None
        self._inputs: list[Any] = []
        self._pub_poses: Any = None
        self._pub_markers: Any = None
        self._pub_debug: Any = None
        self._markers: MarkerBuilder | None = None
        self._diag_timer: Any = None
        self._intrinsics_source = "none yet"
        self._distortion = "none"
        self._distortion_warnings: set[str] = set()  # each is logged once
        self._people_not_lifted = 0
        self._last_error = ""
        # Set while the engine cannot run (e.g. its inference server is down): diagnostics ERROR.
        self._engine_outage = ""
        # CameraInfo (by identity, kept alive here) and image size of the cached intrinsics.
        self._last_intrinsics_key: tuple[CameraInfo | None, int, int] | None = None
        self._last_intrinsics: Intrinsics | None = None
        self._stats_lock = threading.Lock()
        self._input_rate = RateMeter()
        self._output_rate = RateMeter()
        self._processing = LatencyStats()
        self._pose_arrays = PoseArrayBuilder()  # worker thread only
        self._detector_time = LatencyStats()
        self._people_tracked = 0
        self._received = self._processed = self._rejected = 0
        self._recent_rejects = RateMeter()
        self._depth = DepthInput(
            self.get_logger(), self.resolve_topic_name("depth"), self._note_bad_depth, self._ros_now
        )
        self._camera_info_rejected = 0
        self._last_bad_camera_info: CameraInfo | None = None
        self._last_stamp: float | None = None
        self._pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diag_timer = self.create_timer(1.0, self._publish_diagnostics)
        self.add_on_set_parameters_callback(self._check_new_parameters)
        guard_change_state(self, lambda text: self.get_logger().warning(text))

    def _check_new_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        """Refuse a bad value at `ros2 param set` time, saying why (it applies on configure)."""
        problems = [check_parameter(p.name, p.value) for p in parameters]
        reason = "; ".join(problem for problem in problems if problem)
        return SetParametersResult(successful=not reason, reason=reason)

    # ----------------------------------------------------------------------- life cycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            raw = {name: self.get_parameter(name).value for name in defaults()}
            self.params = parse_parameters(raw)
        except ParameterError as error:
            self._fail(str(error))
            return TransitionCallbackReturn.FAILURE
        p = self.params
        self.destroy_timer(self._diag_timer)
        self._diag_timer = self.create_timer(p.diagnostics_period_s, self._publish_diagnostics)
        self._model_status = "loading"
        self.get_logger().info(f"configuring: loading the {p.backend} model")
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
                log=lambda text: self.get_logger().info(text),
            )
        except Exception as error:  # any load failure must fail the transition, not the process
            self._fail(f"could not load the {p.backend} model: {error}")
            return TransitionCallbackReturn.FAILURE
        try:
            detector = create_detector(
                p.detector,
                p.detector_model_path,
                input_size=p.detector_input_size,
                min_score=p.detector_min_score,
            )
        except Exception as error:  # a missing or wrong detector file fails configure
            model.close()
            self._fail(f"could not load the {p.detector} person detector: {error}")
            return TransitionCallbackReturn.FAILURE
        config = PipelineConfig(
            smoothing=p.smoothing,
            uv_filter=p.uv_filter(),
            z_rel_filter=p.z_rel_filter(),
            root_depth_filter=p.root_filter(),
            tracker=p.tracker(),
            bone_length_correction=p.bone_length_correction,
            detection_interval=p.detection_interval,
        )
        self._pipeline = PosePipeline(model, config, detector)
        self._model_status = "loaded"
        self._markers = MarkerBuilder(
            min_confidence=p.marker_min_confidence, lifetime_s=p.marker_lifetime_s
        )
        self._pub_poses = self.create_lifecycle_publisher(Pose3DArray, "poses", 10)
        if p.publish_markers:
            self._pub_markers = self.create_lifecycle_publisher(MarkerArray, "markers", 10)
        if p.publish_debug_image:
            self._pub_debug = self.create_lifecycle_publisher(Image, "debug_image", 1)
        self.get_logger().info(
            f"configured: backend={p.backend} engine={self._engine_description()} "
            f"detector={self._detector_description()} smoothing={p.smoothing}"
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        p = self.params
        qos = QoSProfile(
            history=qos_profile_sensor_data.history,
            depth=qos_profile_sensor_data.depth,
            durability=qos_profile_sensor_data.durability,
            reliability=(
                QoSReliabilityPolicy.RELIABLE
                if p.input_reliability == "reliable"
                else QoSReliabilityPolicy.BEST_EFFORT
            ),
        )
        if p.image_compressed:
            # image_transport's convention: the *resolved* (remapped) image topic + /compressed.
            compressed_topic = self.resolve_topic_name("image") + "/compressed"
            self._inputs.append(
                self.create_subscription(
                    CompressedImage, compressed_topic, self._on_compressed, qos, raw=True
                )
            )
        else:
            self._inputs.append(
                self.create_subscription(Image, "image", self._on_image, qos, raw=True)
            )
        # CameraInfo best effort whatever the image's reliability: a best-effort subscription
        # matches both kinds of publisher, and many drivers publish CameraInfo best effort.
        info_qos = QoSProfile(
            history=qos.history,
            depth=qos.depth,
            durability=qos.durability,
            reliability=QoSReliabilityPolicy.BEST_EFFORT,
        )
        self._inputs.append(
            self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, info_qos)
        )
        if p.use_depth:  # same QoS as the colour image: best effort by default, as drivers publish
            self._inputs.append(
                self.create_subscription(Image, "depth", self._depth.on_message, qos)
            )
        self._slot.reopen()
        self._worker = threading.Thread(target=self._work, name="bodypose3d_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"active: listening on {self._inputs[0].topic_name} and {self._inputs[1].topic_name}"
        )
        result = super().on_activate(state)
        self._delete_markers()  # skeletons a previous run (or a crashed node) left in RViz
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_inputs()
        self._stop_worker()
        self._delete_markers()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_inputs()
        self._stop_worker()
        self._delete_markers(flush=True)
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def shut_down(self) -> None:
        """Leave in order (last frame finished, markers cleared) from whatever state we are in."""
        if self._state_label() in ("unconfigured", "inactive", "active") and self.context.ok():
            self.trigger_shutdown()
        self._stop_worker()

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_inputs()
        self._stop_worker()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _stop_inputs(self) -> None:
        for subscription in self._inputs:
            self.destroy_subscription(subscription)
        self._inputs.clear()
        self._depth.clear()

    def _fail(self, message: str) -> None:
        self._model_status = f"error: {message}"
        self._last_error = message
        self.get_logger().error(message)

    def _stop_worker(self) -> None:
        """Stop the worker after its current frame; never abandon it mid-inference.

        The model must not be closed (or a second worker started) under a running inference,
        which can take long on a first TensorRT/CUDA call or a slow CPU: wait, saying so.
        """
        self._slot.close()
        worker = self._worker
        if worker is not None:
            worker.join(timeout=10.0)
            while worker.is_alive():
                self.get_logger().warning("waiting for the current frame to finish...")
                worker.join(timeout=10.0)
            self._worker = None
        self._slot.clear()

    def _release(self) -> None:
        self._engine_outage = ""
        for publisher in (self._pub_poses, self._pub_markers, self._pub_debug):
            if publisher is not None:
                self.destroy_lifecycle_publisher(publisher)
        self._pub_poses = self._pub_markers = self._pub_debug = None
        if self._pipeline is not None:
            self._pipeline.close()
            self._pipeline = None
        if not self._model_status.startswith("error"):
            self._model_status = "not loaded"

    # ----------------------------------------------------------------------- inputs
    def _on_image(self, serialized: bytes) -> None:
        self._park(_Frame(serialized, Image, time.monotonic(), self._ros_now()))

    def _on_compressed(self, serialized: bytes) -> None:
        self._park(_Frame(serialized, CompressedImage, time.monotonic(), self._ros_now()))

    def _ros_now(self) -> float:
        return float(self.get_clock().now().nanoseconds) * 1e-9

    def _park(self, frame: _Frame) -> None:
        with self._stats_lock:
            self._received += 1
            self._input_rate.tick(frame.received)
        self._slot.put(frame)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = (
            msg  # intrinsics rarely change: the newest one is used, no exact pairing
        )

    # ----------------------------------------------------------------------- worker
    def _work(self) -> None:
        while True:
            frame = self._slot.take()
            if frame is None:
                return
            try:
                self._process(frame)
                self._engine_outage = ""
            except EngineUnavailableError as error:  # the engine recovers by itself; keep going
                self._engine_outage = str(error)
                self._reject(f"frame lost: {error}")
            except (ImageDecodeError, ValueError) as error:
                self._reject(f"bad input image: {error}")
            except Exception as error:  # the worker must survive anything a frame can cause
                if not self.context.ok():
                    return  # ROS is shutting down under this frame: not the frame's fault
                self._reject(f"frame failed: {type(error).__name__}: {error}")

    def _process(self, frame: _Frame) -> None:
        pipeline = self._pipeline
        if pipeline is None:
            return
        msg = deserialize_message(frame.serialized, frame.msg_type)
        p = self.params
        start = time.perf_counter()
        if isinstance(msg, CompressedImage):
            image = compressed_to_bgr(msg, p.max_image_pixels)
        else:
            image = image_to_bgr(msg, p.max_image_pixels)
        height, width = image.shape[:2]
        intrinsics = self._intrinsics_for(width, height)
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
            self._depth.count_people(result.people)
        if result.lift_failures:
            with self._stats_lock:
                self._people_not_lifted += result.lift_failures
        self._pub_poses.publish(self._pose_arrays.build(msg.header, result.people, width, height))
        # Markers and the debug image are for people watching: not built while nobody subscribes.
        markers = self._pub_markers
        if markers is not None and self._markers is not None and markers.get_subscription_count():
            markers.publish(self._markers.build(msg.header, result.people, result.lost_ids))
        if self._pub_debug is not None and self._pub_debug.get_subscription_count():
            from bodypose3d_ros.core.output.drawing import draw_overlay

            overlay = draw_overlay(image, result.people, min_confidence=p.marker_min_confidence)
            self._pub_debug.publish(bgr_to_image_msg(overlay, msg.header))
        elapsed_ms = (time.perf_counter() - start) * 1e3
        with self._stats_lock:
            self._people_tracked = result.tracked
            if result.detector_ran:
                self._detector_time.add(result.timings_ms["detector"])
            self._processed += 1
            self._processing.add(elapsed_ms)
            self._output_rate.tick(time.monotonic())

    def _check_stamp_order(self, stamp: float) -> None:
        last, self._last_stamp = self._last_stamp, stamp
        if last is not None and stamp <= last:
            self.get_logger().warning(
                f"image stamps do not increase ({stamp:.3f} s after {last:.3f} s): such frames "
                "are published unsmoothed; fix the camera driver's stamps",
                once=True,
            )

    def _intrinsics_for(self, width: int, height: int) -> Intrinsics:
        info = self._camera_info
        key = (info, width, height)
        last = self._last_intrinsics_key
        if (
            last is not None
            and last[0] is info
            and last[1:] == key[1:]
            and self._last_intrinsics is not None
        ):
            return self._last_intrinsics
        intrinsics: Intrinsics
        if info is None:
            intrinsics = default_intrinsics(width, height, self.params.default_focal_ratio)
            self.get_logger().warning(
                "no CameraInfo received on "
                f"'{self.resolve_topic_name('camera_info')}': using default intrinsics "
                f"f={intrinsics.fx:.1f}px (default_focal_ratio x width); metric depth will be off",
                throttle_duration_sec=LOG_THROTTLE_S,
            )
        else:
            try:
                intrinsics = camera_info_to_intrinsics(
                    info, width, height, self.params.use_rectified_intrinsics
                )
            except IntrinsicsError as error:
                intrinsics = default_intrinsics(width, height, self.params.default_focal_ratio)
                self._bad_camera_info(info, f"bad CameraInfo ({error}); using default intrinsics")
        self._last_intrinsics_key, self._last_intrinsics = key, intrinsics
        self._intrinsics_source = intrinsics.source
        self._note_distortion(intrinsics)
        return intrinsics

    def _note_distortion(self, intrinsics: Intrinsics) -> None:
        """Show the distortion in use in diagnostics; warn once about each one ignored."""
        warning = intrinsics.distortion_warning
        if warning:
            self._distortion = f"ignored: {warning}"
            # Bounded: a stream of ever-new model names must not grow memory.
            if warning not in self._distortion_warnings and len(self._distortion_warnings) < 32:
                self._distortion_warnings.add(warning)
                self.get_logger().warning(f"CameraInfo lens distortion ignored: {warning}")
        else:
            self._distortion = intrinsics.distortion.model if intrinsics.distortion else "none"

    def _bad_camera_info(self, info: CameraInfo, message: str) -> None:
        """Count a CameraInfo message that cannot be used once, however many frames it serves.

        The frame itself is processed (with default intrinsics), so it is not a rejected frame.
        """
        message = clip(message, MAX_LOGGED_ERROR_CHARS)
        with self._stats_lock:
            if info is not self._last_bad_camera_info:
                self._last_bad_camera_info = info
                self._camera_info_rejected += 1
            self._last_error = message
        self.get_logger().warning(message, throttle_duration_sec=LOG_THROTTLE_S)

    def _reject(self, message: str, count: bool = True) -> None:
        message = clip(message, MAX_LOGGED_ERROR_CHARS)  # messages quote untrusted fields
        with self._stats_lock:
            if count:
                self._rejected += 1
                self._recent_rejects.tick(time.monotonic())
            self._last_error = message
        self.get_logger().warning(message, throttle_duration_sec=LOG_THROTTLE_S)

    def _note_bad_depth(self, message: str) -> None:
        """A rejected depth frame is recent bad input (the colour frame itself is still served)."""
        message = clip(message, MAX_LOGGED_ERROR_CHARS)
        with self._stats_lock:
            self._recent_rejects.tick(time.monotonic())
            self._last_error = message

    def _delete_markers(self, flush: bool = False) -> None:
        """DELETEALL on the marker topic (while its publisher is active), so RViz starts clean.

        ``flush`` (on shutdown): wait briefly until reliable subscribers acknowledged it, as the
        process may exit right after and take an undelivered message with it.
        """
        if self._pub_markers is None or self._markers is None:
            return
        if not self._pub_markers.is_activated or not self.context.ok():
            return
        from std_msgs.msg import Header

        header = Header()
        header.stamp = self.get_clock().now().to_msg()
        if self._camera_info is not None:
            header.frame_id = self._camera_info.header.frame_id
        self._pub_markers.publish(self._markers.delete_all(header))
        if flush:
            self._pub_markers.wait_for_all_acked(Duration(seconds=MARKER_FLUSH_TIMEOUT_S))

    # ----------------------------------------------------------------------- diagnostics
    def _engine_description(self) -> str:
        return self._pipeline.model.description if self._pipeline is not None else "none"

    def _detector_description(self) -> str:
        pipeline = self._pipeline
        if pipeline is None:
            return ""
        return pipeline.detector.description if pipeline.detector is not None else "none"

    def snapshot(self) -> DiagnosticsSnapshot:
        """The node's counters and rates now (also used by tests and benchmarks)."""
        now = time.monotonic()
        with self._stats_lock:
            return DiagnosticsSnapshot(
                input_rate_hz=self._input_rate.rate(now),
                output_rate_hz=self._output_rate.rate(now),
                processing_ms_p50=self._processing.percentile(50),
                processing_ms_p95=self._processing.percentile(95),
                people_tracked=self._people_tracked,
                detector_ms_p50=self._detector_time.percentile(50),
                detector=self._detector_description(),
                frames_received=self._received,
                frames_processed=self._processed,
                frames_dropped=self._slot.dropped,
                frames_rejected=self._rejected,
                recent_rejects=self._recent_rejects.count(now),
                recent_inputs=self._input_rate.count(now),
                camera_info_rejected=self._camera_info_rejected,
                last_error=self._last_error,
                backend=self.params.backend,
                engine=self._engine_description(),
                precision=self._pipeline.model.precision if self._pipeline is not None else "",
                intrinsics_source=self._intrinsics_source,
                distortion=self._distortion,
                distortion_warnings=len(self._distortion_warnings),
                people_not_lifted=self._people_not_lifted,
                model_status=(
                    f"error: {self._engine_outage}" if self._engine_outage else self._model_status
                ),
                lifecycle_state=self._state_label(),
                depth=self._depth.counters if self.params.use_depth else None,
            )

    def _state_label(self) -> str:
        machine = getattr(self, "_state_machine", None)
        state = getattr(machine, "current_state", None)
        return str(state[1]) if isinstance(state, tuple) else "unknown"

    def _publish_diagnostics(self) -> None:
        self._pub_diag.publish(
            build_diagnostics(
                self.get_clock().now().to_msg(),
                self.get_fully_qualified_name(),
                f"{self.get_name()}: pose estimation",
                self.snapshot(),
            )
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the node until SIGINT/SIGTERM; with autostart, a failed configure exits with status 1.

    A stop requested while configuring (the model may take long to load) exits cleanly with 0.
    """
    rclpy.init(
        args=list(argv) if argv is not None else sys.argv,
        signal_handler_options=SignalHandlerOptions.NO,
    )
    stop = StopRequest()
    node = BodyPose3DNode()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        if node.get_parameter("autostart").value:
            configured = node.trigger_configure() == TransitionCallbackReturn.SUCCESS
            if stop.requested:
                return 0
            if not configured:
                node.get_logger().fatal("configure failed; fix the error above and start again")
                return 1
            if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
                node.get_logger().fatal("activate failed; see the error above")
                return 1
        while not stop.requested and rclpy.ok():
            # A bounded wait, so a stop request is seen within a tenth of a second.
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if stop.requested:
            node.get_logger().info(f"{stop.signal_name}: shutting down")
        node.shut_down()
        node.destroy_node()
        if rclpy.ok():
            rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
