"""The node's parameters: one table of names, defaults and descriptions, validated in one place.

Parameters are read on configure; a bad value fails the configure transition with a message that
names the parameter, the value and the accepted values, before any model is loaded. Every numeric
parameter has a range (:data:`RANGES`, shown in the README's table) checked when it is set, so a
value that would break every frame (a marker lifetime beyond a ROS Duration, a timeout of 1e300 s)
is refused at ``ros2 param set`` with the range in the reason.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from typing import Any

from bodypose3d_ros.core.engines.tensorrt_engine import default_cache_dir
from bodypose3d_ros.core.engines.triton_engine import TIMEOUT_RANGE_S, TritonSettings
from bodypose3d_ros.core.lift.smoothing import OneEuroParams
from bodypose3d_ros.core.models.bodypose3dnet_crop import K_INV_MODES, NORMALIZATIONS
from bodypose3d_ros.core.models.factory import BACKENDS
from bodypose3d_ros.core.people.detectors.factory import DEFAULT_MIN_SCORE, DETECTORS
from bodypose3d_ros.core.people.detectors.movenet import DEFAULT_INPUT_SIZE, MoveNetParams
from bodypose3d_ros.core.people.tracking import TrackerParams
from bodypose3d_ros.core.pipeline import DEFAULT_MAX_POSE_PEOPLE, MAX_POSE_PEOPLE_RANGE
from bodypose3d_ros.core.skeleton import NUM_KEYPOINTS

ENGINES = ("auto", "onnxruntime", "tensorrt", "triton")
PRECISIONS = ("fp16", "fp32")
RELIABILITIES = ("best_effort", "reliable")
# /diagnostics period bounds: faster floods the topic (1e-12 s spun a core at ~1900 msg/s),
# slower silences it (and 1e10 s overflowed the timer).
DIAGNOSTICS_PERIOD_RANGE_S = (0.1, 3600.0)


@dataclass(frozen=True)
class Range:
    """What a numeric parameter accepts: ``[low, high]``, or ``(low, high]`` if ``open_low``."""

    low: float
    high: float
    open_low: bool = False

    def __contains__(self, value: float) -> bool:
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float
            return False
        above = number > self.low if self.open_low else number >= self.low
        return math.isfinite(number) and above and number <= self.high

    def __str__(self) -> str:
        return f"{'(' if self.open_low else '['}{_number(self.low)}, {_number(self.high)}]"


def _number(value: float) -> str:
    """268435456 rather than 2.68435e+08; 0.001 as it is."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


_CUTOFF_HZ = Range(0.001, 1000.0)  # slower is a frozen output (a time constant of minutes)
_BETA = Range(0.0, 1000.0)
_FRACTION = Range(0.0, 1.0)
_COUNT = Range(1, 1000)

RANGES: dict[str, Range] = {
    "max_batch_size": Range(1, 64),
    "triton_timeout_s": Range(*TIMEOUT_RANGE_S),
    # focal length / width: 0.05 is wider than any fisheye's, 20 longer than a 600 mm telephoto.
    "default_focal_ratio": Range(0.05, 20.0),
    "smoothing_uv_min_cutoff": _CUTOFF_HZ,
    "smoothing_uv_beta": _BETA,
    "smoothing_z_rel_min_cutoff": _CUTOFF_HZ,
    "smoothing_z_rel_beta": _BETA,
    "smoothing_root_min_cutoff": _CUTOFF_HZ,
    "smoothing_root_beta": _BETA,
    "smoothing_d_cutoff": _CUTOFF_HZ,
    "person_min_keypoint_confidence": _FRACTION,
    "person_min_keypoints": Range(1, NUM_KEYPOINTS),
    "detector_input_size": Range(0, 1024),  # 0 or a multiple of 32 from 128: checked apart
    "detector_min_score": _FRACTION,
    "detection_interval": _COUNT,
    "track_max_age_s": Range(0.0, 3600.0, open_low=True),
    "track_max_missed_frames": _COUNT,
    "track_min_hits": _COUNT,
    "max_people": Range(1, 256),
    "max_pose_people": Range(*MAX_POSE_PEOPLE_RANGE),
    "marker_min_confidence": _FRACTION,
    # A ROS Duration holds whole seconds in an int32: beyond it the lifetime wrapped or failed.
    "marker_lifetime_s": Range(0.0, 86400.0),
    "max_image_pixels": Range(1, 1 << 28),  # 16384 x 16384
    "diagnostics_period_s": Range(*DIAGNOSTICS_PERIOD_RANGE_S),
    # A colour frame waits for its depth frame up to this long, and half a second is already
    # 0.7 m of a walking person: a larger offset pairs images that do not show the same scene.
    "depth_max_time_offset_s": Range(0.0, 0.5, open_low=True),
}
# Integers accepted for a text parameter: `-p triton_model_version:=7` arrives as an integer,
# as `--triton-model-version 7` is accepted by the CLI.
_INTEGER_AS_TEXT = ("triton_model_version",)


