"""bodypose3d_node: Image + CameraInfo in; Pose3DArray, RViz skeletons and diagnostics out.

A lifecycle node. Configure loads the model (a bad parameter or model fails the transition with a
message naming the fix); activate subscribes and starts the worker; deactivate stops both; cleanup
frees the model. With ``autostart`` (default) a plain ``ros2 run`` configures and activates itself.

Threading: the image callback only parks the newest frame for the worker
(:mod:`bodypose3d_ros.ros.frame_worker`), which decodes, runs the pipeline and publishes; the
intrinsics come from :mod:`bodypose3d_ros.ros.intrinsics_source`. This module is the wiring.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.duration import Duration
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from visualization_msgs.msg import MarkerArray

from bodypose3d_ros.core.pipeline import PosePipeline
from bodypose3d_ros.msg import Pose3DArray
from bodypose3d_ros.ros.depth_input import DepthInput
from bodypose3d_ros.ros.diagnostics import DiagnosticsSnapshot, build_diagnostics
from bodypose3d_ros.ros.frame_worker import Frame, FrameWorker, Outputs
from bodypose3d_ros.ros.input_qos import camera_info_qos, image_qos
from bodypose3d_ros.ros.intrinsics_source import IntrinsicsSource
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
from bodypose3d_ros.ros.pipeline_setup import PipelineSetupError, build_pipeline
from bodypose3d_ros.ros.stop_signals import StopRequest

NODE_NAME = "bodypose3d_node"
# How long shutdown waits for subscribers to acknowledge the final DELETEALL of the markers.
MARKER_FLUSH_TIMEOUT_S = 2.0


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
        self._inputs: list[Any] = []
        self._pub_poses: Any = None
        self._pub_markers: Any = None
        self._pub_debug: Any = None
        self._markers: MarkerBuilder | None = None
        self._diag_timer: Any = None
        self._intrinsics = IntrinsicsSource(
            self.get_logger(),
            lambda: self.resolve_topic_name("camera_info"),
            lambda message: self._worker.note_error(message),
        )
        self._depth = DepthInput(
            self.get_logger(),
            self.resolve_topic_name("depth"),
            lambda message: self._worker.note_bad_depth(message),
            self._ros_now,
            lambda: self.count_publishers(self.resolve_topic_name("depth")),
        )
        self._worker = FrameWorker(
            self.get_logger(), self._intrinsics, self._depth, lambda: self.context.ok()
        )
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
            self._pipeline = build_pipeline(p, lambda text: self.get_logger().info(text))
        except PipelineSetupError as error:
            self._fail(str(error))
            return TransitionCallbackReturn.FAILURE
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
        qos = image_qos(p.input_reliability)
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
        self._inputs.append(
            self.create_subscription(
                CameraInfo, "camera_info", self._intrinsics.on_camera_info, camera_info_qos()
            )
        )
        if p.use_depth:  # same QoS as the colour image: best effort by default, as drivers publish
            self._inputs.append(
                self.create_subscription(Image, "depth", self._depth.on_message, qos)
            )
        assert self._pipeline is not None  # configured before any activation
        self._worker.start(
            self._pipeline,
            p,
            Outputs(self._pub_poses, self._pub_markers, self._pub_debug, self._markers),
        )
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
        self._worker.set_last_error(message)
        self.get_logger().error(message)

    def _stop_worker(self) -> None:
        """Stop the worker after its current frame (the model is never closed under it)."""
        self._worker.stop()

    def _release(self) -> None:
        self._worker.engine_outage = ""
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
        self._worker.park(Frame(serialized, Image, time.monotonic(), self._ros_now()))

    def _on_compressed(self, serialized: bytes) -> None:
        self._worker.park(Frame(serialized, CompressedImage, time.monotonic(), self._ros_now()))

    def _ros_now(self) -> float:
        return float(self.get_clock().now().nanoseconds) * 1e-9

    @property
    def _camera_info(self) -> CameraInfo | None:
        """The newest CameraInfo received (intrinsics rarely change: no exact pairing)."""
        return self._intrinsics.latest

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
        work = asdict(self._worker.counters())  # rates and counters under the worker's lock
        outage = work.pop("engine_outage")
        return DiagnosticsSnapshot(
            **work,
            detector=self._detector_description(),
            camera_info_rejected=self._intrinsics.rejected,
            backend=self.params.backend,
            engine=self._engine_description(),
            precision=self._pipeline.model.precision if self._pipeline is not None else "",
            intrinsics_source=self._intrinsics.source,
            distortion=self._intrinsics.distortion,
            distortion_warnings=self._intrinsics.distortion_warnings,
            model_status=f"error: {outage}" if outage else self._model_status,
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
