"""Offline inference without a ROS graph: images, videos and bags in, JSON, pictures and bags out.

    python -m bodypose3d_ros.infer --out results/ photo.jpg clip.mp4 run.mcap

An image ``name.jpg`` gives ``name.json``, ``name_overlay.png`` and ``name_3d.png``; a video
``name.mp4`` gives ``name.jsonl`` (one record per frame), ``name_overlay.mp4`` and
``name_sheet.png``. Every person found is written (``--detector``, ``--max-people``). Every image
is processed on its own (no tracking or smoothing carried over, so a person is reported from one
sighting); a video goes through one pipeline with time stamps taken from its frame rate. A bag
(a rosbag2 folder, an ``.mcap`` file or a ROS 1 ``.bag``) gives what a video gives plus
``name_poses/``, a rosbag2 with the node's output topics (``bodypose3d_ros.bags``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

import cv2
import numpy as np

from bodypose3d_ros.bags.bag_paths import BagError, is_bag
from bodypose3d_ros.core import skeleton
from bodypose3d_ros.core.camera.camera_calibration import (
    CalibrationFileError,
    CameraCalibration,
    load_camera_calibration,
)
from bodypose3d_ros.core.camera.intrinsics import Intrinsics, IntrinsicsError, default_intrinsics
from bodypose3d_ros.core.depth.depth_image import (
    DepthImage,
    DepthImageError,
    read_depth_png,
    registered_to,
    values_note,
)
from bodypose3d_ros.core.engines.triton_engine import DEFAULT_MODEL, TritonSettings
from bodypose3d_ros.core.models.factory import BACKENDS, create_model
from bodypose3d_ros.core.output.drawing import draw_overlay, plot_3d
from bodypose3d_ros.core.output.overlay_recording import OverlayRecording
from bodypose3d_ros.core.output.result_json import frame_to_json
from bodypose3d_ros.core.people.detection import PersonDetector
from bodypose3d_ros.core.people.detectors.factory import DETECTORS, create_detector
from bodypose3d_ros.core.people.tracking import TrackerParams
from bodypose3d_ros.core.pipeline import (
    DEFAULT_MAX_POSE_PEOPLE,
    MAX_POSE_PEOPLE_RANGE,
    FrameResult,
    PipelineConfig,
    PoseModel,
    PosePipeline,
)
from bodypose3d_ros.core.types import Person3D

FALLBACK_FPS: Final = 30.0
# Unreadable frames in a row before a video counts as ended: a damaged frame is skipped (the
# demuxer moves past it), but the end of a file reads as failures too, and so does a dead stream.
MAX_UNREADABLE_RUN: Final = 16


class InputError(Exception):
    """An input that cannot be processed; reported in one line, then the next input runs."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bodypose3d_ros.infer",
        description="3D human skeletons from images, videos and recorded bags, written as JSON, "
        "pictures and bags.",
    )
    parser.add_argument("--backend", choices=BACKENDS, default="blazepose")
    parser.add_argument("--model-path", help="BodyPose3DNet .onnx file (bodypose3dnet backend)")
    parser.add_argument(
        "--engine", choices=("auto", "onnxruntime", "tensorrt", "triton"), default="auto"
    )
    parser.add_argument(
        "--triton-url", help="--engine triton: the server's gRPC address (grpc://HOST:8001)"
    )
    parser.add_argument(
        "--triton-model", default=DEFAULT_MODEL, help="--engine triton: the served model's name"
    )
    parser.add_argument(
        "--triton-model-version", default="", help="--engine triton: version (default latest)"
    )
    parser.add_argument("--precision", choices=("fp16", "fp32"), default="fp16")
    parser.add_argument(
        "--detector", choices=DETECTORS, default=DETECTORS[0],
        help="person detector (none: the pose model finds one person itself)",
    )  # fmt: skip
    parser.add_argument("--detector-model-path", default="", help="detector model file")
    tracking = TrackerParams()
    parser.add_argument(
        "--max-people", type=int, default=tracking.max_people, help="most people per frame"
    )
    parser.add_argument(
        "--track-max-age-s", type=float, default=tracking.max_age_s,
        help="video: a person unseen this long [s] and for --track-max-missed-frames is lost",
    )  # fmt: skip
    parser.add_argument(
        "--track-max-missed-frames", type=int, default=tracking.max_missed_frames,
        help="video: a person is lost only once unseen in this many frames in a row as well",
    )  # fmt: skip
    parser.add_argument(
        "--max-pose-people", type=int, default=DEFAULT_MAX_POSE_PEOPLE,
        help="most people per frame given the full pose model (published and nearest first); "
        "everyone else found is written from the detector's keypoints "
        '("keypoint_source": "detector"), '
        f"{MAX_POSE_PEOPLE_RANGE[0]}..{MAX_POSE_PEOPLE_RANGE[1]}",
    )  # fmt: skip
    for name in ("fx", "fy", "cx", "cy"):
        parser.add_argument(f"--{name}", type=float, help="camera intrinsics in pixels")
    parser.add_argument(
        "--camera-info",
        type=Path,
        metavar="FILE.yaml",
        help="ROS camera calibration YAML (camera_calibration's output): K and lens distortion, "
        "rescaled to each image's size",
    )
    parser.add_argument(
        "--no-smoothing", action="store_true", help="do not smooth keypoints across video frames"
    )
    parser.add_argument(
        "--depth",
        type=Path,
        metavar="FILE.png",
        help="16-bit PNG depth in millimetres (0 = invalid), or a float32 TIFF in metres, "
        "registered to the one input image: people are anchored at the measured distance",
    )
    parser.add_argument(
        "--no-bone-correction",
        action="store_true",
        help="keep the model's bone depths (no per-person bone-length correction)",
    )
    _add_bag_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument(
        "inputs", nargs="+", metavar="INPUT",
        help="image or video files, rosbag2 folders, .mcap files or ROS 1 .bag files",
    )  # fmt: skip
    return parser