class ParameterError(ValueError):
    """A parameter value the node cannot run with."""


@dataclass(frozen=True)
class NodeParameters:
    """Every node parameter with its default (config/bodypose3d.yaml mirrors these)."""

    backend: str = "blazepose"
    model_path: str = ""
    engine: str = "auto"
    precision: str = "fp16"
    engine_cache_dir: str = ""
    force_engine_rebuild: bool = False
    max_batch_size: int = 8
    triton_url: str = ""
    triton_model: str = "bodypose3dnet"
    triton_model_version: str = ""
    triton_timeout_s: float = 2.0
    triton_shared_memory: bool = True
    input_normalization: str = "bgr_unit"
    k_inv_mode: str = "crop_camera"
    use_rectified_intrinsics: bool = False
    default_focal_ratio: float = 0.6256
    smoothing: bool = True
    smoothing_uv_min_cutoff: float = 0.1
    smoothing_uv_beta: float = 0.05
    smoothing_z_rel_min_cutoff: float = 0.5
    smoothing_z_rel_beta: float = 0.05
    smoothing_root_min_cutoff: float = 0.1
    smoothing_root_beta: float = 0.05
    smoothing_d_cutoff: float = 1.0
    bone_length_correction: bool = True
    person_min_keypoint_confidence: float = 0.3
    person_min_keypoints: int = 6
    detector: str = DETECTORS[0]
    detector_model_path: str = ""
    detector_input_size: int = 0
    detector_min_score: float = DEFAULT_MIN_SCORE
    detection_interval: int = 1
    track_max_age_s: float = 1.0
    track_max_missed_frames: int = 2
    track_min_hits: int = 3
    max_people: int = 64
    max_pose_people: int = DEFAULT_MAX_POSE_PEOPLE
    marker_min_confidence: float = 0.3
    marker_lifetime_s: float = 0.5
    publish_markers: bool = True
    publish_debug_image: bool = False
    image_compressed: bool = False
    input_reliability: str = "best_effort"
    max_image_pixels: int = 4096 * 4096
    diagnostics_period_s: float = 1.0
    use_depth: bool = False
    depth_max_time_offset_s: float = 0.04
    autostart: bool = True

    @property
    def resolved_engine_cache_dir(self) -> str:
        """Where TensorRT engines are cached: the parameter, else the user's cache folder."""
        if self.engine_cache_dir:
            return os.path.expanduser(self.engine_cache_dir)
        return str(default_cache_dir())

    def triton(self) -> TritonSettings | None:
        """The Triton server settings when ``engine`` is "triton"."""
        if self.engine != "triton":
            return None
        return TritonSettings(
            url=self.triton_url,
            model=self.triton_model,
            model_version=self.triton_model_version,
            timeout_s=self.triton_timeout_s,
            shared_memory=self.triton_shared_memory,
        )

    def uv_filter(self) -> OneEuroParams:
        return OneEuroParams(
            self.smoothing_uv_min_cutoff, self.smoothing_uv_beta, self.smoothing_d_cutoff
        )

    def z_rel_filter(self) -> OneEuroParams:
        return OneEuroParams(
            self.smoothing_z_rel_min_cutoff, self.smoothing_z_rel_beta, self.smoothing_d_cutoff
        )

    def root_filter(self) -> OneEuroParams:
        return OneEuroParams(
            self.smoothing_root_min_cutoff, self.smoothing_root_beta, self.smoothing_d_cutoff
        )

    def tracker(self) -> TrackerParams:
        return TrackerParams(
            min_keypoint_confidence=self.person_min_keypoint_confidence,
            min_confident_keypoints=self.person_min_keypoints,
            max_people=self.max_people,
            max_age_s=self.track_max_age_s,
            max_missed_frames=self.track_max_missed_frames,
            min_hits=self.track_min_hits,
        )


