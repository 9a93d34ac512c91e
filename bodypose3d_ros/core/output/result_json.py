"""The JSON record of one image or video frame, and the strict JSON Schema it must satisfy.

One self-describing object per frame: keypoints carry their names, metres are in the camera
optical frame (x right, y down, z forward) and the intrinsics say where they came from, so a
file can be used without this package. The output is strict JSON (no NaN): a keypoint without a
3D position gets zero coordinates and confidence 0.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any, Final

import numpy as np

from bodypose3d_ros.core import skeleton
from bodypose3d_ros.core.camera.distortion import DISTORTION_MODELS
from bodypose3d_ros.core.camera.intrinsics import INTRINSICS_SOURCES, Intrinsics
from bodypose3d_ros.core.types import (
    KEYPOINT_SOURCE_DETECTOR,
    KEYPOINT_SOURCE_POSE_MODEL,
    ROOT_DEPTH_DEPTH_IMAGE,
    ROOT_DEPTH_LIMB_LENGTHS,
    Box,
    Person3D,
)

# Decimal places kept in the file: 0.01 px, 0.1 mm and 1e-4 confidence are well below the noise.
PIXEL_DECIMALS: Final = 2
METRE_DECIMALS: Final = 4
CONFIDENCE_DECIMALS: Final = 4


def _object(properties: dict[str, Any], required: Sequence[str] | None = None) -> dict[str, Any]:
    """A closed JSON object schema: every listed property required, nothing else allowed."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties if required is None else required),
        "additionalProperties": False,
    }


_NUMBER: Final = {"type": "number"}
_UNIT: Final = {"type": "number", "minimum": 0.0, "maximum": 1.0}
_KEYPOINT_FIELDS: Final = ("u", "v", "x", "y", "z")

FRAME_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "bodypose3d_ros frame result",
    **_object(
        {
            "image": {"type": "string"},
            "width": {"type": "integer", "minimum": 1},
            "height": {"type": "integer", "minimum": 1},
            "backend": {"type": "string", "minLength": 1},
            "intrinsics": _object(
                {
                    "fx": {"type": "number", "exclusiveMinimum": 0},
                    "fy": {"type": "number", "exclusiveMinimum": 0},
                    "cx": _NUMBER,
                    "cy": _NUMBER,
                    "source": {"enum": list(INTRINSICS_SOURCES)},
                    # Present only for a distorted (raw) image: u, v are its raw pixels.
                    "distortion_model": {"enum": list(DISTORTION_MODELS)},
                    "distortion_coefficients": {"type": "array", "items": _NUMBER},
                },
                required=("fx", "fy", "cx", "cy", "source"),
            ),
            "people": {
                "type": "array",
                "items": _object(
                    {
                        "id": {"type": "string", "minLength": 1},
                        "score": _UNIT,
                        "roi": _object(
                            {
                                "x": {"type": "integer", "minimum": 0},
                                "y": {"type": "integer", "minimum": 0},
                                "width": {"type": "integer", "minimum": 0},
                                "height": {"type": "integer", "minimum": 0},
                            }
                        ),
                        # What fixed the distance: the limb-length lift or a depth image.
                        "root_depth_source": {
                            "enum": [ROOT_DEPTH_LIMB_LENGTHS, ROOT_DEPTH_DEPTH_IMAGE]
                        },
                        # What gave the keypoints: the pose model, or the person detector's
                        # own 17 keypoints (no depth of their own: one plane facing the camera).
                        "keypoint_source": {
                            "enum": [KEYPOINT_SOURCE_POSE_MODEL, KEYPOINT_SOURCE_DETECTOR]
                        },
                        "keypoints": {
                            "type": "array",
                            "minItems": skeleton.NUM_KEYPOINTS,
                            "maxItems": skeleton.NUM_KEYPOINTS,
                            # Each position holds the keypoint of that name: index order is fixed.
                            "prefixItems": [
                                _object(
                                    {
                                        "name": {"const": name},
                                        **{f: _NUMBER for f in _KEYPOINT_FIELDS},
                                        "confidence": _UNIT,
                                    }
                                )
                                for name in skeleton.KEYPOINT_NAMES
                            ],
                            "items": False,
                        },
                    }
                ),
            },
            "frame": {"type": "integer", "minimum": 0},
            "stamp": _NUMBER,
        },
        required=("image", "width", "height", "backend", "intrinsics", "people"),
    ),
    # A video frame carries both its index and its time, a still image neither.
    "dependentRequired": {"frame": ["stamp"], "stamp": ["frame"]},
}


