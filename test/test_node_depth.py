"""RGB-D over real DDS: the node pairs colour with depth frames and anchors people at the depth.

The node runs the embedded model on the real photo. The depth images are synthetic: a
person-shaped surface rendered around the skeleton the node itself lifted from that photo, scaled
to a chosen true size and distance (a skeleton scaled about the camera centre projects onto the
same pixels, so the same photo is an adult at 3 m or a 0.6x child at 1.8 m). The limb-length
lift can only ever report the table adult's distance for that photo: right for the adult, 1/0.6
too far for the child. The depth image must put both at their true distance.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from bodypose3d_ros.msg import Pose3D, Pose3DArray
from node_harness import RELIABLE, NodeHarness, make_camera_info, make_image_msg, wait_for
from sensor_msgs.msg import Image

from bodypose3d_ros.core.camera.intrinsics import Intrinsics
from bodypose3d_ros.core.skeleton import INDEX
from bodypose3d_ros.testing.depth_scene import render_body_depth, to_16uc1

PELVIS = INDEX["pelvis"]
FX0 = 530.0
ADULT, CHILD = 1.0, 0.6
TOLERANCE_M = 0.05  # the bound; the torso's surface-to-joint offset is modelled
MAX_OFFSET_S = 0.02


@pytest.fixture(scope="module")
def photo(person_image_path) -> np.ndarray:  # type: ignore[no-untyped-def]
    image = cv2.imread(str(person_image_path))
    assert image is not None
    return image


class Rig:
    """The node under test with a camera and an aligned depth camera publishing to it."""

    def __init__(self, harness: NodeHarness, photo: np.ndarray) -> None:
        self.h = harness
        self.photo = photo
        self.height, self.width = photo.shape[:2]
        self.depth_pub = harness.peer.create_publisher(Image, "depth", RELIABLE)
        assert wait_for(lambda: self.depth_pub.get_subscription_count() > 0, 10.0)
        self.stamp = 100.0
        self.f = FX0

    def intrinsics(self) -> Intrinsics:
        return Intrinsics(self.f, self.f, self.width / 2, self.height / 2, "camera_info")

    def set_focal(self, f: float) -> None:
        """Publish CameraInfo with focal length ``f`` and wait until the node holds it."""
        self.f = f
        self.h.info_pub.publish(make_camera_info(self.width, self.height, f, f,
                                                 self.width / 2, self.height / 2))  # fmt: skip
        node = self.h.node
        assert wait_for(lambda: node._camera_info is not None and node._camera_info.k[0] == f, 10.0)

    def next_stamp(self) -> float:
        # Frames 2 s apart: no depth frame is ever near another colour frame, and a person's
        # depth ratio (carried for DEFAULT_HOLD_S = 1 s over frames without depth) has expired.
        self.stamp += 2.0
        return self.stamp

    def frame(self, stamp: float) -> Pose3D:
        """Send the photo stamped ``stamp``; the one person the node published for it."""
        self.h.image_pub.publish(make_image_msg(self.photo, stamp))
        sec, nanosec = int(stamp), round((stamp - int(stamp)) * 1e9)

        def answer() -> Pose3DArray | None:
            with self.h.lock:
                for _, msg in self.h.poses:
                    if (msg.header.stamp.sec, msg.header.stamp.nanosec) == (sec, nanosec):
                        return msg
            return None

        assert wait_for(lambda: answer() is not None, 30.0), f"no output for stamp {stamp}"
        out = answer()
        assert out is not None
        assert len(out.poses) == 1, out
        pose: Pose3D = out.poses[0]
        return pose

    def send_depth(self, depth_m: np.ndarray, encoding: str, stamp: float) -> None:
        """Publish a depth frame and wait until the node has buffered it."""
        values = to_16uc1(depth_m) if encoding == "16UC1" else depth_m.astype(np.float32)
        self.send_depth_msg(_depth_msg(values, encoding, stamp))

    def send_depth_msg(self, msg: Image) -> None:
        before = self.counters().depth_frames_received
        self.depth_pub.publish(msg)
        assert wait_for(lambda: self.counters().depth_frames_received > before, 10.0)

    def counters(self):  # type: ignore[no-untyped-def]
        counters = self.h.node.snapshot().depth
        assert counters is not None
        return counters

    def render(
        self, xyz: np.ndarray, size: float, depth_size: tuple[int, int] | None = None, seed: int = 0
    ) -> np.ndarray:
        return render_body_depth(
            xyz, size, self.intrinsics(), (self.width, self.height), depth_size,
            rng=np.random.default_rng(seed),
        )  # fmt: skip


def _depth_msg(values: np.ndarray, encoding: str, stamp: float) -> Image:
    msg = Image()
    msg.header.frame_id = "cam_optical"
    msg.header.stamp.sec = int(stamp)
    msg.header.stamp.nanosec = round((stamp - int(stamp)) * 1e9)
    msg.height, msg.width = values.shape
    msg.encoding = encoding
    msg.step = values.shape[1] * values.itemsize
    msg.data = np.ascontiguousarray(values).tobytes()
    return msg


def _xyz(pose: Pose3D) -> np.ndarray:
    return np.array([(k.position.x, k.position.y, k.position.z) for k in pose.keypoints])


def _uv(pose: Pose3D) -> np.ndarray:
    return np.array([(k.u, k.v) for k in pose.keypoints])


@pytest.fixture(scope="module")
def rig(photo: np.ndarray) -> Iterator[Rig]:
    with NodeHarness(
        backend="blazepose", use_depth=True, smoothing=False,
        depth_max_time_offset_s=MAX_OFFSET_S,
        detector="none", track_min_hits=1,  # one person, published from the first frame
    ) as h:  # fmt: skip
        h.start()
        r = Rig(h, photo)
        r.set_focal(FX0)
        for _ in range(3):  # the model settles on the photo
            r.frame(r.next_stamp())
        yield r


def _lifted(rig: Rig, focal: float | None = None) -> Pose3D:
    """A frame with no depth near it: the limb-length lift, reported as such."""
    if focal is not None:
        rig.set_focal(focal)
    unpaired = rig.counters().frames_unpaired
    pose = rig.frame(rig.next_stamp())
    assert pose.root_depth_source == Pose3D.ROOT_DEPTH_LIMB_LENGTHS
    assert rig.counters().frames_unpaired == unpaired + 1
    return pose


@pytest.mark.parametrize(
    ("size", "distance", "encoding", "half_size_depth"),
    [
        (ADULT, 1.5, "16UC1", False),
        (ADULT, 3.0, "32FC1", False),
        (ADULT, 5.0, "16UC1", True),
        (CHILD, 1.5, "32FC1", True),
        (CHILD, 3.0, "16UC1", False),
        (CHILD, 5.0, "32FC1", False),
    ],
)
def test_depth_puts_adult_and_child_at_their_true_distance(
    rig: Rig, size: float, distance: float, encoding: str, half_size_depth: bool
) -> None:
    # Intrinsics chosen so the limb-length lift puts the table adult at distance / size.
    z0 = _xyz(_lifted(rig))[PELVIS, 2]
    rig.set_focal(rig.f * (distance / size) / z0)
    lifted = _lifted(rig)
    lifted_xyz = _xyz(lifted)
    truth = lifted_xyz * size  # the true person: `size` x the table adult, on the same rays
    true_z = truth[PELVIS, 2]
    assert abs(true_z - distance) < 0.1 * distance
    depth_size = (rig.width // 2, rig.height // 2) if half_size_depth else None
    stamp = rig.next_stamp()
    rig.send_depth(rig.render(truth, size, depth_size), encoding, stamp + 0.005)
    from_depth = rig.counters().people_from_depth
    fused = rig.frame(stamp)
    assert fused.root_depth_source == Pose3D.ROOT_DEPTH_DEPTH_IMAGE
    assert rig.counters().people_from_depth == from_depth + 1
    fused_z = _xyz(fused)[PELVIS, 2]
    limb_error = lifted_xyz[PELVIS, 2] - true_z
    depth_error = fused_z - true_z
    # Stated both ways: the limb-length lift is off by the size ratio, the depth is not.
    assert lifted_xyz[PELVIS, 2] / true_z == pytest.approx(1.0 / size, rel=1e-4)
    if size == CHILD:
        assert limb_error > 0.6 * true_z  # 1/0.6 - 1 = 0.67: a 1.5 m child comes back at 2.5 m
    assert abs(depth_error) <= TOLERANCE_M, (limb_error, depth_error)
    # Scaled about the camera centre: the anchored joints still reproject onto their pixels.
    k = rig.intrinsics()
    xyz, uv = _xyz(fused), _uv(fused)
    seen = np.array([kp.confidence > 0.5 for kp in fused.keypoints])
    reprojected = np.column_stack(
        (k.fx * xyz[:, 0] / xyz[:, 2] + k.cx, k.fy * xyz[:, 1] / xyz[:, 2] + k.cy)
    )
    np.testing.assert_allclose(reprojected[seen], uv[seen], atol=1.0)


def test_the_depth_frame_nearest_in_stamp_is_used(rig: Rig) -> None:
    lifted = _xyz(_lifted(rig, FX0))
    stamp = rig.next_stamp()
    # Three depth frames within the offset, each showing the person at another distance.
    for offset, size in ((-0.015, 0.8), (0.004, 1.0), (0.012, 0.7)):
        rig.send_depth(rig.render(lifted * size, size), "16UC1", stamp + offset)
    fused = rig.frame(stamp)
    assert fused.root_depth_source == Pose3D.ROOT_DEPTH_DEPTH_IMAGE
    assert abs(_xyz(fused)[PELVIS, 2] - lifted[PELVIS, 2]) <= TOLERANCE_M  # the 4 ms one


def test_depth_beyond_the_time_offset_is_not_used(rig: Rig) -> None:
    lifted = _xyz(_lifted(rig, FX0))
    stamp = rig.next_stamp()
    rig.send_depth(rig.render(lifted * 0.7, 0.7), "32FC1", stamp + 2 * MAX_OFFSET_S)
    unpaired = rig.counters().frames_unpaired
    pose = rig.frame(stamp)
    assert pose.root_depth_source == Pose3D.ROOT_DEPTH_LIMB_LENGTHS
    assert rig.counters().frames_unpaired == unpaired + 1
    assert _xyz(pose)[PELVIS, 2] == pytest.approx(lifted[PELVIS, 2], rel=0.02)


def test_bad_depth_is_rejected_counted_and_the_frame_still_served(rig: Rig) -> None:
    lifted = _xyz(_lifted(rig, FX0))
    good = to_16uc1(rig.render(lifted, 1.0))
    wrong_encoding = _depth_msg(good, "16UC1", 0.0)
    wrong_encoding.encoding = "rgb8"
    truncated = _depth_msg(good, "16UC1", 0.0)
    truncated.data = bytes(truncated.data)[:1000]
    not_registered = _depth_msg(np.full((100, 100), 2000, np.uint16), "16UC1", 0.0)
    for bad, says in ((wrong_encoding, "not supported"), (truncated, "bytes"),
                      (not_registered, "not registered")):  # fmt: skip
        stamp = rig.next_stamp()
        bad.header.stamp.sec, bad.header.stamp.nanosec = int(stamp), 0
        rig.send_depth_msg(bad)
        rejected = rig.counters().depth_frames_rejected
        pose = rig.frame(stamp)
        assert pose.root_depth_source == Pose3D.ROOT_DEPTH_LIMB_LENGTHS
        assert rig.counters().depth_frames_rejected == rejected + 1
        snapshot = rig.h.node.snapshot()
        assert "bad depth image" in snapshot.last_error
        assert says in snapshot.last_error
        assert snapshot.recent_rejects > 0


def test_a_depth_image_with_no_valid_pixels_on_the_person_falls_back(rig: Rig) -> None:
    stamp = rig.next_stamp()
    holes = np.zeros((rig.height, rig.width), np.float32)
    rig.send_depth(holes, "32FC1", stamp)
    before = rig.counters()
    pose = rig.frame(stamp)
    after = rig.counters()
    assert pose.root_depth_source == Pose3D.ROOT_DEPTH_LIMB_LENGTHS
    assert after.people_from_limb_lengths == before.people_from_limb_lengths + 1
    assert after.frames_unpaired == before.frames_unpaired  # it was paired, just empty
    assert after.depth_frames_rejected == before.depth_frames_rejected  # and not bad input
    from bodypose3d_ros.ros.diagnostics import snapshot_values

    keys = {kv.key: kv.value for kv in snapshot_values(rig.h.node.snapshot())}
    assert int(keys["people with root depth from the depth image"]) >= 1
    assert int(keys["frames without a depth image within the time offset"]) >= 1


def test_one_depth_frame_in_three_missing_keeps_the_pelvis_distance_steady(rig: Rig) -> None:
    """The field case: a still 0.6x person, colour at 10 Hz, every third depth frame missing (late
    beyond the time offset). Limb lengths put them 1/0.6 too far; the distance must not jump
    there and back on the frames without depth, frame after frame."""
    lifted = _xyz(_lifted(rig, FX0))
    truth = lifted * CHILD
    depth_m = rig.render(truth, CHILD)
    base = rig.next_stamp()
    unpaired = rig.counters().frames_unpaired
    carried = rig.counters().people_from_carried_depth
    distances, sources = [], []
    frames = 12
    for i in range(frames):
        stamp = base + 0.1 * i
        if i % 3 != 2:
            rig.send_depth(depth_m, "16UC1", stamp)
        pose = rig.frame(stamp)
        distances.append(float(_xyz(pose)[PELVIS, 2]))
        sources.append(pose.root_depth_source)
    rig.stamp = base + 0.1 * frames  # later tests: 2 s on from here, past the 1 s hold
    assert rig.counters().frames_unpaired == unpaired + frames // 3  # really without depth
    assert rig.counters().people_from_carried_depth == carried + frames // 3
    steps = [abs(b / a - 1.0) for a, b in itertools.pairwise(distances)]
    assert max(steps) <= 0.10, distances
    assert set(sources) == {Pose3D.ROOT_DEPTH_DEPTH_IMAGE}  # the depth distance, carried
    assert max(abs(d - truth[PELVIS, 2]) for d in distances) <= TOLERANCE_M


def test_a_depth_image_of_a_few_pixels_anchors_nobody_and_says_why(rig: Rig) -> None:
    """3x2 pixels have the 640x424 photo's aspect ratio (1.5 vs 1.51): registered by shape, but
    every torso window reads the same handful of pixels. Not a measurement of the person."""
    rig.set_focal(FX0)
    stamp = rig.next_stamp()
    rig.send_depth_msg(_depth_msg(np.full((2, 3), 1800, np.uint16), "16UC1", stamp))
    before = rig.counters()
    pose = rig.frame(stamp)
    after = rig.counters()
    assert pose.root_depth_source == Pose3D.ROOT_DEPTH_LIMB_LENGTHS
    assert after.frames_unpaired == before.frames_unpaired  # paired, then judged
    causes_before, causes_after = dict(before.fallback_causes), dict(after.fallback_causes)
    cause = "too few depth pixels"
    assert causes_after.get(cause, 0) == causes_before.get(cause, 0) + 1
    from bodypose3d_ros.ros.diagnostics import snapshot_values

    keys = {kv.key: kv.value for kv in snapshot_values(rig.h.node.snapshot())}
    assert int(keys[f"depth not used: {cause}"]) >= 1
