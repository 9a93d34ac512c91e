"""``make bench``: what the node costs beyond the model, and how it holds a camera's rate.

    tools/with-env python -m bench.run [--quick] [--seconds 20] [--video CLIP] [--out bench]

The parts, each measured side by side with its reference in the same run:

1. overhead: per-frame cost of decoding, lifting + smoothing and message building (no model),
   next to BlazePose's own time on the same frames, at 640x480 and 1280x720;
2. e2e: the node as its own process fed a 30 Hz camera stream over DDS, against the bare model;
3. batching: the BodyPose3DNet path at batch 1 vs 8 (contract TEST FIXTURE network);
4. metric_3d: extra cost per person of the metric-3D steps beside the plain pipeline: lens
   undistortion, depth fusion (the pipeline with and without a depth image) and bone-length
   correction (on vs off);
5. multi_person: a whole frame with 1, 2, 4 and 8 people for both models, and the detector.
6. triton: the BodyPose3DNet path through a Triton server on loopback vs in-process, and N
   processes sharing one server (needs Python 3.13 for the server; skipped, saying so, without).
7. crowd: the person detector on 1920x1080 frames of 8, 12, 24 and 30 people beside one plain
   pass (MoveNet returns at most 6 a call; the detector looks again when a pass is full).

Prints a table with PASS/MISS per target and writes ``<out>/results.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import (
    load_photo,
    load_video_frames,
    machine_info,
    photo_path,
    resized,
)
from bench.targets import checks

PARTS = ("overhead", "e2e", "batching", "metric_3d", "multi_person", "triton", "crowd")
MAX_VIDEO_FRAMES = 300
LARGE_IMAGES_PROFILE = (
    Path(__file__).resolve().parent.parent / "config" / "fastdds_large_images.xml"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short smoke run (few repetitions, 4 s stream): numbers are rough",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="e2e stream duration after warm-up (default 20, --quick 4)",
    )
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate of the stream [Hz]")
    parser.add_argument(
        "--saturate-rate", type=float, default=150.0,
        help="rate of the second stream, faster than the model, for output / model rate [Hz]",
    )  # fmt: skip
    parser.add_argument(
        "--e2e-size", default="640x480", help="resolution the photo is streamed at (WIDTHxHEIGHT)"
    )
    parser.add_argument(
        "--image",
        type=Path,
        default=None,
        help="photo with one person (default: .cache/data/person.jpg)",
    )
    parser.add_argument(
        "--video",
        type=Path,
        default=None,
        help=f"stream this clip's frames (first {MAX_VIDEO_FRAMES}, looped) in the "
        "e2e part instead of the still photo",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("bench"), help="folder for results.json (default: bench)"
    )
    parser.add_argument(
        "--fastdds-profile",
        nargs="?",
        type=Path,
        const=LARGE_IMAGES_PROFILE,
        default=None,
        metavar="XML",
        help="run every process with this Fast DDS profile (without a value: "
        "config/fastdds_large_images.xml, shared memory for big images)",
    )
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated subset of {', '.join(PARTS)}"
    )
    return parser  # fmt: skip


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"--e2e-size must look like 640x480, got {text!r}") from None
    return width, height


def _log(text: str) -> None:
    print(text, flush=True)


def run(args: argparse.Namespace, argv: Sequence[str]) -> dict[str, Any]:
    # Own DDS domain on the loopback, so other ROS users on this machine neither see nor disturb us.
    os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 200))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    if args.fastdds_profile is not None:
        if not args.fastdds_profile.is_file():
            raise SystemExit(f"no such Fast DDS profile: {args.fastdds_profile}")
        # Read when a process creates its first participant: set before any rclpy use here,
        # and inherited by the node process.
        os.environ["FASTRTPS_DEFAULT_PROFILES_FILE"] = str(args.fastdds_profile.resolve())
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown part(s) {', '.join(sorted(unknown))}; valid: {', '.join(PARTS)}")
    quick = bool(args.quick)
    warmup, reps = (5, 30) if quick else (30, 300)
    photo_file = photo_path(args.image)
    photo = load_photo(photo_file)
    results: dict[str, Any] = {
        "command": " ".join(["python -m bench.run", *argv]),
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {"quick": quick, "warmup": warmup, "repetitions": reps,
                     "photo": photo_file.name, "photo_size": f"{photo.shape[1]}x{photo.shape[0]}",
                     "fastdds_profile": os.environ.get("FASTRTPS_DEFAULT_PROFILES_FILE",
                                                       "(none: Fast DDS defaults)")},
    }  # fmt: skip
    start = time.monotonic()
    if "overhead" in parts:
        from bench.overhead import measure_overhead

        _log("part 1: pipeline overhead (model excluded) beside BlazePose")
        results["overhead"] = measure_overhead(photo, warmup, reps, _log)
    if "e2e" in parts:
        from bench.e2e import E2ESettings, measure_e2e

        size = _size(args.e2e_size)
        seconds = args.seconds if args.seconds is not None else (4.0 if quick else 20.0)
        if not (seconds > 0 and args.rate > 0):
            raise SystemExit(f"--seconds and --rate must be > 0, got {seconds} and {args.rate}")
        settings = E2ESettings(
            seconds=seconds, rate_hz=args.rate, warmup_s=2.0 if quick else 3.0,
            standalone_frames=40 if quick else 300,
        )  # fmt: skip
        if args.video is not None:
            frames = load_video_frames(args.video, size, MAX_VIDEO_FRAMES)
            source = f"{args.video.name} ({len(frames)} frames, looped)"
        else:
            frames = [resized(photo, size)]
            source = f"{photo_file.name} (still)"
        _log(f"part 2: end to end over DDS, {source}")
        results["e2e"] = {"source": source, **measure_e2e(frames, settings, _log)}
        # A camera faster than the model: does the node deliver the model's own rate?
        saturated = E2ESettings(
            seconds=3.0 if quick else 10.0, rate_hz=args.saturate_rate,
            warmup_s=settings.warmup_s, standalone_frames=settings.standalone_frames,
        )  # fmt: skip
        _log(f"part 2b: end to end at {args.saturate_rate:g} Hz, faster than the model")
        results["e2e_saturated"] = {"source": source, **measure_e2e(frames, saturated, _log)}
    if "batching" in parts:
        from bench.batching import measure_batching

        _log("part 3: BodyPose3DNet path, batch 1 vs 8 (TEST FIXTURE network)")
        results["batching"] = measure_batching(photo, warmup, reps, _log)
    if "metric_3d" in parts:
        from bench.undistortion import measure_undistortion

        _log("part 4: metric 3D, lens undistortion beside the pinhole lift")
        results.setdefault("metric_3d", {}).update(measure_undistortion(photo, warmup, reps, _log))
        from bench.depth_fusion import measure_depth_fusion

        _log("part 4b: metric 3D, depth fusion: pipeline with vs without a depth image")
        fusion = measure_depth_fusion(warmup, reps, _log)
        results["metric_3d"].update(
            depth_fusion_us_per_person=fusion["1_person"]["extra_us_per_person"],
            depth_fusion=fusion,
        )
        from bench.bone_correction import measure_bone_correction

        _log("part 4c: metric 3D, bone-length correction per person, on vs off")
        results["metric_3d"].update(measure_bone_correction(photo, warmup, reps, _log))
    if "multi_person" in parts:
        from bench.multi_person import measure_multi_person

        _log("part 5: everyone in view, 1 / 2 / 4 / 8 people per frame")
        results["multi_person"] = measure_multi_person(photo, warmup, reps, _log)
    if "triton" in parts:
        from bench.triton import SIZE as TRITON_SIZE
        from bench.triton import measure_triton

        _log("part 6: Triton serving hop and sharing (TEST FIXTURE network)")
        results["triton"] = measure_triton(
            resized(photo, TRITON_SIZE), warmup, reps // 3 if quick else reps // 2,
            1.0 if quick else 4.0, _log, build_server=not quick,
        )  # fmt: skip
    if "crowd" in parts:
        from bench.crowd import measure_crowd

        _log("part 7: crowds beyond one detector call, 8 / 12 / 24 / 30 people at 1920x1080")
        results["crowd"] = measure_crowd(2, max(3, reps // 10), _log)
        from bench.crowd import crowd_frames
        from bench.crowd_frames import measure_crowd_frames

        _log("   whole frames with the default max_pose_people")
        results["crowd"].update(measure_crowd_frames(crowd_frames(), max(3, reps // 20), _log))
    results["duration_s"] = round(time.monotonic() - start, 1)
    results.update(_headline(results))
    results["targets"] = [check.as_json() for check in checks(results)]
    results["definitions"] = {k: v for k, v in DEFINITIONS.items() if k in results}
    return results


DEFINITIONS = {
    "overhead_ms_640x480": "median per-frame cost of the node's own work on the BlazePose path, "
    "model excluded: received Image -> array, tracking + smoothing + lifting (model replayed), "
    "Pose3DArray + MarkerArray building; 1 person, measured right after the model ran",
    "overhead_ms_1280x720": "as overhead_ms_640x480, at 1280x720",
    "model_ms": "median BlazePoseModel.estimate time at 1280x720, same loop as the overhead",
    "e2e_rate_ratio": "node output rate / the model's standalone rate on the same frames, with "
    "the camera faster than the model (the saturated stream): how much of the model's speed "
    "the node delivers end to end",
    "e2e_camera_rate_ratio": "at the camera rate (30 Hz): node output rate / min(achieved input "
    "rate, model's standalone rate); 1.0 = every frame the node could have processed came out",
    "latency_p50_ms": "image stamp (set just before publishing) -> Pose3DArray received, median",
    "latency_p99_ms": "as latency_p50_ms, 99th percentile",
    "frames_dropped": "frames replaced in the node's newest-frame slot before processing "
    "(from /diagnostics, during the measured stream)",
    "rss_growth_mb": "node resident memory at the end of the stream minus after warm-up [MiB]",
    "per_person_ms_batch1": "BodyPose3DNet adapter call with 1 person (crop + ONNX Runtime + "
    "decode) on the contract TEST FIXTURE network",
    "per_person_ms_batch8": "as per_person_ms_batch1 for a batch of 8 people, divided by 8",
    "metric_3d": "undistortion_us_per_person: median lift_pose time of one person with a "
    "plumb_bob lens minus without distortion (closed-form rays), interleaved in one loop; "
    "by_model: the same for each distortion model; depth_fusion_us_per_person: median over frames "
    "of (pipeline with a 640x480 16UC1 depth image minus the same pipeline without it), 1 person, "
    "model replayed, interleaved in one loop; bone_correction_us_per_person: median pipeline time "
    "(BlazePose replayed) with bone_length_correction minus without, both run alternately in one "
    "loop",
    "overhead_ms_per_extra_person": "what each person beyond the first adds to a 1280x720 frame "
    "on the BodyPose3DNet path besides the network's own run (tracking, crop + normalise, "
    "decode, batched lift, smoothing, Pose3DArray and markers), (8 people - 1 person) / 7",
    "multi_person_detector_ms": "the default person detector's median time on the 8-person frame",
    "triton_hop_ms_1_person": "per-frame BodyPose3DNet path through Triton on loopback (shared "
    "memory) minus in-process ONNX Runtime, 1 person, medians (TEST FIXTURE network; pytriton's "
    "Python backend adds a process hop a native Triton backend does not)",
    "triton_hop_ms_8_people": "as triton_hop_ms_1_person with 8 people in one request",
    "triton_shm_speedup_8_people": "per-frame time with tensors in gRPC messages / with tensors "
    "in system shared memory, 8 people",
    "triton_sharing_4_processes": "total frame rate of 4 processes sharing one server / of 1",
    "crowd_detector_30_to_plain_pass": "the default person detector's median time on a 1920x1080 "
    "frame of 30 people (the crowd search included) / the median time of one plain pass (the "
    "search off) on the same frame, measured alternately in one loop",
    "crowd_frame_30_to_8": "median whole-frame time (PosePipeline.process with every default: "
    "detector and its crowd search, BlazePose on at most max_pose_people = 8, the rest published "
    "from the detector's keypoints) on the 1920x1080 frame of 30 people / on the one of 8, "
    "measured in one interleaved loop after track_min_hits frames",
    "crowd_published_once_30": "people of the 30-person frame published exactly once (by the "
    "keypoint box of each published person) in its last measured frame",
}


def _headline(results: dict[str, Any]) -> dict[str, Any]:
    """The flat keys a reader (or CI) looks for first."""
    out: dict[str, Any] = {}
    if "overhead" in results:
        o = results["overhead"]
        for key, value in o.items():
            out[f"overhead_ms_{key}"] = value["overhead_ms"]
        out["model_ms"] = o["1280x720"]["model_ms"]
        out["model_ms_640x480"] = o["640x480"]["model_ms"]
        out["overhead_to_model_1280x720"] = o["1280x720"]["overhead_to_model"]
    if "e2e" in results:
        e = results["e2e"]
        out.update(
            e2e_camera_rate_ratio=e["rate_ratio"], latency_p50_ms=e["latency_p50_ms"],
            latency_p99_ms=e["latency_p99_ms"], frames_dropped=e["frames_dropped"],
            rss_growth_mb=e["rss_growth_mb"],
        )  # fmt: skip
    if "e2e_saturated" in results:
        out["e2e_rate_ratio"] = results["e2e_saturated"]["output_to_model_rate"]
    if "batching" in results:
        b = results["batching"]
        out["per_person_ms_batch1"] = b["batch1"]["per_person_ms"]
        out["per_person_ms_batch8"] = b["batch8"]["per_person_ms"]
    if "multi_person" in results:
        mp = results["multi_person"]
        out["overhead_ms_per_extra_person"] = mp["overhead_ms_per_extra_person"]
        out["multi_person_detector_ms"] = mp["detector_ms"]
    if "latency" in results.get("triton", {}):
        t = results["triton"]
        out["triton_hop_ms_1_person"] = t["latency"]["people1"]["hop_ms_shm"]
        out["triton_hop_ms_8_people"] = t["latency"]["people8"]["hop_ms_shm"]
        out["triton_shm_speedup_8_people"] = t["latency"]["people8"]["shm_speedup"]
        out["triton_sharing_4_processes"] = t["sharing"]["processes4"]["triton_scaling"]
    if "crowd" in results:
        out["crowd_detector_30_to_plain_pass"] = results["crowd"]["detector_to_plain_pass"]["30"]
        if "frame_to_8" in results["crowd"]:
            out["crowd_frame_30_to_8"] = results["crowd"]["frame_to_8"]["30"]
            out["crowd_published_once_30"] = results["crowd"]["published_once"]["30"]
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def format_table(results: dict[str, Any]) -> str:
    """The human summary: machine, every part's numbers, then the targets."""
    m = results["machine"]
    lines = [
        "",
        f"bodypose3d_ros benchmark — {results['command']}",
        f"machine: {m['cpu_model']}, {m['logical_cores']} logical cores, Python {m['python']}, "
        f"onnxruntime {m['onnxruntime']}, mediapipe {m['mediapipe']}, "
        f"load {m['load_average_at_start']}",
        f"Fast DDS profile: {results['settings']['fastdds_profile']}",
    ]
    if "overhead" in results:
        o = results["overhead"]
        lines += [
            "",
            "1. per-frame cost, medians [ms] (BlazePose path; model = BlazePose estimate)",
        ]
        keys = list(o)
        lines.append(f"   {'stage':34s}" + "".join(f"{k:>12s}" for k in keys))
        rows: list[tuple[str, Any]] = [
            ("image msg -> array (decode)", lambda r: r["stages_ms"]["decode"]),
            ("lift + smooth (replayed model)", lambda r: r["stages_ms"]["lift_smooth"]),
            ("Pose3DArray build", lambda r: r["stages_ms"]["pose_array"]),
            ("MarkerArray build", lambda r: r["stages_ms"]["markers"]),
            ("= overhead, 1 person", lambda r: r["overhead_ms"]),
            ("model: BlazePose estimate", lambda r: r["model_ms"]),
            ("overhead / model [%]", lambda r: 100 * r["overhead_to_model"]),
            ("  (adapter inside model: rgb+map)", lambda r: r["blazepose_adapter_ms"]),
            ("publish both (rclpy, not in overhead)", lambda r: r["stages_ms"]["publish"]),
            ("overhead, 8 people replayed", lambda r: r["overhead_ms_8_people"]),
            ("BodyPose3DNet crop, 1 person", lambda r: r["stages_ms"]["crop"]),
            ("BodyPose3DNet crop, 8 people", lambda r: r["stages_ms_8_people"]["crop"]),
        ]
        for label, get in rows:
            lines.append(f"   {label:34s}" + "".join(f"{_fmt(get(o[k])):>12s}" for k in keys))
    if "e2e" in results:
        e = results["e2e"]
        lines += ["", f"2. end to end over DDS: {e['source']} at {e['resolution']}, "
                      f"{e['publish_rate_hz']:g} Hz for {e['seconds']:g} s"]  # fmt: skip
        for label, key in (
            ("input rate achieved [Hz]", "input_rate_hz"),
            ("node output rate [Hz]", "output_rate_hz"),
            ("model alone [Hz] (before / after)", None),
            ("model alone, per frame [ms]", "model_ms"),
            ("output / min(input, model)", "rate_ratio"),
            ("output / model alone", "output_to_model_rate"),
            ("latency p50 / p99 / max [ms]", None),
            ("node processing p50 [ms] (its diag.)", "node_processing_ms_p50"),
            ("latency first / last third [ms]", None),
            ("frames sent / at node / processed", None),
            ("frames dropped (newest wins)", "frames_dropped"),
            ("frames lost in transport", "frames_lost_in_transport"),
            ("outputs with a person", None),
            ("node RSS start / end / growth [MiB]", None),
        ):
            if key is not None:
                value = _fmt(e[key])
            elif label.startswith("model alone [Hz]"):
                value = (f"{e['model_rate_hz']:.1f} ({e['model_rate_hz_before']:.1f} / "
                         f"{e['model_rate_hz_after']:.1f})")  # fmt: skip
            elif label.startswith("latency p50"):
                value = (f"{e['latency_p50_ms']:.1f} / {e['latency_p99_ms']:.1f} / "
                         f"{e['latency_max_ms']:.1f}")  # fmt: skip
            elif label.startswith("latency first"):
                value = f"{e['latency_first_third_ms']:.1f} / {e['latency_last_third_ms']:.1f}"
            elif label.startswith("frames sent"):
                value = (f"{e['frames_sent']} / {e['frames_received_by_node']} / "
                         f"{e['frames_processed']}")  # fmt: skip
            elif label.startswith("outputs"):
                value = f"{e['outputs_with_a_person']} of {e['outputs_received']}"
            else:
                value = (f"{e['rss_start_mb']:.1f} / {e['rss_end_mb']:.1f} / "
                         f"{e['rss_growth_mb']:+.1f}")  # fmt: skip
            lines.append(f"   {label:38s}{value}")
    if "e2e_saturated" in results:
        s = results["e2e_saturated"]
        lines += [
            "",
            f"2b. end to end, camera faster than the model: {s['publish_rate_hz']:g} Hz "
            f"for {s['seconds']:g} s",
            f"   {'input rate achieved [Hz]':38s}{s['input_rate_hz']:.1f}",
            f"   {'node output rate [Hz]':38s}{s['output_rate_hz']:.1f}",
            f"   {'model alone [Hz]':38s}{s['model_rate_hz']:.1f}",
            f"   {'output / model alone':38s}{s['output_to_model_rate']:.3f}",
            f"   {'frames dropped (newest wins)':38s}{s['frames_dropped']}",
            f"   {'latency p50 / p99 [ms]':38s}"
            f"{s['latency_p50_ms']:.1f} / {s['latency_p99_ms']:.1f}",
        ]
    if "batching" in results:
        b = results["batching"]
        lines += ["", f"3. batching: {b['network']}", f"   {b['engine']}, {b['resolution']}"]
        lines.append(f"   {'':18s}{'call':>10s}{'per person':>12s}{'crop':>10s}{'engine':>10s}")
        for n in (1, 8):
            r = b[f"batch{n}"]
            lines.append(f"   batch {n:<12d}{r['call_ms']:10.3f}{r['per_person_ms']:12.3f}"
                         f"{r['crop_ms']:10.3f}{r['engine_ms']:10.3f}")  # fmt: skip
    if "metric_3d" in results and "lift_us_per_person_by_distortion" in results["metric_3d"]:
        lift = results["metric_3d"]["lift_us_per_person_by_distortion"]
        lines += ["", "4. metric 3D: lift of one person [us] (extra over no distortion)"]
        for name, value in lift.items():
            lines.append(f"   {name:34s}{value:10.1f}{value - lift['none']:+10.1f}")
    fusion = results.get("metric_3d", {}).get("depth_fusion")
    if fusion is not None:
        lines += ["", f"4b. metric 3D: depth fusion at {fusion['resolution']}, "
                      f"{fusion['depth_encoding']} depth, model replayed [us]"]  # fmt: skip
        lines.append(f"   {'':14s}{'no depth':>10s}{'depth':>10s}{'extra/person':>14s}"
                     f"{'step/person':>13s}{'decode':>9s}")  # fmt: skip
        for key in ("1_person", "8_people"):
            r = fusion[key]
            lines.append(f"   {key:14s}{r['pipeline_without_depth_us']:10.0f}"
                         f"{r['pipeline_with_depth_us']:10.0f}{r['extra_us_per_person']:14.0f}"
                         f"{r['anchor_step_us_per_person']:13.0f}"
                         f"{r['depth_decode_us_per_frame']:9.0f}")  # fmt: skip
    if "metric_3d" in results and "bone_correction_us_per_person" in results["metric_3d"]:
        m3 = results["metric_3d"]
        lines += [
            "",
            "4c. metric 3D: pipeline, one person [us] (BlazePose replayed, extra = on - off)",
        ]
        lines.append(f"   {'bone correction off / on':34s}"
                     f"{m3['pipeline_us_without_bone_correction']:10.1f}"
                     f"{m3['pipeline_us_with_bone_correction']:10.1f}"
                     f"{m3['bone_correction_us_per_person']:+10.1f}")  # fmt: skip
    if "multi_person" in results:
        mp = results["multi_person"]
        lines += ["", f"5. everyone in view: {mp['frame_size']} frame, medians [ms]; detector "
                      f"{mp['detector']}: {_fmt(mp['detector_ms'])} ms"]  # fmt: skip
        lines.append(f"   {'people':38s}" + "".join(f"{n:>9d}" for n in mp["people"]))
        for name in mp["frame_ms"]:
            for label, table in (("frame", mp["frame_ms"]), ("  model call", mp["model_ms"])):
                row = table[name]
                lines.append(f"   {name + ' ' + label:38s}"
                             + "".join(f"{row[str(n)]:9.2f}" for n in mp["people"]))  # fmt: skip
        lines.append(f"   {'overhead per extra person [ms]':38s}"
                     f"{mp['overhead_ms_per_extra_person']:.3f}")  # fmt: skip
    if "crowd" in results:
        c = results["crowd"]
        lines += ["", f"7. crowds: person detector on {c['resolution']} frames, medians [ms]; "
                      f"one plain pass {c['plain_pass_ms']:.1f} ms"]  # fmt: skip
        lines.append(f"   {'people':38s}" + "".join(f"{n:>9s}" for n in c["detector_ms"]))
        for label, table, fmt in (
            ("detector [ms]", c["detector_ms"], "{:9.1f}"),
            ("  / one plain pass", c["detector_to_plain_pass"], "{:9.2f}"),
            ("  network calls", c["network_calls"], "{:9d}"),
            ("found exactly once", c["found"], "{:9d}"),
            ("whole frame [ms]", c.get("frame_ms", {}), "{:9.1f}"),
            ("  / 8-person frame", c.get("frame_to_8", {}), "{:9.2f}"),
            ("published", c.get("published", {}), "{:9d}"),
            ("published exactly once", c.get("published_once", {}), "{:9d}"),
            ("  from detector keypoints", c.get("from_detector_keypoints", {}), "{:9d}"),
        ):
            lines.append(f"   {label:38s}" + "".join(fmt.format(v) for v in table.values()))
    if "triton" in results:
        from bench.triton import format_triton

        lines += format_triton(results["triton"])
    if results["targets"]:
        lines += ["", "targets"]
        for target in checks(results):
            lines.append("   " + target.line())
    return "\n".join(lines)


def _finite_check(results: dict[str, Any]) -> None:
    bad = [k for k, v in results.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        raise SystemExit(f"non-finite results: {', '.join(bad)}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    results = run(args, argv)
    print(format_table(results))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "results.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {path}")
    _finite_check(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