DESCRIPTIONS: dict[str, str] = {
    "backend": f"pose model: {' | '.join(BACKENDS)} (blazepose is embedded, CPU)",
    "model_path": "BodyPose3DNet .onnx (or TensorRT .engine) file; required for bodypose3dnet",
    "engine": f"inference engine for bodypose3dnet: {' | '.join(ENGINES)}",
    "precision": f"TensorRT precision: {' | '.join(PRECISIONS)}",
    "engine_cache_dir": "TensorRT engine cache folder (default ~/.cache/bodypose3d_ros/tensorrt)",
    "force_engine_rebuild": "rebuild the TensorRT engine even when a matching cached one exists",
    "max_batch_size": "most people per inference call (TensorRT profile max)",
    "triton_url": "engine triton: the server's gRPC address, grpc://HOST:PORT or HOST:PORT",
    "triton_model": "engine triton: name of the served BodyPose3DNet model",
    "triton_model_version": "engine triton: model version to use, a positive integer (empty = the "
    "latest)",
    "triton_timeout_s": "engine triton: timeout of one request [s]; a later answer loses the frame",
    "triton_shared_memory": "engine triton: pass tensors through system shared memory when the "
    "server runs on this machine (falls back to gRPC)",
    "input_normalization": f"crop pixel normalisation: {' | '.join(NORMALIZATIONS)}",
    "k_inv_mode": f"k_inv fed to BodyPose3DNet: {' | '.join(K_INV_MODES)}",
    "use_rectified_intrinsics": "take intrinsics from CameraInfo.p (rectified images), not .k",
    "default_focal_ratio": "focal length / image width used when no CameraInfo arrived",
    "smoothing": "One-Euro smoothing of keypoints and root depth, driven by image stamps",
    "smoothing_uv_min_cutoff": "One-Euro min cutoff [Hz] for pixel positions",
    "smoothing_uv_beta": "One-Euro speed coefficient for pixel positions",
    "smoothing_z_rel_min_cutoff": "One-Euro min cutoff [Hz] for pelvis-relative depth",
    "smoothing_z_rel_beta": "One-Euro speed coefficient for pelvis-relative depth",
    "smoothing_root_min_cutoff": "One-Euro min cutoff [Hz] for the root (pelvis) depth",
    "smoothing_root_beta": "One-Euro speed coefficient for the root depth",
    "smoothing_d_cutoff": "One-Euro derivative cutoff [Hz] for all filtered values",
    "bone_length_correction": "re-solve bone depths so each tracked person's bones keep their "
    "estimated lengths (joints stay on their camera rays)",
    "person_min_keypoint_confidence": "keypoints below this confidence do not count as seen",
    "person_min_keypoints": "a person needs at least this many seen keypoints to be tracked",
    "detector": f"person detector: {' | '.join(DETECTORS)} (none: the pose model finds one "
    "person itself, for close range)",
    "detector_model_path": "detector model file (empty: the embedded one)",
    "detector_input_size": "detector input long side [px], a multiple of 32 in 128..1024 "
    f"(0: the detector's default, {DEFAULT_INPUT_SIZE})",
    "detector_min_score": "detections below this score are not people",
    "detection_interval": "run the detector every N-th frame; frames between follow the tracked "
    "people's crops (a frame with nobody followed always detects)",
    "track_max_age_s": "a person not seen for this long [s] and for track_max_missed_frames "
    "processed frames is lost (their markers deleted)",
    "track_max_missed_frames": "a person is lost only once unseen in this many processed frames "
    "in a row as well (>= 1: someone seen in the previous frame is never lost, however far apart "
    "the stamps are)",
    "track_min_hits": "a new person is published after being found in this many processed frames",
    "max_people": "most people tracked (and cropped) per frame (64: more than the detector "
    "finds, so nobody found is dropped)",
    "max_pose_people": "most people per frame given the full pose model, published people and "
    "then the nearest first (depth image, else the largest box); everyone else the detector "
    "sees is published from its keypoints (keypoint_source detector)",
    "marker_min_confidence": "joints and bones below this confidence are not drawn in RViz",
    "marker_lifetime_s": "seconds RViz keeps a skeleton that is not refreshed (0 = forever)",
    "publish_markers": "publish visualization_msgs/MarkerArray skeletons on 'markers'",
    "publish_debug_image": "publish the annotated image on 'debug_image'",
    "image_compressed": "subscribe to '<image>/compressed' (sensor_msgs/CompressedImage), "
    "<image> being the image topic after remapping",
    "input_reliability": f"QoS reliability of the image input: {' | '.join(RELIABILITIES)} "
    "(CameraInfo is always best effort, which matches either kind of publisher)",
    "max_image_pixels": "images larger than this are rejected as bad input",
    "diagnostics_period_s": "period of /diagnostics messages [s]",
    "use_depth": "anchor each person at the distance measured by the registered depth image on "
    "'depth' (sensor_msgs/Image 16UC1 mm or 32FC1 m, e.g. aligned_depth_to_color)",
    "depth_max_time_offset_s": "a colour frame pairs with the depth frame nearest in stamp "
    "within this offset [s] (waiting at most this long for a late one); further: that frame keeps "
    "the limb-length distance",
    "autostart": "configure and activate on start (false: wait for lifecycle transitions)",
}

