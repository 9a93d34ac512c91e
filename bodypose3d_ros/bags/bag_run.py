"""One bag through the pipeline: JSONL, an output bag, an overlay video and a contact sheet.

Called by the offline CLI (``bodypose3d_ros.infer``) with the pipeline it made, so a bag goes
through the same model, tracker and smoothing as a video; the node's parameters give everything
the node would decide (default focal ratio, depth pairing tolerance, marker settings).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from bodypose3d_ros.bags.bag_frames import BagFrames, FrameSettings, check_first_stamp
from bodypose3d_ros.bags.bag_paths import BagError, bag_name
from bodypose3d_ros.bags.input_bag import InputBag
from bodypose3d_ros.bags.output_bag import PoseBag, ros_header
from bodypose3d_ros.core.camera.intrinsics import Intrinsics
from bodypose3d_ros.core.depth.depth_image import DepthImage
from bodypose3d_ros.core.image.image_decode import BgrImage
from bodypose3d_ros.core.output.drawing import draw_overlay
from bodypose3d_ros.core.output.overlay_recording import OverlayRecording
from bodypose3d_ros.core.output.result_json import frame_to_json
from bodypose3d_ros.core.pipeline import FrameResult
from bodypose3d_ros.ros.parameters import NodeParameters

FALLBACK_FPS: Final = 30.0

Process = Callable[[BgrImage, Intrinsics, float, DepthImage | None], FrameResult]
# Called once the bag and its topics are found usable: the model's name and the frame processor
# (so a bag that cannot be read fails before any model is loaded).
Start = Callable[[], tuple[str, Process]]


@dataclass(frozen=True)
class BagRequest:
    """The CLI's bag options."""

    image_topic: str | None = None
    camera_info_topic: str | None = None
    depth_topic: str | None = None
    start_s: float | None = None
    duration_s: float | None = None
    debug_image: bool = False
    copy_input: bool = False
    fixed_intrinsics: Callable[[int, int], Intrinsics] | None = None


@dataclass(frozen=True)
class BagOutcome:
    """The summary line, and where reading stopped early (empty when the whole bag was read)."""

    summary: str
    stopped: str


def _note(text: str) -> None:
    print(f"note: {text}", file=sys.stderr)


def _window(bag: InputBag, request: BagRequest) -> tuple[int | None, int | None]:
    """--start/--duration as log times in ns (None: from the start / to the end)."""
    start_ns = None
    if request.start_s is not None:
        start_ns = bag.start_ns + round(request.start_s * 1e9)
    stop_ns = None
    if request.duration_s is not None:
        stop_ns = (start_ns if start_ns is not None else bag.start_ns) + round(
            request.duration_s * 1e9
        )
    return start_ns, stop_ns


def run_bag(path: Path, request: BagRequest, out: Path, start: Start) -> BagOutcome:
    """Process every image of the bag's image topic; raises BagError before writing anything
    when the bag or a topic is unusable."""
    node = NodeParameters()
    settings = FrameSettings(
        node.default_focal_ratio,
        node.max_image_pixels,
        node.depth_max_time_offset_s,
        request.fixed_intrinsics,
    )
    with InputBag(path) as bag:
        topics = bag.choose_topics(
            request.image_topic, request.camera_info_topic, request.depth_topic
        )
        if request.copy_input and bag.is_ros1:
            raise BagError(
                "--bag-copy-input needs a rosbag2 input: ROS 1 messages are laid out otherwise"
            )
        if bag.cut_short:
            _note(f"{path.name}: the MCAP file has no end (cut short?): reading it from the start")
        start_ns, stop_ns = _window(bag, request)
        check_first_stamp(bag, topics, start_ns)
        model_name, process = start()
        name = bag_name(path)
        count = bag.count(topics.image) if start_ns is None and stop_ns is None else 0
        span_s = (bag.end_ns - bag.start_ns) * 1e-9
        fps = (count - 1) / span_s if count > 1 and span_s > 0 else FALLBACK_FPS
        poses = PoseBag(
            out / f"{name}_poses", request.debug_image, node.marker_min_confidence,
            node.marker_lifetime_s,
        )  # fmt: skip
        jsonl_path = out / f"{name}.jsonl"
        try:
            frames = BagFrames(
                bag, topics, settings, _note, start_ns, stop_ns,
                poses.copy if request.copy_input else None,
            )  # fmt: skip
            summary = _process_frames(
                frames, poses, jsonl_path, path.name, model_name, process, fps, count, out, name
            )
            poses.finish()
        except BaseException:
            poses.abort()
            jsonl_path.unlink(missing_ok=True)
            raise
    return BagOutcome(f"{summary} -> {jsonl_path}, {poses.destination}", frames.stopped)


def _process_frames(
    frames: BagFrames, poses: PoseBag, jsonl_path: Path, source: str, model_name: str,
    process: Process, fps: float, count: int, out: Path, name: str,
) -> str:  # fmt: skip
    from tqdm import tqdm

    recording: OverlayRecording | None = None
    done = people_seen = undecodable = 0
    first_error = ""
    t0 = time.perf_counter()
    with (
        jsonl_path.open("w") as jsonl,
        tqdm(total=count or None, desc=source, unit="frame", file=sys.stderr) as bar,
    ):
        for frame in frames:
            bar.update(1)
            if frame.image is None or frame.intrinsics is None:
                undecodable += 1
                first_error = first_error or f"image {frame.index}: {frame.error}"
                continue
            image, k = frame.image, frame.intrinsics
            height, width = image.shape[:2]
            result = process(image, k, frame.stamp, frame.depth)
            record = frame_to_json(
                source, width, height, model_name, k, result.people, frame.index, frame.stamp
            )
            jsonl.write(json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n")
            overlay = draw_overlay(image, result.people)
            header = ros_header(frame.sec, frame.nanosec, frame.frame_id)
            poses.write_frame(
                frame.log_ns, header, result.people, result.lost_ids, width, height, overlay
            )
            if recording is None:
                recording = OverlayRecording(
                    out / f"{name}_overlay.mp4", out / f"{name}_sheet.png", fps, width, height,
                    count,
                )  # fmt: skip
            recording.add(overlay)
            done += 1
            people_seen += len(result.people)
    if recording is not None and not recording.finish():
        raise BagError(f"cannot write {recording.sheet_path}")
    if undecodable:
        _note(f"{undecodable} image(s) could not be decoded (first: {first_error})")
    if frames.unstamped:
        _note(f"{frames.unstamped} image(s) had no header stamp: their log time was used")
    if done == 0:
        if frames.stopped:
            raise BagError(frames.stopped)
        raise BagError(f"no image to process ({frames.in_window} in the chosen time window)")
    if recording is not None and not recording.has_video:
        _note(f"{source}: cannot write {recording.video_path}; see {recording.sheet_path}")
    ms = (time.perf_counter() - t0) * 1e3 / done
    depth = f", {frames.unpaired} without depth" if frames.unpaired else ""
    return (
        f"{source}: {done} frames, {people_seen / done:.2f} people/frame{depth}, {ms:.0f} ms/frame"
    )
