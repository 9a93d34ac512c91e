"""Bags in, bags out: the offline CLI, run for real on bags written from real photos and a video.

The output bags are read back with an independent reader (``mcap`` + ``mcap-ros2-support``) that
decodes with nothing but the message definitions stored in the file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from recorded_bags import (
    BASE_SEC,
    Camera,
    lone_mcap,
    stamp_of,
    video_frames,
    write_bag,
    write_foreign_mcap,
    write_ros1_bag,
)
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

REPO_ROOT = Path(__file__).resolve().parent.parent
FRAMES = 4  # a person is reported from the third sighting on (the node's track_min_hits)
FPS = 4.0  # stamps i / 4 s are exact in binary, in a video and in a header alike
FOREIGN_TOPIC = "/robot3/head/image_raw/compressed"


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    out: Path


def _run_cli(out: Path, *args: str) -> Run:
    paths = [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]  # keeps the built messages
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    done = subprocess.run(
        [sys.executable, "-m", "bodypose3d_ros.infer", "--out", str(out), *args],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    return Run(done.returncode, done.stdout, done.stderr, out)


def _shifted(photo: np.ndarray, count: int = FRAMES) -> list[np.ndarray]:
    return [np.roll(photo, 8 * i, axis=1) for i in range(count)]


def _small(path: Path, width: int) -> np.ndarray:
    photo = cv2.imread(str(path))
    assert photo is not None
    height = round(photo.shape[0] * width / photo.shape[1])
    return cv2.resize(photo, (width, height), interpolation=cv2.INTER_AREA)


# name -> (camera, storage; None: a ROS 1 .bag); all hold FRAMES frames of a real photo
CAMERAS: dict[str, tuple[Camera, StoragePlugin | None]] = {
    "street": (Camera("/robot1/camera/image_raw", "bgr8", fx=500.0), StoragePlugin.MCAP),
    "zidane": (Camera("/cam/image_raw", "rgb8", fx=450.0), StoragePlugin.SQLITE3),
    "yuv": (Camera("/cam/image_raw", "yuv422", fx=500.0), StoragePlugin.SQLITE3),
    "head": (
        Camera("/robot2/head/image_raw/compressed", "jpeg", fx=420.0, frame_id="head_optical"),
        StoragePlugin.MCAP,
    ),
    "mono": (Camera("/cam/image_raw", "mono8"), StoragePlugin.MCAP),  # no CameraInfo
    "ros1": (Camera("/camera/rgb/image_color", "bgr8", fx=520.0), None),
}


@pytest.fixture(scope="module")
def recorded(
    person_image_path: Path, zidane_image_path: Path, bus_image_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:  # fmt: skip
    """A video and bags of real pictures; the street bag holds the video's decoded frames."""
    folder = tmp_path_factory.mktemp("recorded")
    person = cv2.imread(str(person_image_path))
    assert person is not None
    video = folder / "street.mp4"
    h, w = person.shape[:2]
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (w, h))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write mp4v video")
    for frame in _shifted(person):
        writer.write(frame)
    writer.release()
    pictures = {
        "street": video_frames(video),
        "zidane": [_small(zidane_image_path, 640)] * FRAMES,  # one man stands at the border
        "yuv": _shifted(person),
        "head": _shifted(_small(bus_image_path, 405)),
        "mono": _shifted(person),
        "ros1": _shifted(_small(person_image_path, 480)),
    }
    assert len(pictures["street"]) == FRAMES
    bags = {}
    for name, (camera, storage) in CAMERAS.items():
        if storage is None:
            bags[name] = write_ros1_bag(folder / f"{name}.bag", camera, pictures[name], FPS)
        else:
            bags[name] = write_bag(folder / name, camera, pictures[name], FPS, storage)
    bags["mono"] = lone_mcap(bags["mono"], folder / "mono.mcap")
    bags["foreign"] = write_foreign_mcap(
        folder / "foreign.mcap", FOREIGN_TOPIC, _shifted(person), FPS, fx=510.0
    )
    return {"video": video, "bags": bags, "pictures": pictures}