_CHOICES: dict[str, tuple[str, ...]] = {
    "backend": BACKENDS,
    "detector": DETECTORS,
    "engine": ENGINES,
    "precision": PRECISIONS,
    "input_normalization": NORMALIZATIONS,
    "k_inv_mode": K_INV_MODES,
    "input_reliability": RELIABILITIES,
}


def defaults() -> dict[str, Any]:
    """Name -> default value, in declaration order."""
    base = NodeParameters()
    return {f.name: getattr(base, f.name) for f in fields(NodeParameters)}


def _typed(name: str, value: Any, default: Any, problems: list[str]) -> Any:
    """``value`` as the type of ``default``: ints are accepted for floats, nothing else converts."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        if name in _INTEGER_AS_TEXT and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        ok = isinstance(value, str)
    if not ok:
        problems.append(f"{name}={value!r} must be of type {type(default).__name__}")
        return default
    return value


def parse_parameters(values: dict[str, Any]) -> NodeParameters:
    """Check raw values and build NodeParameters; raise ParameterError naming what is wrong."""
    typed, problems = _checked(values)
    if problems:
        raise ParameterError("invalid parameters: " + "; ".join(problems))
    return NodeParameters(**typed)


def check_parameter(name: str, value: Any) -> str | None:
    """What is wrong with setting ``name`` to ``value`` on its own, or None if nothing.

    For a running node (``ros2 param set``): a bad value is refused at once, with the reason,
    instead of silently waiting for the next configure. Rules between parameters (bodypose3dnet
    needs a model_path) are left to configure, since parameters are set one at a time.
    """
    if name not in defaults():
        return None
    _, problems = _checked({**defaults(), name: value})
    mine = [problem for problem in problems if problem.startswith(f"{name}=")]
    return "; ".join(mine) or None


def _checked(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The values typed, and every problem found (each naming its parameter first)."""
    problems: list[str] = []
    values = {name: _typed(name, values[name], default, problems)
              for name, default in defaults().items()}  # fmt: skip
    for name, choices in _CHOICES.items():
        if values[name] not in choices:
            problems.append(f"{name}={values[name]!r} is not one of {', '.join(choices)}")
    for name, accepted in RANGES.items():
        if values[name] not in accepted:
            problems.append(f"{name}={values[name]!r} must be within {accepted}")
    if values["detector_input_size"] > 0:  # the sizes MoveNet runs at, checked where it is set
        try:
            MoveNetParams(input_size=values["detector_input_size"])
        except ValueError as error:
            problems.append(f"detector_input_size={values['detector_input_size']!r}: {error}")
    version = values["triton_model_version"]
    if version and not (version.isdigit() and int(version) > 0):
        problems.append(
            f"triton_model_version={version!r} must be a positive integer, or empty for the latest"
        )
    if values["engine"] == "triton":
        settings = TritonSettings(values["triton_url"], values["triton_model"])  # the address
        try:
            settings.check()
        except ValueError as error:
            problems.append(str(error))
    elif values["backend"] == "bodypose3dnet" and not values["model_path"]:
        problems.append(
            "model_path is empty: backend 'bodypose3dnet' needs a BodyPose3DNet model; download "
            "bodypose3dnet_performance.onnx (or _accuracy) from NGC and set model_path to it"
        )
    return values, problems


def _literal(value: Any, quote: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{quote}{value}{quote}" if isinstance(value, str) else str(value)


def defaults_yaml() -> str:
    """config/bodypose3d.yaml: every parameter with its default and description."""
    lines = [
        "# bodypose3d_node parameters with their defaults. Use with --params-file, or the launch",
        "# file's params_file:=...; every parameter is also a launch argument.",
        "# Generated by: python -m bodypose3d_ros.ros.parameters --yaml",
        "/**:",
        "  ros__parameters:",
    ]
    for name, value in defaults().items():
        lines += [f"    # {DESCRIPTIONS[name]}", f"    {name}: {_literal(value, chr(34))}"]
    return "\n".join(lines) + "\n"


def markdown_table() -> str:
    """The README's parameter table."""
    rows = ["| parameter | default | range | meaning |", "|---|---|---|---|"]
    for name, value in defaults().items():
        text = _literal(value, '"') or '""'
        accepted = f"`{RANGES[name]}`" if name in RANGES else ""
        rows.append(
            f"| `{name}` | `{text}` | {accepted} | {DESCRIPTIONS[name].replace('|', '/')} |"
        )
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    import sys

    print(defaults_yaml() if "--yaml" in sys.argv else markdown_table(), end="")
