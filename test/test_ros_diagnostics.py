"""Diagnostics: the level rules, and values that carry the right numbers with their units."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

pytest.importorskip("rclpy", reason="rclpy missing: run the tests via tools/with-env")

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.serialization import deserialize_message, serialize_message

from bodypose3d_ros.ros.diagnostics import (
    NO_DEPTH_WARN_FRAMES,
    DepthCounters,
    DiagnosticsSnapshot,
    build_diagnostics,
)
from bodypose3d_ros.ros.stats import LatencyStats, RateMeter

HEALTHY: dict[str, Any] = {
    "input_rate_hz": 30.0,
    "output_rate_hz": 29.5,
    "processing_ms_p50": 12.0,
    "processing_ms_p95": 18.5,
    "frames_received": 1000,
    "frames_processed": 990,
    "frames_dropped": 10,
    "frames_rejected": 0,
    "recent_rejects": 0,
    "last_error": "",
    "backend": "bodypose3dnet",
    "engine": "tensorrt",
    "precision": "fp16",
    "intrinsics_source": "camera_info",
    "model_status": "loaded",
    "lifecycle_state": "active",
}


def _status(**changes: Any) -> DiagnosticStatus:
    snapshot = DiagnosticsSnapshot(**{**HEALTHY, **changes})
    array = build_diagnostics(Time(sec=3, nanosec=4), "/ns/bodypose3d_node", "pose", snapshot)
    assert len(array.status) == 1
    status: DiagnosticStatus = array.status[0]
    return status


def _values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def test_healthy_node_is_ok_with_a_summary() -> None:
    status = _status()
    assert status.level == DiagnosticStatus.OK
    assert "30.0 Hz in" in status.message
    assert "18.50 ms" in status.message
    assert status.hardware_id == "/ns/bodypose3d_node"
    assert status.name == "pose"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"model_status": "error: engine file corrupt"}, "engine file corrupt"),
        ({"model_status": "error: no GPU", "lifecycle_state": "unconfigured"}, "no GPU"),
        ({"model_status": "building engine"}, "not loaded"),
        ({"model_status": "not loaded"}, "not loaded"),
    ],
)
def test_model_errors_or_missing_model_while_active_are_errors(
    changes: dict[str, Any], reason: str
) -> None:
    status = _status(**changes)
    assert status.level == DiagnosticStatus.ERROR
    assert reason in status.message


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"intrinsics_source": "default"}, "default intrinsics"),
        ({"recent_rejects": 2, "last_error": "bad input image: step too small"}, "step too small"),
        ({"input_rate_hz": 30.0, "output_rate_hz": 14.9}, "dropping"),
        ({"input_rate_hz": 0.0, "output_rate_hz": 0.0}, "no input"),
    ],
)
def test_degraded_operation_warns(changes: dict[str, Any], reason: str) -> None:
    status = _status(**changes)
    assert status.level == DiagnosticStatus.WARN
    assert reason in status.message


def test_drop_warning_starts_above_half() -> None:
    assert _status(input_rate_hz=30.0, output_rate_hz=15.0).level == DiagnosticStatus.OK
    assert _status(input_rate_hz=30.0, output_rate_hz=14.0).level == DiagnosticStatus.WARN


def test_old_rejects_alone_do_not_warn() -> None:
    # Rejected frames long ago (total > 0, none recently) are history, not a current problem.
    status = _status(frames_rejected=5, recent_rejects=0, last_error="bad input image: old")
    assert status.level == DiagnosticStatus.OK


def test_error_wins_and_every_reason_is_listed() -> None:
    status = _status(model_status="error: out of memory", intrinsics_source="default")
    assert status.level == DiagnosticStatus.ERROR
    assert "out of memory" in status.message
    assert "default intrinsics" in status.message


def test_inactive_node_without_model_is_ok() -> None:
    for state in ("unconfigured", "inactive"):
        status = _status(
            lifecycle_state=state,
            model_status="not loaded" if state == "unconfigured" else "loaded",
            input_rate_hz=0.0,
            output_rate_hz=0.0,
            intrinsics_source="default",
        )
        assert status.level == DiagnosticStatus.OK, status.message
        assert state in status.message


def test_values_carry_units_and_the_snapshot_numbers() -> None:
    values = _values(
        _status(
            frames_dropped=17, processing_ms_p50=float("nan"), people_tracked=3,
            detector_ms_p50=21.25, detector="MoveNet",
        )
    )  # fmt: skip
    assert int(values["people tracked"]) == 3
    assert float(values["detector time p50 [ms]"]) == 21.25
    assert values["detector"] == "MoveNet"
    assert float(values["input rate [Hz]"]) == 30.0
    assert float(values["output rate [Hz]"]) == 29.5
    assert float(values["processing time p95 [ms]"]) == 18.5
    assert values["processing time p50 [ms]"] == "n/a"  # nothing measured yet
    assert int(values["frames received"]) == 1000
    assert int(values["frames processed"]) == 990
    assert int(values["frames dropped"]) == 17
    assert int(values["frames rejected (bad input)"]) == 0
    assert values["precision"] == "fp16"
    assert values["intrinsics source"] == "camera_info"
    assert values["lifecycle state"] == "active"
    assert values["model status"] == "loaded"
    assert {"backend", "engine", "last error"} <= set(values)


def test_rates_and_percentiles_from_the_meters_reach_the_message() -> None:
    inputs, outputs, latency = RateMeter(5.0), RateMeter(5.0), LatencyStats(100)
    for k in range(1, 301):  # 60 Hz camera for 5 s, every third frame processed (20 Hz)
        t = k / 60.0
        inputs.tick(t)
        if k % 3 == 0:
            outputs.tick(t)
            latency.add(float(k % 50))  # 0..49 ms, evenly spread
    now = 300 / 60.0
    snapshot = DiagnosticsSnapshot(
        **{
            **HEALTHY,
            "input_rate_hz": inputs.rate(now),
            "output_rate_hz": outputs.rate(now),
            "processing_ms_p50": latency.percentile(50),
            "processing_ms_p95": latency.percentile(95),
        }
    )
    status = build_diagnostics(Time(sec=1), "hw", "pose", snapshot).status[0]
    values = _values(status)
    assert float(values["input rate [Hz]"]) == pytest.approx(60.0, abs=0.01)
    assert float(values["output rate [Hz]"]) == pytest.approx(20.0, abs=0.01)
    samples = sorted(float(k % 50) for k in range(3, 301, 3))
    assert float(values["processing time p50 [ms]"]) == pytest.approx(
        (samples[49] + samples[50]) / 2, abs=0.005
    )
    assert status.level == DiagnosticStatus.WARN  # two frames in three dropped
    assert "dropping" in status.message


def test_array_is_stamped_and_serialises() -> None:
    snapshot = DiagnosticsSnapshot(**HEALTHY)
    array = build_diagnostics(Time(sec=42, nanosec=7), "hw", "pose", snapshot)
    assert (array.header.stamp.sec, array.header.stamp.nanosec) == (42, 7)
    back = deserialize_message(serialize_message(array), DiagnosticArray)
    assert back == array


def test_snapshot_is_immutable() -> None:
    snapshot = DiagnosticsSnapshot(**HEALTHY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.frames_received = 3  # type: ignore[misc]


def test_one_frame_in_the_window_is_input_not_silence() -> None:
    """Right after a lone processed frame the rate is 0 (it needs two), yet images do arrive."""
    rates = RateMeter(5.0)
    rates.tick(10.0)
    status = _status(
        input_rate_hz=rates.rate(10.1),
        output_rate_hz=0.0,
        recent_inputs=rates.count(10.1),
        frames_received=1,
        frames_processed=1,
    )
    assert "no input" not in status.message
    quiet = _status(input_rate_hz=rates.rate(20.0), recent_inputs=rates.count(20.0))
    assert "no input images" in quiet.message  # the window passed: now it is silence


def test_bad_camera_info_count_is_reported_and_errors_are_clipped() -> None:
    huge = "bad input image: unsupported encoding " + "x" * 1_000_000
    status = _status(recent_rejects=1, last_error=huge, camera_info_rejected=3)
    values = _values(status)
    assert values["bad CameraInfo messages"] == "3"
    assert len(values["last error"]) < 1000
    assert values["last error"].startswith(huge[:100])
    assert len(status.message) < 1000


@pytest.mark.parametrize(
    ("publishers", "cause"), [(0, "check the remap"), (2, "QoS mismatch"), (-1, "QoS mismatch")]
)
def test_use_depth_with_no_depth_ever_warns_naming_topic_and_cause(
    publishers: int, cause: str
) -> None:
    counters = DepthCounters(topic="/robot/camera/depth", publishers=publishers)
    status = _status(depth=counters, frames_received=NO_DEPTH_WARN_FRAMES)
    assert status.level == DiagnosticStatus.WARN
    assert "'/robot/camera/depth'" in status.message
    assert cause in status.message
    # Fewer colour frames than the threshold: depth drivers start late, no warning yet.
    assert (
        _status(depth=counters, frames_received=NO_DEPTH_WARN_FRAMES - 1).level
        == DiagnosticStatus.OK
    )
    # Depth arrived once: the rule is about depth never arriving.
    arrived = dataclasses.replace(counters, depth_frames_received=1)
    assert _status(depth=arrived).level == DiagnosticStatus.OK
    # An inactive node is expected to be idle.
    assert _status(depth=counters, lifecycle_state="inactive").level == DiagnosticStatus.OK


def test_depth_fallbacks_and_image_notes_are_counted_by_cause() -> None:
    counters = DepthCounters(
        topic="/depth",
        publishers=1,
        depth_frames_received=40,
        fallback_causes=(("few valid samples", 7), ("too few depth pixels", 2)),
        image_notes=(("values too small for the unit", 5),),
    )
    values = _values(_status(depth=counters))
    assert values["depth not used: few valid samples"] == "7"
    assert values["depth not used: too few depth pixels"] == "2"
    assert values["depth image: values too small for the unit"] == "5"
    assert values["depth publishers"] == "1"
    assert values["depth topic"] == "/depth"


def test_people_counts_of_frames_add_up_into_the_message() -> None:
    from bodypose3d_ros.core.types import PeopleCounts

    frames = [PeopleCounts(3, 2, 1, 0), PeopleCounts(12, 8, 3, 1), PeopleCounts()]
    total = sum(frames, PeopleCounts())
    assert total == PeopleCounts(detected=15, fitted=10, from_detector=4, dropped=1)
    values = _values(_status(**total.diagnostics()))
    assert int(values["people detected"]) == 15
    assert int(values["people fitted by the pose model"]) == 10
    assert int(values["people published from detector keypoints"]) == 4
    assert int(values["people dropped"]) == 1
    assert int(_values(_status())["people dropped"]) == 0  # nothing counted: 0, not missing