def _add_bag_arguments(parser: argparse.ArgumentParser) -> None:
    bags = parser.add_argument_group("bags (a rosbag2 folder, an .mcap file or a ROS 1 .bag)")
    bags.add_argument(
        "--image-topic", help="Image or CompressedImage topic (default: the only one)"
    )
    bags.add_argument(
        "--camera-info-topic", help="CameraInfo topic (default: camera_info beside the image topic)"
    )
    bags.add_argument("--depth-topic", help="registered depth Image topic, paired by stamp")
    bags.add_argument("--start", type=float, metavar="S", help="skip the bag's first S seconds")
    bags.add_argument("--duration", type=float, metavar="S", help="process S seconds of the bag")
    bags.add_argument(
        "--bag-debug-image", action="store_true", help="add /bodypose3d/debug_image to the bag"
    )
    bags.add_argument(
        "--bag-copy-input", action="store_true",
        help="copy the input topics into the output bag, to replay everything together",
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    given = [args.fx, args.fy, args.cx, args.cy]
    if any(v is not None for v in given) and not all(v is not None for v in given):
        parser.error("give all four of --fx --fy --cx --cy, or none for default intrinsics")
    if args.fx is not None and not (args.fx > 0 and args.fy > 0 and all(map(math.isfinite, given))):
        parser.error("--fx and --fy must be > 0 and all intrinsics finite")
    calibration: CameraCalibration | None = None
    if args.camera_info is not None:
        if args.fx is not None:
            parser.error("give either --camera-info or --fx --fy --cx --cy, not both")
        try:
            calibration = load_camera_calibration(args.camera_info)
        except CalibrationFileError as exc:
            return _fail(f"--camera-info {args.camera_info}: {exc}")
    args.calibration = calibration
    if args.depth is not None and len(args.inputs) != 1:
        parser.error("--depth goes with exactly one input image")
    if args.max_people < 1:
        parser.error("--max-people must be >= 1")
    if args.track_max_missed_frames < 1:
        parser.error("--track-max-missed-frames must be >= 1")
    if not (math.isfinite(args.track_max_age_s) and args.track_max_age_s > 0):
        parser.error("--track-max-age-s must be a finite number > 0")
    for option in ("start", "duration"):
        value = getattr(args, option)
        if value is not None and not (math.isfinite(value) and value >= 0):
            parser.error(f"--{option} must be a finite number of seconds >= 0")
    if not MAX_POSE_PEOPLE_RANGE[0] <= args.max_pose_people <= MAX_POSE_PEOPLE_RANGE[1]:
        low, high = MAX_POSE_PEOPLE_RANGE
        parser.error(f"--max-pose-people must be within {low}..{high}")
    if args.engine == "triton":
        if args.backend != "bodypose3dnet":
            parser.error("--engine triton serves BodyPose3DNet: add --backend bodypose3dnet")
        if not args.triton_url:
            parser.error("--engine triton needs --triton-url grpc://HOST:PORT (Triton's gRPC port)")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _fail(f"cannot create output folder {args.out}: {exc}")
    runner = _Runner(args)
    failures = 0
    try:
        for path in args.inputs:
            try:
                runner.process(Path(path))
            except (InputError, BagError, OSError) as exc:  # OSError: an output cannot be written
                failures += 1
                _error(f"{path}: {exc}")
    except _ModelError as exc:
        return _fail(str(exc))
    finally:
        runner.close()
    return 1 if failures else 0


def _triton_settings(args: argparse.Namespace) -> TritonSettings | None:
    if args.engine != "triton":
        return None
    return TritonSettings(args.triton_url, args.triton_model, args.triton_model_version)


class _ModelError(Exception):
    """The model could not be loaded or failed: nothing else can run."""


class _Runner:
    """Loads the model once, on first use, and processes the inputs."""

    def __init__(self, args: argparse.Namespace) -> None:
        self._args = args
        self._model: PoseModel | None = None
        self._detector: PersonDetector | None = None
        self._detector_loaded = False

    def detector(self) -> PersonDetector | None:
        """The person detector, loaded once (None for ``--detector none``)."""
        if not self._detector_loaded:
            a = self._args
            try:
                self._detector = create_detector(a.detector, a.detector_model_path)
            except Exception as exc:  # any load failure ends the run with one clear line
                raise _ModelError(f"cannot load the {a.detector} detector: {exc}") from exc
            self._detector_loaded = True
        return self._detector

    def pipeline(self, model: PoseModel, smoothing: bool, single_image: bool) -> PosePipeline:
        """A fresh pipeline; a single image reports a person from one sighting (min_hits 1)."""
        a = self._args
        tracker = TrackerParams(
            max_people=a.max_people,
            max_age_s=a.track_max_age_s,
            max_missed_frames=a.track_max_missed_frames,
            min_hits=1 if single_image else TrackerParams().min_hits,
        )
        config = PipelineConfig(
            smoothing=smoothing,
            tracker=tracker,
            bone_length_correction=not self._args.no_bone_correction,
            max_pose_people=self._args.max_pose_people,
        )
        # Pipelines are never closed here: the runner closes the shared model and detector.
        return PosePipeline(model, config, self.detector())

    def model(self) -> PoseModel:
        if self._model is None:
            a = self._args
            try:
                self._model = create_model(
                    a.backend,
                    a.model_path,
                    engine=a.engine,
                    precision=a.precision,
                    triton=_triton_settings(a),
                    log=lambda msg: print(msg, file=sys.stderr),
                )
            except Exception as exc:  # any load failure ends the run with one clear line
                raise _ModelError(f"cannot load the {a.backend} model: {exc}") from exc
        return self._model

    def close(self) -> None:
        if self._model is not None:
            self._model.close()
            self._model = None
        if self._detector is not None:
            self._detector.close()
        self._detector = None

    def intrinsics(self, name: str, width: int, height: int) -> Intrinsics:
        a = self._args
        try:
            if a.calibration is not None:
                calibration: CameraCalibration = a.calibration
                k = calibration.intrinsics_for(width, height)
                stretched = calibration.aspect_note(width, height)
                if stretched:
                    print(f"note: {name}: {a.camera_info}: {stretched}", file=sys.stderr)
                for note in (k.distortion_warning, calibration.model_note()):
                    if note:
                        print(f"note: {a.camera_info}: {note}", file=sys.stderr)
                return k
            if a.fx is not None:
                k = Intrinsics(a.fx, a.fy, a.cx, a.cy, "arguments")
                k.check_plausible(width, height)
                return k
        except IntrinsicsError as exc:
            given = a.camera_info if a.calibration is not None else "--fx --fy --cx --cy"
            raise InputError(
                f"{given} cannot describe this {width}x{height} image: {exc}"
            ) from None
        k = default_intrinsics(width, height)
        print(
            f"note: {name}: no --fx/--fy/--cx/--cy, using default intrinsics fx=fy={k.fx:.1f} "
            f"cx={k.cx:.1f} cy={k.cy:.1f}; absolute distances are only as good as this guess",
            file=sys.stderr,
        )
        return k

    def process(self, path: Path) -> None:
        if is_bag(path):
            self._bag(path)
            return
        if not path.is_file():
            raise InputError("no such file")
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is not None:
            self._image(path, image)
            return
        capture = cv2.VideoCapture(str(path))
        try:
            reader = _FrameReader(capture)
            if not capture.isOpened() or not reader.start():
                raise InputError("cannot read it as an image or a video")
            self._video(path, capture, reader)
        finally:
            capture.release()

    def _bag(self, path: Path) -> None:
        if self._args.depth is not None:
            raise InputError("--depth is one depth image for one image; give a bag --depth-topic")
        try:
            from bodypose3d_ros.bags.bag_run import BagRequest, Process, run_bag
        except ImportError as exc:
            raise InputError(
                f"cannot read bags here ({exc}): they need the rosbags package "
                "(requirements/runtime.txt) and this package's built messages"
            ) from None
        a = self._args
        fixed = a.calibration is not None or a.fx is not None
        request = BagRequest(
            a.image_topic, a.camera_info_topic, a.depth_topic, a.start, a.duration,
            a.bag_debug_image, a.bag_copy_input,
            (lambda w, h: self.intrinsics(path.name, w, h)) if fixed else None,
        )  # fmt: skip

        def start() -> tuple[str, Process]:
            model = self.model()
            pipeline = self.pipeline(model, not a.no_smoothing, single_image=False)
            pipeline.reset()  # forget the people tracked in a previous input
            return model.name, lambda *frame: self._run(pipeline, *frame)

        outcome = run_bag(path, request, a.out, start)
        print(outcome.summary)
        if outcome.stopped:
            raise BagError(f"{outcome.stopped}; the outputs hold the frames before it")

    def _depth_for(self, width: int, height: int) -> DepthImage | None:
        """The ``--depth`` image, checked against the colour image it must be registered to."""
        if self._args.depth is None:
            return None
        try:
            depth = read_depth_png(self._args.depth)
        except DepthImageError as exc:
            raise InputError(str(exc)) from exc
        if not registered_to(depth, width, height):
            raise InputError(
                f"--depth {self._args.depth.name} is {depth.width}x{depth.height}: not registered "
                f"to the {width}x{height} image (another aspect ratio)"
            )
        return depth

    def _depth_notes(self, name: str, depth: DepthImage, result: FrameResult) -> None:
        """Say why the depth image anchored nobody (or not everyone): one line per cause."""
        note = values_note(depth)
        if note is not None:
            print(f"note: {name}: --depth {self._args.depth.name}: {note[1]}", file=sys.stderr)
            return  # the people's fallbacks all follow from it
        for reason in dict.fromkeys(a.reason for a in result.depth_fallbacks):
            print(f"note: {name}: --depth not used for a person: {reason}", file=sys.stderr)

    def _run(
        self,
        pipeline: PosePipeline,
        image: np.ndarray,
        k: Intrinsics,
        stamp: float,
        depth: DepthImage | None = None,
    ) -> FrameResult:
        try:
            return pipeline.process(image, k, stamp, depth)
        except Exception as exc:  # a model failure is not a property of this one input
            raise _ModelError(f"the {self._args.backend} model failed: {exc}") from exc

    def _image(self, path: Path, image: np.ndarray) -> None:
        height, width = image.shape[:2]
        k = self.intrinsics(path.name, width, height)
        # A fresh pipeline per image: nothing tracked or smoothed across unrelated pictures.
        pipeline = self.pipeline(self.model(), smoothing=False, single_image=True)
        t0 = time.perf_counter()
        depth = self._depth_for(width, height)
        result = self._run(pipeline, image, k, 0.0, depth)
        if depth is not None:
            self._depth_notes(path.name, depth, result)
        elapsed_ms = (time.perf_counter() - t0) * 1e3
        out = self._args.out
        record = frame_to_json(path.name, width, height, pipeline.model.name, k, result.people)
        json_path = out / f"{path.stem}.json"
        json_path.write_text(json.dumps(record, indent=1, allow_nan=False) + "\n")
        _write_png(out / f"{path.stem}_overlay.png", draw_overlay(image, result.people))
        plot_3d(result.people, str(out / f"{path.stem}_3d.png"), title=path.name)
        print(f"{path.name}: {_describe(result.people)}, {elapsed_ms:.0f} ms -> {json_path}")

    def _video(self, path: Path, capture: cv2.VideoCapture, reader: _FrameReader) -> None:
        if self._args.depth is not None:
            raise InputError("--depth is one depth image for one image, not for a video")
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        if not (math.isfinite(fps) and fps > 0):
            print(f"note: {path.name}: unknown frame rate, assuming {FALLBACK_FPS} fps",
                  file=sys.stderr)  # fmt: skip
            fps = FALLBACK_FPS
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        model = self.model()
        pipeline = self.pipeline(model, not self._args.no_smoothing, single_image=False)
        pipeline.reset()  # forget the person tracked in a previous video
        out = self._args.out
        jsonl_path = out / f"{path.stem}.jsonl"
        height, width = reader.first.shape[:2]
        k = self.intrinsics(path.name, width, height)
        recording = OverlayRecording(
            out / f"{path.stem}_overlay.mp4", out / f"{path.stem}_sheet.png", fps, width, height,
            count,
        )  # fmt: skip
        frames = people_seen = 0
        t0 = time.perf_counter()
        with jsonl_path.open("w") as jsonl:
            for index, frame in reader.frames(path.name, count):
                if frame.shape[:2] != (height, width):
                    raise InputError(
                        f"frame {index} changes size to {frame.shape[1]}x{frame.shape[0]}"
                    )
                stamp = index / fps
                result = self._run(pipeline, frame, k, stamp)
                record = frame_to_json(
                    path.name, width, height, model.name, k, result.people, index, stamp
                )
                jsonl.write(json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n")
                recording.add(draw_overlay(frame, result.people), index)
                frames += 1
                people_seen += len(result.people)
        if not recording.finish():
            raise InputError(f"cannot write {recording.sheet_path}")
        if not recording.has_video:
            print(f"note: {path.name}: cannot write {recording.video_path}; see "
                  f"{recording.sheet_path}", file=sys.stderr)  # fmt: skip
        ms = (time.perf_counter() - t0) * 1e3 / frames
        lost = reader.lost
        if count > 0 and frames + lost < count:  # damaged frames at the very end read as its end
            lost = count - frames
        if lost:
            print(f"note: {path.name}: {lost} unreadable frame(s) skipped "
                  f"({frames} of {frames + lost} read)", file=sys.stderr)  # fmt: skip
        print(
            f"{path.name}: {frames} frames{f' ({lost} unreadable, skipped)' if lost else ''}, "
            f"{people_seen / frames:.2f} people/frame, {ms:.0f} ms/frame -> {jsonl_path}"
        )


class _FrameReader:
    """A video's frames, skipping unreadable ones (the first ones too).

    A frame that fails to decode (a damaged JPEG in an MJPG AVI, a broken packet) makes
    ``read`` fail once while the demuxer moves on to the next frame, so reading again resyncs.
    Frames keep their index in the file (stamps stay on time); ``lost`` counts the skipped ones.
    """

    def __init__(self, capture: cv2.VideoCapture) -> None:
        self._capture = capture
        self._index = -1
        self._frame: np.ndarray | None = None
        self.lost = 0

    @property
    def first(self) -> np.ndarray:
        """The first readable frame (after ``start``)."""
        assert self._frame is not None, "start() first"
        return self._frame

    def start(self) -> bool:
        """Read up to the first readable frame; False when there is none."""
        return self._advance()

    def _advance(self) -> bool:
        """Move to the next readable frame, counting the unreadable ones skipped on the way."""
        for failures in range(MAX_UNREADABLE_RUN):
            ok, frame = self._capture.read()
            if ok and frame is not None:
                self.lost += failures
                self._index += failures + 1
                self._frame = frame
                return True
        return False  # the end (trailing damage is counted against the frame count)

    def frames(self, name: str, count: int) -> Iterator[tuple[int, np.ndarray]]:
        """(index, frame) pairs from the first readable frame on, with a progress bar."""
        from tqdm import tqdm

        with tqdm(
            total=count if count > 0 else None, desc=name, unit="frame", file=sys.stderr
        ) as bar:
            bar.update(self._index)  # frames lost before the first
            while True:
                yield self._index, self.first
                before = self._index
                if not self._advance():
                    return
                bar.update(self._index - before)


def _write_png(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image):
        raise InputError(f"cannot write {path}")


def _describe(people: Sequence[Person3D]) -> str:
    if not people:
        return "no person"
    z = [float(p.xyz[skeleton.INDEX["pelvis"], 2]) for p in people]
    depths = [d for d in z if math.isfinite(d)]
    nearest = f", nearest pelvis {min(depths):.2f} m away" if depths else ""
    measured = sum(1 for p in people if p.root_depth_source == "depth")
    source = f" ({measured} anchored by the depth image)" if measured else ""
    flat = sum(1 for p in people if p.keypoint_source == "detector")
    detector = f", {flat} from the detector's keypoints" if flat else ""
    return f"{len(people)} person(s){nearest}{detector}{source}"


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def _fail(message: str) -> int:
    _error(message)
    return 1


if __name__ == "__main__":
    sys.exit(main())
