"""RViz skeleton markers built with the real visualization_msgs classes."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from ros_fixtures import run_with_field_checks

pytest.importorskip("rclpy", reason="rclpy missing: run the tests via tools/with-env")

from builtin_interfaces.msg import Time
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header
from visualization_msgs.msg import Marker, MarkerArray

from bodypose3d_ros.core import skeleton
from bodypose3d_ros.core.types import Box, Person3D
from bodypose3d_ros.ros.markers import MarkerBuilder

HEADER = Header(stamp=Time(sec=5, nanosec=6), frame_id="camera_color_optical_frame")
IDX = skeleton.INDEX


def _person(person_id: str, low: tuple[int, ...] = (), seed: int = 0) -> Person3D:
    """All keypoints confident (0.9) except the indices in ``low`` (0.1)."""
    rng = np.random.default_rng(seed)
    confidence = np.full(34, 0.9)
    confidence[list(low)] = 0.1
    return Person3D(
        id=person_id,
        score=0.9,
        box=Box(0.0, 0.0, 10.0, 10.0),
        uv=rng.uniform(0, 100, (34, 2)),
        xyz=rng.uniform(-1, 3, (34, 3)),
        confidence=confidence,
    )


def _by_key(array: MarkerArray) -> dict[tuple[str, int], Marker]:
    keys = [(m.ns, m.id) for m in array.markers]
    assert len(keys) == len(set(keys)), f"duplicate (ns, id) in one array: {keys}"
    return {(m.ns, m.id): m for m in array.markers}


def test_one_person_gives_joints_and_bones_in_the_image_frame() -> None:
    person = _person("body_1")
    markers = _by_key(MarkerBuilder().build(HEADER, [person], []))
    assert set(markers) == {("body/body_1", 0), ("body/body_1", 1)}
    joints, bones = markers[("body/body_1", 0)], markers[("body/body_1", 1)]
    assert (joints.type, joints.action) == (Marker.SPHERE_LIST, Marker.ADD)
    assert (bones.type, bones.action) == (Marker.LINE_LIST, Marker.ADD)
    for marker in (joints, bones):
        assert marker.header.frame_id == HEADER.frame_id
        assert marker.header.stamp == HEADER.stamp
        assert marker.pose.orientation.w == 1.0
        assert len(marker.colors) == len(marker.points)
    assert len(joints.points) == 34
    assert len(bones.points) == 2 * len(skeleton.DRAWN_BONES)
    # Points are the person's metres, in keypoint order.
    first = joints.points[IDX["left_knee"]]
    assert (first.x, first.y, first.z) == tuple(person.xyz[IDX["left_knee"]])
    # Bone points come in (parent, child) pairs from DRAWN_BONES.
    parent, child = skeleton.DRAWN_BONES[0]
    assert (bones.points[0].x, bones.points[1].x) == (person.xyz[parent, 0], person.xyz[child, 0])
    assert joints.scale.x == joints.scale.y == joints.scale.z == pytest.approx(0.05)
    assert bones.scale.x == pytest.approx(0.02)


def test_colours_are_in_0_to_1_and_follow_body_side() -> None:
    markers = _by_key(MarkerBuilder().build(HEADER, [_person("a")], []))
    joints = markers[("body/a", 0)]
    for marker in markers.values():
        channels = [(c.r, c.g, c.b, c.a) for c in marker.colors] + [
            (marker.color.r, marker.color.g, marker.color.b, marker.color.a)
        ]
        assert all(0.0 <= value <= 1.0 for rgba in channels for value in rgba)
        assert all(rgba[3] > 0 for rgba in channels), "invisible colour"
    left = joints.colors[IDX["left_wrist"]]
    right = joints.colors[IDX["right_wrist"]]
    center = joints.colors[IDX["nose"]]
    for colour, side in ((left, "left"), (right, "right"), (center, "center")):
        assert (colour.r, colour.g, colour.b) == pytest.approx(skeleton.SIDE_COLORS[side])
    assert (left.r, left.g, left.b) != pytest.approx((right.r, right.g, right.b))


def test_low_confidence_joints_and_their_bones_are_left_out() -> None:
    low = (IDX["left_wrist"], IDX["right_knee"], IDX["nose"])
    markers = _by_key(MarkerBuilder(min_confidence=0.3).build(HEADER, [_person("p", low)], []))
    joints, bones = markers[("body/p", 0)], markers[("body/p", 1)]
    assert len(joints.points) == 34 - len(low)
    kept_bones = [b for b in skeleton.DRAWN_BONES if b[0] not in low and b[1] not in low]
    assert len(bones.points) == 2 * len(kept_bones)
    assert len(kept_bones) < len(skeleton.DRAWN_BONES)
    # The wrist's position must not appear anywhere.
    wrist = tuple(_person("p", low).xyz[IDX["left_wrist"]])
    assert wrist not in [(p.x, p.y, p.z) for m in (joints, bones) for p in m.points]


def test_threshold_is_inclusive_and_configurable() -> None:
    person = _person("p")
    person.confidence[:] = 0.5
    assert len(MarkerBuilder(min_confidence=0.5).build(HEADER, [person]).markers[0].points) == 34
    deleted = MarkerBuilder(min_confidence=0.51).build(HEADER, [person]).markers
    assert [m.action for m in deleted] == [Marker.DELETE, Marker.DELETE]


def test_ids_and_namespaces_are_stable_across_frames() -> None:
    builder = MarkerBuilder(ns_prefix="skel")
    first = builder.build(HEADER, [_person("body_1", seed=1), _person("body_2", seed=2)], [])
    second = builder.build(HEADER, [_person("body_2", seed=3), _person("body_1", seed=4)], [])
    assert set(_by_key(first)) == set(_by_key(second)) == {
        ("skel/body_1", 0), ("skel/body_1", 1), ("skel/body_2", 0), ("skel/body_2", 1)
    }  # fmt: skip


def test_lost_ids_are_deleted_and_empty_people_are_not_drawn() -> None:
    builder = MarkerBuilder()
    nobody = _person("body_5", low=tuple(range(34)))
    out = _by_key(builder.build(HEADER, [_person("body_1"), nobody], ["body_4", "body_1"]))
    # body_4 is lost: both markers deleted. body_1 is listed as lost but still seen: drawn.
    assert out[("body/body_4", 0)].action == Marker.DELETE
    assert out[("body/body_4", 1)].action == Marker.DELETE
    assert out[("body/body_1", 0)].action == Marker.ADD
    # No confident joint at all: DELETE rather than an empty list.
    assert out[("body/body_5", 0)].action == Marker.DELETE
    assert out[("body/body_5", 1)].action == Marker.DELETE
    for marker in out.values():
        assert marker.header.frame_id == HEADER.frame_id
        if marker.action == Marker.DELETE:
            assert not marker.points


def test_isolated_confident_joints_delete_the_bone_marker() -> None:
    # Only the two wrists are confident: no bone joins them.
    low = tuple(i for i in range(34) if i not in (IDX["left_wrist"], IDX["right_wrist"]))
    out = _by_key(MarkerBuilder().build(HEADER, [_person("p", low)]))
    assert len(out[("body/p", 0)].points) == 2
    assert out[("body/p", 1)].action == Marker.DELETE


def test_non_finite_positions_are_not_drawn() -> None:
    person = _person("p")
    person.xyz[IDX["neck"]] = np.nan
    joints = MarkerBuilder().build(HEADER, [person]).markers[0]
    assert len(joints.points) == 33
    assert all(np.isfinite([p.x, p.y, p.z]).all() for p in joints.points)


def test_delete_all_and_lifetime() -> None:
    cleared = MarkerBuilder().delete_all(HEADER)
    assert [m.action for m in cleared.markers] == [Marker.DELETEALL]
    assert cleared.markers[0].header.frame_id == HEADER.frame_id
    marker = MarkerBuilder(lifetime_s=0.25).build(HEADER, [_person("p")]).markers[0]
    assert (marker.lifetime.sec, marker.lifetime.nanosec) == (0, 250_000_000)
    with pytest.raises(ValueError, match="min_confidence"):
        MarkerBuilder(min_confidence=1.5)
    with pytest.raises(ValueError, match="bone_width"):
        MarkerBuilder(bone_width=0.0)


def test_marker_array_serialises() -> None:
    out = MarkerBuilder().build(HEADER, [_person("a"), _person("b", low=(0, 1))], ["c"])
    back = deserialize_message(serialize_message(out), MarkerArray)
    assert len(back.markers) == len(out.markers) == 6
    for got, sent in zip(back.markers, out.markers, strict=True):
        assert (got.ns, got.id, got.type, got.action) == (sent.ns, sent.id, sent.type, sent.action)
        assert got.header == sent.header
        assert got.points == sent.points  # float64: exact
        # Colours are float32 on the wire.
        got_rgba = [v for c in got.colors for v in (c.r, c.g, c.b, c.a)]
        assert got_rgba == pytest.approx([v for c in sent.colors for v in (c.r, c.g, c.b, c.a)])


def test_markers_pass_ros_field_checks() -> None:
    """ROS_PYTHON_CHECK_FIELDS=1 makes every setter check its type (read at import time)."""
    script = textwrap.dedent(
        """
        import numpy as np
        from std_msgs.msg import Header
        from bodypose3d_ros.core.types import Box, Person3D
        from bodypose3d_ros.ros.markers import MarkerBuilder
        person = Person3D(id="body_1", score=0.9, box=Box(0.0, 0.0, 1.0, 1.0),
                          uv=np.ones((34, 2)), xyz=np.ones((34, 3), np.float32),
                          confidence=np.full(34, 0.9, np.float32))
        out = MarkerBuilder(lifetime_s=0.5).build(Header(frame_id="cam"), [person], ["body_2"])
        assert out.markers[0]._check_fields and len(out.markers) == 4
        MarkerBuilder().delete_all(Header(frame_id="cam"))
        print("checked")
        """
    )
    run_with_field_checks(script)


def test_unobserved_joints_are_never_drawn_even_with_threshold_zero() -> None:
    from bodypose3d_ros.core.types import Box, Person3D
    from bodypose3d_ros.ros.markers import MarkerBuilder

    confidence = np.full(34, 0.9)
    confidence[[11, 12, 28, 29]] = 0.0  # e.g. BlazePose's missing small toes and middle tips
    xyz = np.column_stack(
        [np.linspace(-0.3, 0.3, 34), np.linspace(-0.8, 0.8, 34), np.full(34, 3.0)]
    )
    xyz[confidence == 0.0] = 0.0  # placeholders at the camera origin
    person = Person3D("body_1", 0.9, Box(0, 0, 10, 10), np.zeros((34, 2)), xyz, confidence)
    markers = MarkerBuilder(min_confidence=0.0).build(Header(frame_id="cam"), [person], [])
    joints = next(m for m in markers.markers if m.type == Marker.SPHERE_LIST)
    assert len(joints.points) == 30
    for marker in markers.markers:
        assert all(p.z == pytest.approx(3.0) for p in marker.points)  # nothing at the origin


def test_points_written_directly_equal_those_written_through_checking_setters() -> None:
    """Without field checks the joints' Points are written past the generated setters; with
    them, through the setters. Both ways must draw the same markers."""
    people = [_person("body_1", low=(3, 9), seed=1), _person("body_2", seed=2)]
    direct, checked = MarkerBuilder(), MarkerBuilder()
    checked.build(HEADER, people)  # makes the pooled Points, then asks them to check
    for _, _, points in checked._pool:
        for point in points:
            point._check_fields = True
    first, second = direct.build(HEADER, people), checked.build(HEADER, people)
    assert not first.markers[0].points[0]._check_fields
    assert second.markers[0].points[0]._check_fields
    assert first == second
    joints = first.markers[2].points  # body_2's joints: every keypoint, in order
    np.testing.assert_array_equal([[p.x, p.y, p.z] for p in joints], people[1].xyz)


def test_detector_keypoint_people_are_drawn_visibly_apart_in_the_same_slots() -> None:
    import dataclasses

    from bodypose3d_ros.ros.markers import DETECTOR_RGB

    fitted = _person("a")
    from_detector = dataclasses.replace(_person("b", seed=1), keypoint_source="detector")
    builder = MarkerBuilder()
    markers = _by_key(builder.build(HEADER, [fitted, from_detector], []))
    model_joints, model_bones = markers[("body/a", 0)], markers[("body/a", 1)]
    joints, bones = markers[("body/b", 0)], markers[("body/b", 1)]
    assert model_joints.type == Marker.SPHERE_LIST
    assert joints.type == Marker.CUBE_LIST
    assert bones.scale.x < model_bones.scale.x
    for marker in (joints, bones):
        assert len(marker.colors) == len(marker.points) > 0
        assert {(c.r, c.g, c.b) for c in marker.colors} == {DETECTOR_RGB}
    assert len({(c.r, c.g, c.b) for c in model_joints.colors}) > 1  # by body side
    # The pooled markers are refilled per person: swapping the two swaps the styles back.
    swapped = _by_key(builder.build(HEADER, [from_detector, fitted], []))
    assert swapped[("body/a", 0)].type == Marker.SPHERE_LIST
    assert swapped[("body/b", 0)].type == Marker.CUBE_LIST
    assert swapped[("body/a", 1)].scale.x == pytest.approx(0.02)
    assert len({(c.r, c.g, c.b) for c in swapped[("body/a", 0)].colors}) > 1
