"""The per-frame JSON record and its strict schema."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace
from typing import Any

import jsonschema
import numpy as np
import pytest

from bodypose3d_ros.core import skeleton
from bodypose3d_ros.core.camera.intrinsics import Intrinsics
from bodypose3d_ros.core.output.result_json import (
    FRAME_SCHEMA,
    frame_schema,
    frame_to_json,
    roi_json,
    validate_frame_json,
)
from bodypose3d_ros.core.output.schema_validation import as_draft7, validator_for
from bodypose3d_ros.core.types import Box, Person3D

INTRINSICS = Intrinsics(500.0, 510.0, 320.5, 240.25, "camera_info")
BOX = Box(100.4, 50.6, 80.0, 200.0)


def _person(person_id: str = "body_3", box: Box = BOX) -> Person3D:
    idx = np.arange(34, dtype=np.float64)
    return Person3D(
        id=person_id,
        score=0.8125,
        box=box,
        uv=np.column_stack((100 + idx, 50 + 2 * idx)),
        xyz=np.column_stack((0.01 * idx, -0.02 * idx, 3 + 0.001 * idx)),
        confidence=np.linspace(0.0, 1.0, 34),
    )


def _record(**kwargs: Any) -> dict[str, Any]:
    return frame_to_json("cam.png", 640, 480, "blazepose", INTRINSICS, [_person()], **kwargs)


def test_record_has_the_documented_layout_and_values() -> None:
    record = _record()
    validate_frame_json(record)
    assert set(record) == {"image", "width", "height", "backend", "intrinsics", "people"}
    assert record["intrinsics"] == {
        "fx": 500.0, "fy": 510.0, "cx": 320.5, "cy": 240.25, "source": "camera_info"
    }  # fmt: skip
    (person,) = record["people"]
    assert person["id"] == "body_3"
    assert person["score"] == 0.8125
    keypoints = person["keypoints"]
    assert [kp["name"] for kp in keypoints] == list(skeleton.KEYPOINT_NAMES)
    neck = keypoints[skeleton.INDEX["neck"]]  # index 6
    assert neck == {
        "name": "neck", "u": 106.0, "v": 62.0, "x": 0.06, "y": -0.12, "z": 3.006,
        "confidence": pytest.approx(6 / 33, abs=1e-4),
    }  # fmt: skip
    # Plain Python numbers, so any JSON encoder takes it.
    assert type(neck["u"]) is float
    assert type(person["roi"]["x"]) is int
    json.dumps(record, allow_nan=False)


def test_roi_is_the_box_clipped_to_the_image_in_whole_pixels() -> None:
    assert roi_json(Box(100.4, 50.6, 80.0, 200.0), 640, 480) == {
        "x": 100, "y": 50, "width": 81, "height": 201
    }  # fmt: skip
    assert roi_json(Box(-10.0, -5.0, 50.0, 1000.0), 640, 480) == {
        "x": 0, "y": 0, "width": 40, "height": 480
    }  # fmt: skip
    assert roi_json(Box(700.0, 10.0, 50.0, 50.0), 640, 480)["width"] == 0


def test_video_frames_carry_frame_and_stamp() -> None:
    record = _record(frame=12, stamp=0.4)
    validate_frame_json(record)
    assert record["frame"] == 12
    assert record["stamp"] == 0.4
    with pytest.raises(ValueError, match="frame and stamp"):
        _record(frame=12)


def test_unliftable_keypoints_become_zero_with_confidence_zero() -> None:
    person = _person()
    person.xyz[5] = np.nan
    person.uv[7] = np.inf
    record = frame_to_json("a.png", 640, 480, "bodypose3dnet", INTRINSICS, [person])
    validate_frame_json(record)
    json.dumps(record, allow_nan=False)  # strict JSON: would raise on NaN
    for i in (5, 7):
        kp = record["people"][0]["keypoints"][i]
        assert kp["confidence"] == 0.0
        assert (kp["x"], kp["y"], kp["z"], kp["u"], kp["v"]) == (0.0,) * 5


def test_no_people_is_valid() -> None:
    record = frame_to_json("a.png", 640, 480, "blazepose", INTRINSICS, [])
    validate_frame_json(record)
    assert record["people"] == []


def test_schema_itself_is_valid_draft_2020_12() -> None:
    if not hasattr(jsonschema, "Draft202012Validator"):
        pytest.skip(f"jsonschema {jsonschema.__version__} has no draft 2020-12 (needs >= 4.0)")
    jsonschema.Draft202012Validator.check_schema(frame_schema())


def _broken(mutate: str) -> dict[str, Any]:
    record = copy.deepcopy(_record(frame=0, stamp=0.0))
    person = record["people"][0]
    kps = person["keypoints"]
    if mutate == "33 keypoints":
        kps.pop()
    elif mutate == "35 keypoints":
        kps.append(dict(kps[-1]))
    elif mutate == "keypoint without confidence":
        del kps[3]["confidence"]
    elif mutate == "no intrinsics":
        del record["intrinsics"]
    elif mutate == "width as text":
        record["width"] = "640"
    elif mutate == "u as text":
        kps[0]["u"] = "1.0"
    elif mutate == "roi x as float":
        person["roi"]["x"] = 1.5
    elif mutate == "extra field":
        kps[0]["w"] = 1.0
    elif mutate == "swapped names":
        kps[1]["name"], kps[2]["name"] = kps[2]["name"], kps[1]["name"]
    elif mutate == "confidence above 1":
        kps[0]["confidence"] = 1.5
    elif mutate == "unknown intrinsics source":
        record["intrinsics"]["source"] = "guess"
    elif mutate == "frame without stamp":
        del record["stamp"]
    elif mutate == "negative frame":
        record["frame"] = -1
    return record


BROKEN = [
    "33 keypoints", "35 keypoints", "keypoint without confidence", "no intrinsics",
    "width as text", "u as text", "roi x as float", "extra field", "swapped names",
    "confidence above 1", "unknown intrinsics source", "frame without stamp",
    "negative frame",
]  # fmt: skip


@pytest.mark.parametrize("mutate", BROKEN)
def test_schema_rejects_broken_records(mutate: str) -> None:
    validate_frame_json(_record(frame=0, stamp=0.0))  # the unbroken one passes
    with pytest.raises(jsonschema.ValidationError):
        validate_frame_json(_broken(mutate))


def test_person_says_where_its_distance_came_from() -> None:
    import dataclasses

    import jsonschema

    anchored = dataclasses.replace(_person(), root_depth_source="depth")
    record = frame_to_json("cam.png", 640, 480, "blazepose", INTRINSICS, [_person(), anchored])
    validate_frame_json(record)
    assert [p["root_depth_source"] for p in record["people"]] == ["limb_lengths", "depth"]
    record["people"][0]["root_depth_source"] = "guess"
    with pytest.raises(jsonschema.ValidationError):
        validate_frame_json(record)
    del record["people"][0]["root_depth_source"]
    with pytest.raises(jsonschema.ValidationError):
        validate_frame_json(record)


def test_person_says_where_its_keypoints_came_from() -> None:
    import dataclasses

    import jsonschema

    from_detector = dataclasses.replace(_person(), keypoint_source="detector")
    record = frame_to_json("cam.png", 640, 480, "blazepose", INTRINSICS, [_person(), from_detector])
    validate_frame_json(record)
    assert [p["keypoint_source"] for p in record["people"]] == ["pose_model", "detector"]
    record["people"][0]["keypoint_source"] = "guess"
    with pytest.raises(jsonschema.ValidationError):
        validate_frame_json(record)
    del record["people"][0]["keypoint_source"]
    with pytest.raises(jsonschema.ValidationError):
        validate_frame_json(record)


# jsonschema 3.2 (Ubuntu 22.04, ROS 2 Humble) as far as validators go: draft 7 is its newest.
JSONSCHEMA_3_2 = SimpleNamespace(__version__="3.2.0", Draft7Validator=jsonschema.Draft7Validator)


def test_without_draft_2020_12_the_same_rules_are_checked_as_draft_7() -> None:
    validator = validator_for(frame_schema(), JSONSCHEMA_3_2)  # type: ignore[arg-type]
    assert isinstance(validator, jsonschema.Draft7Validator)
    jsonschema.Draft7Validator.check_schema(validator.schema)
    validator.validate(_record(frame=0, stamp=0.0))
    validator.validate(_record())  # a still image: neither frame nor stamp
    for mutate in BROKEN:
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(_broken(mutate))


def test_the_draft_7_form_keeps_the_2020_12_only_rules() -> None:
    draft7 = as_draft7(frame_schema())
    keypoints = draft7["properties"]["people"]["items"]["properties"]["keypoints"]
    assert "prefixItems" not in keypoints
    assert len(keypoints["items"]) == skeleton.NUM_KEYPOINTS
    assert keypoints["additionalItems"] is False
    assert draft7["dependencies"] == {"frame": ["stamp"], "stamp": ["frame"]}
    assert frame_schema() == FRAME_SCHEMA  # the input is left alone


def test_a_jsonschema_without_usable_validators_names_the_version_needed() -> None:
    with pytest.raises(RuntimeError, match=r"jsonschema >= 3\.0"):
        validator_for(frame_schema(), SimpleNamespace(__version__="2.6.0"))  # type: ignore[arg-type]