def frame_schema() -> dict[str, Any]:
    """A copy of the schema, safe to modify or dump to a file."""
    return copy.deepcopy(FRAME_SCHEMA)


def frame_to_json(
    image_name: str,
    width: int,
    height: int,
    backend: str,
    intrinsics: Intrinsics,
    people: Sequence[Person3D],
    frame: int | None = None,
    stamp: float | None = None,
) -> dict[str, Any]:
    """The record of one image (or one video frame when ``frame`` and ``stamp`` are given)."""
    if (frame is None) != (stamp is None):
        raise ValueError("give both frame and stamp (a video frame) or neither (an image)")
    out: dict[str, Any] = {
        "image": image_name,
        "width": int(width),
        "height": int(height),
        "backend": backend,
        "intrinsics": {
            "fx": float(intrinsics.fx),
            "fy": float(intrinsics.fy),
            "cx": float(intrinsics.cx),
            "cy": float(intrinsics.cy),
            "source": intrinsics.source,
        },
        "people": [_person_json(p, width, height) for p in people],
    }
    if intrinsics.distortion is not None:
        out["intrinsics"]["distortion_model"] = intrinsics.distortion.model
        out["intrinsics"]["distortion_coefficients"] = list(intrinsics.distortion.coefficients)
    if frame is not None and stamp is not None:
        out["frame"] = int(frame)
        out["stamp"] = float(stamp)
    return out


def _person_json(person: Person3D, width: int, height: int) -> dict[str, Any]:
    uv = np.asarray(person.uv, dtype=np.float64)
    xyz = np.asarray(person.xyz, dtype=np.float64)
    confidence = np.clip(np.nan_to_num(np.asarray(person.confidence, dtype=np.float64)), 0, 1)
    valid = np.all(np.isfinite(uv), axis=1) & np.all(np.isfinite(xyz), axis=1)
    confidence = np.where(valid, confidence, 0.0).round(CONFIDENCE_DECIMALS)
    uv = np.where(valid[:, None], uv, 0.0).round(PIXEL_DECIMALS)
    xyz = np.where(valid[:, None], xyz, 0.0).round(METRE_DECIMALS)
    rows = np.column_stack((uv, xyz, confidence)).tolist()  # plain Python floats
    score = float(person.score) if math.isfinite(person.score) else 0.0
    return {
        "id": person.id,
        "score": round(min(max(score, 0.0), 1.0), CONFIDENCE_DECIMALS),
        "roi": roi_json(person.box, width, height),
        "root_depth_source": person.root_depth_source,
        "keypoint_source": person.keypoint_source,
        "keypoints": [
            {"name": name, "u": u, "v": v, "x": x, "y": y, "z": z, "confidence": c}
            for name, (u, v, x, y, z, c) in zip(skeleton.KEYPOINT_NAMES, rows, strict=True)
        ],
    }


def roi_json(box: Box, width: int, height: int) -> dict[str, int]:
    """The box clipped to the image, in whole pixels that cover it (outward rounding)."""
    x0 = min(max(math.floor(box.x), 0), width)
    y0 = min(max(math.floor(box.y), 0), height)
    x1 = min(max(math.ceil(box.x + box.width), x0), width)
    y1 = min(max(math.ceil(box.y + box.height), y0), height)
    return {"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0}


def validate_frame_json(obj: Any) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``obj`` is a valid frame record.

    Works with jsonschema 3.2 (Ubuntu 22.04) too: see
    :mod:`bodypose3d_ros.core.output.schema_validation`.
    """
    import jsonschema

    from bodypose3d_ros.core.output.schema_validation import validator_for

    validator_for(FRAME_SCHEMA, jsonschema).validate(obj)
