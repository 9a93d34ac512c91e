"""The node's health as a diagnostic_msgs/DiagnosticArray for /diagnostics (rqt_robot_monitor).

Level rules (the worst one that applies wins; the message lists every reason, worst first):

ERROR
  * the model status is an error (``"error: ..."``), in any lifecycle state;
  * the node is ``active`` but the model is not ``loaded``: images arrive and nothing comes out.
WARN (only while ``active``; an inactive node is expected to be idle)
  * intrinsics are the ``default`` guess: distances are only as good as that guess;
  * the CameraInfo's lens distortion could not be used (unknown model, wrong coefficients);
  * bad input (undecodable images, bad CameraInfo) was seen in the recent window;
  * no images arrive (none in the rate window; a rate of 0 alone only means fewer than two);
  * ``use_depth`` is on, ``NO_DEPTH_WARN_FRAMES`` colour images arrived and not one depth image:
    the message names the depth topic and the likely cause (no publisher on it: a wrong remap;
    publishers but nothing received: a QoS mismatch);
  * more than half of the incoming frames are dropped: output rate below
    ``DROP_WARN_RATIO`` x input rate (compares windowed rates, so it reflects recent frames only).
    The node drops stale frames on purpose, but past half the camera rate skeletons turn choppy
    and the camera rate or resolution should come down (or a faster backend be chosen).
OK otherwise; the message then summarises rates and latency.

Keys carry their units (``"input rate [Hz]"``, ``"processing time p95 [ms]"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from bodypose3d_ros.core.image.untrusted_text import clip

OK: Final = 0
WARN: Final = 1
ERROR: Final = 2
_LEVEL_BYTES: Final[dict[int, bytes]] = {
    OK: DiagnosticStatus.OK,
    WARN: DiagnosticStatus.WARN,
    ERROR: DiagnosticStatus.ERROR,
}
DROP_WARN_RATIO: Final = 0.5
# Colour images received without any depth image before use_depth warns (a few: depth drivers
# start a little after colour).
NO_DEPTH_WARN_FRAMES: Final = 10
MAX_ERROR_CHARS: Final = 300


@dataclass(frozen=True, kw_only=True)
class DiagnosticsSnapshot:
    """The node's counters and rates at one moment; totals count since the node started."""

    input_rate_hz: float
    output_rate_hz: float
    processing_ms_p50: float
    processing_ms_p95: float
    frames_received: int
    frames_processed: int
    frames_dropped: int
    frames_rejected: int
    last_error: str
    backend: str
    engine: str
    precision: str
    intrinsics_source: str
    model_status: str
    lifecycle_state: str
    recent_rejects: int = 0
    """Bad inputs in the recent window (what the WARN rule looks at; the total never resets)."""
    distortion: str = "none"
    """The lens distortion model in use, or ``"ignored: <why>"`` when the CameraInfo's was not."""
    distortion_warnings: int = 0
    """Distinct CameraInfo distortions ignored so far (each one is logged once)."""
    people_not_lifted: int = 0
    """People found whose 3D lift failed (left out of ``poses``, never published as zeros)."""
    people_tracked: int = 0
    """Published people tracked after the latest frame (seen in it, or coasting)."""
    detector_ms_p50: float = float("nan")
    """Median time of the person detector's recent runs."""
    detector: str = ""
    """The person detector in use ("none" without one)."""
    depth: DepthCounters | None = None
    """Depth fusion's counters, when ``use_depth`` is on."""
    recent_inputs: int = 0
    """Images received in the rate window: one image gives no rate yet, but it is input."""
    camera_info_rejected: int = 0
    """CameraInfo messages that could not be used, each counted once (frames still processed)."""
    people_detected: int = 0
    """People the detector reported (totals since the node started, as the next three: the sum
    of the frames' ``FrameResult.counts``, see :class:`~bodypose3d_ros.core.types.PeopleCounts`)."""
    people_fitted: int = 0
    """People published with the pose model's keypoints."""
    people_from_detector_keypoints: int = 0
    """People published from the detector's keypoints (the model gave none, or max_pose_people)."""
    people_dropped: int = 0
    """Detected people neither tracked nor published (beyond max_people, too few keypoints)."""


@dataclass(frozen=True, kw_only=True)
class DepthCounters:
    """How the people's distances were found (totals since the node started)."""

    topic: str = ""
    """The depth topic as resolved (remaps applied)."""
    publishers: int = -1
    """Publishers on ``topic`` now (-1: not known)."""
    depth_frames_received: int = 0
    depth_frames_rejected: int = 0
    frames_unpaired: int = 0
    people_from_depth: int = 0
    people_from_limb_lengths: int = 0
    people_from_carried_depth: int = 0
    """Of ``people_from_depth``, those on a frame without a measurement: the ratio carried."""
    fallback_causes: tuple[tuple[str, int], ...] = ()
    """People measured in a depth image but kept on limb lengths, by cause (``DepthAnchor``)."""
    image_notes: tuple[tuple[str, int], ...] = ()
    """Depth images whose values look wrong as a whole (all holes, wrong unit), by note."""

    def values(self) -> list[tuple[str, str]]:
        return [
            ("depth topic", self.topic),
            ("depth publishers", str(self.publishers) if self.publishers >= 0 else "n/a"),
            ("depth frames received", str(self.depth_frames_received)),
            ("depth frames rejected (bad input)", str(self.depth_frames_rejected)),
            ("frames without a depth image within the time offset", str(self.frames_unpaired)),
            ("people with root depth from the depth image", str(self.people_from_depth)),
            ("people with root depth from limb lengths", str(self.people_from_limb_lengths)),
            (
                "people with root depth carried from an earlier depth image",
                str(self.people_from_carried_depth),
            ),
            *((f"depth not used: {cause}", str(n)) for cause, n in self.fallback_causes),
            *((f"depth image: {note}", str(n)) for note, n in self.image_notes),
        ]

    def missing_depth(self, colour_frames: int) -> str:
        """Why no depth image ever arrived, once ``colour_frames`` colour images did ("" if it
        did, or too few colour images came yet to say)."""
        if self.depth_frames_received > 0 or colour_frames < NO_DEPTH_WARN_FRAMES:
            return ""
        topic = clip(self.topic, 120) or "depth"
        if self.publishers == 0:
            cause = (
                "nobody publishes it: check the remap (-r depth:=<your aligned depth topic>, "
                "'ros2 topic list')"
            )
        elif self.publishers > 0:
            cause = (
                f"{self.publishers} publisher(s) but nothing received: a QoS mismatch "
                "(a best-effort publisher never reaches input_reliability:=reliable; "
                "'ros2 topic info -v' shows both sides)"
            )
        else:
            cause = "a wrong remap or a QoS mismatch"
        return (
            f"use_depth is on but no depth image arrived on '{topic}' after {colour_frames} "
            f"colour images: {cause}"
        )