@pytest.fixture(scope="module")
def bag_run(recorded: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Run:
    bags = [str(recorded["bags"][name]) for name in CAMERAS if CAMERAS[name][1] is not None]
    bags.append(str(recorded["bags"]["foreign"]))
    run = _run_cli(
        tmp_path_factory.mktemp("bag_out"), "--bag-debug-image", "--bag-copy-input", *bags
    )
    assert run.returncode == 0, run.stderr
    # A ROS 1 bag's messages cannot be copied into a rosbag2 as they are: run it on its own.
    ros1 = _run_cli(run.out, str(recorded["bags"]["ros1"]))
    assert ros1.returncode == 0, ros1.stderr
    return Run(0, run.stdout + ros1.stdout, run.stderr + ros1.stderr, run.out)


def _read_bag(folder: Path) -> dict[str, list[Any]]:
    """topic -> (log time, decoded message) of the bag's one .mcap, by its stored schemas."""
    (path,) = folder.glob("*.mcap")
    out: dict[str, list[Any]] = {}
    with path.open("rb") as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        for _, channel, message, decoded in reader.iter_decoded_messages(log_time_order=True):
            out.setdefault(channel.topic, []).append((message.log_time, decoded))
    return out


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("name", list(CAMERAS))
def test_every_image_gives_poses_and_markers_with_its_header(bag_run: Run, name: str) -> None:
    camera, _ = CAMERAS[name]
    folder = bag_run.out / f"{name}_poses"
    assert "storage_identifier: mcap" in (folder / "metadata.yaml").read_text()
    topics = _read_bag(folder)
    poses, markers = topics["/bodypose3d/poses"], topics["/bodypose3d/markers"]
    assert len(poses) == len(markers) == FRAMES
    for index, ((log_ns, array), (marker_ns, marker_array)) in enumerate(
        zip(poses, markers, strict=True)
    ):
        sec, nanosec = stamp_of(index, FPS)
        assert (array.header.stamp.sec, array.header.stamp.nanosec) == (sec, nanosec)
        assert array.header.frame_id == camera.frame_id
        assert log_ns == marker_ns == sec * 1_000_000_000 + nanosec  # the image's log time
        for pose in array.poses:
            assert pose.header.stamp.sec == sec
            assert len(pose.keypoints) == 34
            assert all(0.0 <= k.confidence <= 1.0 for k in pose.keypoints)
        for marker in marker_array.markers:
            assert marker.header.frame_id == camera.frame_id
    last = poses[-1][1]
    assert last.poses, f"{name}: nobody found in the last frame"
    assert any(p.keypoints[0].position.z > 0.5 for p in last.poses)  # metres in front
    assert any(m.action == 0 and m.points for m in markers[-1][1].markers)  # ADD, drawn


def test_stored_type_hashes_are_those_of_the_built_messages(bag_run: Run) -> None:
    """ROS 2 tools check a topic's type by its RIHS01 hash: the bag's must be the real ones."""
    from ament_index_python.packages import get_package_share_directory

    metadata = (bag_run.out / "street_poses" / "metadata.yaml").read_text()
    for package, name in (("bodypose3d_ros", "Pose3DArray"), ("visualization_msgs", "MarkerArray")):
        share = Path(get_package_share_directory(package))
        built = json.loads((share / "msg" / f"{name}.json").read_text())
        hashes = [
            h["hash_string"]
            for h in built["type_hashes"]
            if h["type_name"] == f"{package}/msg/{name}"
        ]
        assert hashes
        assert hashes[0] in metadata


def test_debug_images_and_input_copies_are_in_the_bag(
    bag_run: Run, recorded: dict[str, Any]
) -> None:
    camera, _ = CAMERAS["head"]
    topics = _read_bag(bag_run.out / "head_poses")
    debug = topics["/bodypose3d/debug_image"]
    assert len(debug) == FRAMES
    height, width = recorded["pictures"]["head"][0].shape[:2]
    assert (debug[0][1].width, debug[0][1].height, debug[0][1].encoding) == (width, height, "bgr8")
    assert len(topics[camera.image_topic]) == FRAMES
    assert len(topics[camera.info_topic]) == FRAMES
    assert bytes(topics[camera.image_topic][0][1].data)[:2] == b"\xff\xd8"  # the JPEG itself


@pytest.mark.parametrize("name", list(CAMERAS))
def test_jsonl_has_one_record_per_image_with_the_bags_intrinsics(bag_run: Run, name: str) -> None:
    camera, _ = CAMERAS[name]
    records = _jsonl(bag_run.out / f"{name}.jsonl")
    assert [r["frame"] for r in records] == list(range(FRAMES))
    assert [r["stamp"] for r in records] == [BASE_SEC + i / FPS for i in range(FRAMES)]
    for record in records:
        k = record["intrinsics"]
        if camera.fx:
            assert (k["source"], k["fx"], k["fy"]) == ("camera_info", camera.fx, camera.fx)
        else:
            assert k["source"] == "default"
    assert (bag_run.out / f"{name}_sheet.png").is_file()
    assert name in bag_run.stdout  # one summary line per bag


def test_an_mcap_file_from_another_writer_is_read(bag_run: Run) -> None:
    """Written by the MCAP project's ROS 2 writer (zstd chunks), not by the library we read with."""
    records = _jsonl(bag_run.out / "foreign.jsonl")
    assert [r["frame"] for r in records] == list(range(FRAMES))
    assert [r["stamp"] for r in records] == [BASE_SEC + i / FPS for i in range(FRAMES)]
    assert {(r["intrinsics"]["source"], r["intrinsics"]["fx"]) for r in records} == {
        ("camera_info", 510.0)
    }
    poses = _read_bag(bag_run.out / "foreign_poses")["/bodypose3d/poses"]
    assert len(poses) == FRAMES
    assert poses[-1][1].poses
    assert poses[-1][1].header.frame_id == "head_optical"


def test_zidane_bag_finds_both_men(bag_run: Run) -> None:
    last = _read_bag(bag_run.out / "zidane_poses")["/bodypose3d/poses"][-1][1]
    assert len(last.poses) == 2
    assert len({p.id for p in last.poses}) == 2


def test_bag_gives_the_same_jsonl_as_the_video_of_its_frames(
    recorded: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Same pixels, stamps (shifted by BASE_SEC) and intrinsics: the same records."""
    out = tmp_path_factory.mktemp("video_vs_bag")
    h, w = recorded["pictures"]["street"][0].shape[:2]
    video_run = _run_cli(
        out / "video", "--fx", "500", "--fy", "500", "--cx", str(w / 2), "--cy", str(h / 2),
        str(recorded["video"]),
    )  # fmt: skip
    assert video_run.returncode == 0, video_run.stderr
    bag_run = _run_cli(out / "bag", str(recorded["bags"]["street"]))
    assert bag_run.returncode == 0, bag_run.stderr
    from_video = _jsonl(out / "video" / "street.jsonl")
    from_bag = _jsonl(out / "bag" / "street.jsonl")
    assert len(from_video) == len(from_bag) == FRAMES
    assert any(r["people"] for r in from_bag)
    for v, b in zip(from_video, from_bag, strict=True):
        assert (v.pop("image"), b.pop("image")) == ("street.mp4", "street")
        assert (v["intrinsics"].pop("source"), b["intrinsics"].pop("source")) == (
            "arguments",
            "camera_info",
        )
        assert b.pop("stamp") - BASE_SEC == v.pop("stamp")
        assert v == b


def test_start_and_duration_pick_a_window_and_arguments_override_camera_info(
    recorded: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    out = tmp_path_factory.mktemp("window")
    run = _run_cli(
        out, "--start", "0.5", "--duration", "0.3", "--fx", "700", "--fy", "700", "--cx", "320",
        "--cy", "212", str(recorded["bags"]["yuv"]),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    records = _jsonl(out / "yuv.jsonl")
    assert [r["frame"] for r in records] == [2, 3]
    assert {(r["intrinsics"]["source"], r["intrinsics"]["fx"]) for r in records} == {
        ("arguments", 700.0)
    }
    assert len(_read_bag(out / "yuv_poses")["/bodypose3d/poses"]) == 2


def test_depth_topic_anchors_people_paired_by_stamp(
    person_image_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A wall-flat depth image 2.5 m away, 10 ms off the colour stamp and logged after it; the
    last frame's depth is 100 ms off (beyond the node's 40 ms): no depth paired with that one."""
    folder = tmp_path_factory.mktemp("depth")
    person = cv2.imread(str(person_image_path))
    assert person is not None
    h, w = person.shape[:2]
    wall = np.full((h // 2, w // 2), 2500, dtype=np.uint16)  # registered at half resolution
    offsets = [10_000_000] * 4 + [100_000_000]
    camera = Camera("/cam/color/image_raw", "bgr8", fx=500.0)
    bag = write_bag(
        folder / "rgbd", camera, _shifted(person, 5), FPS, depth=[(o, wall) for o in offsets]
    )
    run = _run_cli(folder / "out", "--depth-topic", "/cam/depth/image_rect_raw", str(bag))
    assert run.returncode == 0, run.stderr
    assert "1 without depth" in run.stdout
    records = _jsonl(folder / "out" / "rgbd.jsonl")
    paired, unpaired = records[3], records[4]
    assert paired["people"]
    assert unpaired["people"]
    for person_record in paired["people"]:
        assert person_record["root_depth_source"] == "depth"
        pelvis = person_record["keypoints"][0]
        assert pelvis["name"] == "pelvis"
        assert 2.2 < pelvis["z"] < 2.9
    # The unpaired frame is counted above; the pipeline carries the person's depth ratio over it
    # (a second at most), so its distance does not jump back to the limb-length guess.
    assert all(2.2 < p["keypoints"][0]["z"] < 2.9 for p in unpaired["people"])
    poses = _read_bag(folder / "out" / "rgbd_poses")["/bodypose3d/poses"]
    assert poses[3][1].poses[0].root_depth_source == 1  # Pose3D.ROOT_DEPTH_DEPTH_IMAGE


def _bag_with_string_topic(path: Path) -> Path:
    store = get_typestore(Stores.ROS2_JAZZY)
    string = store.types["std_msgs/msg/String"]
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection("/chatter", "std_msgs/msg/String", typestore=store)
        writer.write(conn, 1, store.serialize_cdr(string(data="hi"), "std_msgs/msg/String"))
    return path


@pytest.fixture(scope="module")
def bad_run(person_image_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("bad")
    person = _small(person_image_path, 160)
    frames = _shifted(person, 2)
    cam = Camera("/cam/image_raw", "bgr8")
    _bag_with_string_topic(folder / "no_images")
    write_bag(folder / "two_cameras", cam, frames, FPS, extra_image_topics=["/cam2/image_raw"])
    write_bag(folder / "unstamped", cam, frames, FPS, stamped=False)
    plugin = write_bag(folder / "odd_plugin", cam, frames, FPS, StoragePlugin.SQLITE3)
    meta = plugin / "metadata.yaml"
    meta.write_text(meta.read_text().replace("sqlite3", "leveldb"))
    good = write_bag(folder / "cut", cam, frames, FPS)
    (cut,) = good.glob("*.mcap")
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    (folder / "garbage.mcap").write_bytes(b"\x89MCAP0\r\n" + bytes(range(256)) * 8)
    names = ["no_images", "two_cameras", "unstamped", "odd_plugin", "cut", "garbage.mcap"]
    return _run_cli(folder / "out", *(str(folder / n) for n in names))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("no_images", "no image topic in the bag; it has /chatter (std_msgs/msg/String)"),
        ("two_cameras", "several image topics (/cam/image_raw, /cam2/image_raw)"),
        ("unstamped", "carry no stamps"),
        ("odd_plugin", "storage plugin 'leveldb' (metadata.yaml) is unknown here"),
        ("cut", "cannot open the bag"),
        ("garbage.mcap", "cannot open the bag"),
    ],
)
def test_bad_bag_is_one_clear_line_and_writes_nothing(
    bad_run: Run, name: str, message: str
) -> None:
    assert bad_run.returncode == 1
    lines = [line for line in bad_run.stderr.splitlines() if f"/{name}: " in line]
    assert len(lines) == 1, bad_run.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    stem = name.removesuffix(".mcap")
    leftovers = list(bad_run.out.glob(f"*{stem}*"))
    assert leftovers == [], leftovers


def test_cut_mcap_gives_the_frames_before_the_cut(
    person_image_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A recording killed mid-write: no footer, no index, half a chunk at the end."""
    folder = tmp_path_factory.mktemp("cut")
    person = cv2.imread(str(person_image_path))
    assert person is not None
    bag = write_bag(folder / "killed", Camera("/cam/image_raw", "bgr8"), _shifted(person, 8), FPS)
    (mcap,) = bag.glob("*.mcap")
    data = mcap.read_bytes()
    mcap.write_bytes(data[: len(data) * 6 // 10])
    glitch = write_bag(
        folder / "glitch", Camera("/cam/image_raw", "bgr8"), _shifted(person), FPS, broken=[1]
    )
    run = _run_cli(folder / "out", str(bag), str(glitch))
    # One message that does not decode is skipped and said; the rest of that bag is processed.
    assert "1 image(s) could not be decoded (first: image 1: does not decode" in run.stderr
    assert [r["frame"] for r in _jsonl(folder / "out" / "glitch.jsonl")] == [0, 2, 3]
    assert "glitch: 3 frames" in run.stdout
    assert run.returncode == 1  # not silent: the run says the bag was not read to its end
    (line,) = [x for x in run.stderr.splitlines() if x.startswith("error:")]
    assert "unreadable after" in line
    assert "the outputs hold the frames before it" in line
    records = _jsonl(folder / "out" / "killed.jsonl")
    assert 2 <= len(records) < 8
    assert [r["frame"] for r in records] == list(range(len(records)))
    poses = _read_bag(folder / "out" / "killed_poses")["/bodypose3d/poses"]
    assert len(poses) == len(records)
    assert poses[-1][1].poses  # the person, tracked by then


def test_missing_topic_lists_the_topics(recorded: dict[str, Any], tmp_path: Path) -> None:
    run = _run_cli(tmp_path, "--image-topic", "/nope", str(recorded["bags"]["head"]))
    assert run.returncode == 1
    (line,) = [x for x in run.stderr.splitlines() if x.startswith("error:")]
    assert "--image-topic /nope: no such topic" in line
    assert "/robot2/head/image_raw/compressed (sensor_msgs/msg/CompressedImage)" in line
    assert "/robot2/head/camera_info (sensor_msgs/msg/CameraInfo)" in line
    assert not list(tmp_path.glob("head*"))