def assess(snapshot: DiagnosticsSnapshot) -> tuple[int, str]:
    """The level (OK, WARN, ERROR) and a one-line message, by the rules in the module docstring."""
    s = snapshot
    errors: list[str] = []
    warnings: list[str] = []
    active = s.lifecycle_state == "active"
    if s.model_status.startswith("error"):
        errors.append(f"model {s.model_status}")
    elif active and s.model_status != "loaded":
        errors.append(f"active but model not loaded ({s.model_status})")
    if active:
        if s.intrinsics_source == "default":
            warnings.append("no valid CameraInfo: default intrinsics, distances are a guess")
        if s.distortion.startswith("ignored"):
            warnings.append(f"lens distortion {s.distortion}")
        if s.recent_rejects > 0:
            detail = f": {clip(s.last_error, MAX_ERROR_CHARS)}" if s.last_error else ""
            warnings.append(f"{s.recent_rejects} bad input(s) recently{detail}")
        missing_depth = s.depth.missing_depth(s.frames_received) if s.depth is not None else ""
        if missing_depth:
            warnings.append(missing_depth)
        if s.input_rate_hz <= 0.0 and s.recent_inputs == 0:
            warnings.append("no input images")
        elif s.output_rate_hz < DROP_WARN_RATIO * s.input_rate_hz:
            warnings.append(
                f"dropping most frames: {s.output_rate_hz:.1f} Hz out, {s.input_rate_hz:.1f} Hz in"
            )
    if errors or warnings:
        return (ERROR if errors else WARN), "; ".join(errors + warnings)
    if not active:
        return OK, f"{s.lifecycle_state}, model {s.model_status}"
    return OK, (
        f"running: {s.input_rate_hz:.1f} Hz in, {s.output_rate_hz:.1f} Hz out, "
        f"p95 {_decimal(s.processing_ms_p95)} ms, {s.people_tracked} people tracked"
    )


def _decimal(value: float) -> str:
    """Two decimals, or "n/a" before there is anything to measure (NaN percentiles)."""
    return f"{value:.2f}" if math.isfinite(value) else "n/a"


def snapshot_values(snapshot: DiagnosticsSnapshot) -> list[KeyValue]:
    """Every snapshot field as a key/value pair, units in the key, numbers as plain decimals."""
    s = snapshot
    pairs = (
        ("lifecycle state", s.lifecycle_state),
        ("model status", s.model_status),
        ("backend", s.backend),
        ("engine", s.engine),
        ("precision", s.precision),
        ("intrinsics source", s.intrinsics_source),
        ("distortion", s.distortion),
        ("distortion warnings", str(s.distortion_warnings)),
        ("detector", s.detector),
        ("people tracked", str(s.people_tracked)),
        ("detector time p50 [ms]", _decimal(s.detector_ms_p50)),
        ("input rate [Hz]", _decimal(s.input_rate_hz)),
        ("output rate [Hz]", _decimal(s.output_rate_hz)),
        ("processing time p50 [ms]", _decimal(s.processing_ms_p50)),
        ("processing time p95 [ms]", _decimal(s.processing_ms_p95)),
        ("frames received", str(s.frames_received)),
        ("frames processed", str(s.frames_processed)),
        ("frames dropped", str(s.frames_dropped)),
        ("frames rejected (bad input)", str(s.frames_rejected)),
        ("recent bad inputs", str(s.recent_rejects)),
        ("people not lifted", str(s.people_not_lifted)),
        ("people detected", str(s.people_detected)),
        ("people fitted by the pose model", str(s.people_fitted)),
        ("people published from detector keypoints", str(s.people_from_detector_keypoints)),
        ("people dropped", str(s.people_dropped)),
        ("bad CameraInfo messages", str(s.camera_info_rejected)),
        ("last error", clip(s.last_error, MAX_ERROR_CHARS)),
    ) + (tuple(s.depth.values()) if s.depth is not None else ())
    return [KeyValue(key=key, value=value) for key, value in pairs]


def build_diagnostics(
    stamp: Time, hardware_id: str, name: str, snapshot: DiagnosticsSnapshot
) -> DiagnosticArray:
    """A DiagnosticArray with one status for the node, stamped ``stamp``."""
    level, message = assess(snapshot)
    status = DiagnosticStatus()
    status.level = _LEVEL_BYTES[level]
    status.name = name
    status.message = message
    status.hardware_id = hardware_id
    status.values = snapshot_values(snapshot)
    out = DiagnosticArray()
    out.header.stamp = Time(sec=stamp.sec, nanosec=stamp.nanosec)
    out.status = [status]
    return out
