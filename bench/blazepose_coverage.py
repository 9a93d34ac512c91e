"""Who gets a pose, and how far off rotated people are: BlazePose direct vs the Tasks path.

Not a timing: a count on real photos, both paths given the same boxes in one run.

* people: every person MoveNet finds in the real photos (``person.jpg``: back-turned;
  ``zidane.jpg``: a side-on man bending and a man whose legs are out of the frame;
  ``bus.jpg``: three walkers, one cut by the right border), then the same photos cut so the
  border crosses people (left, right, top and bottom halves). The Tasks path gets each
  detection's box; the direct path the same box with the detector's keypoints, as in the node.
* agreement with MoveNet: the photos hold no ground-truth keypoints, so each path's body joints
  (shoulders to ankles) are compared with those MoveNet, an independent network, is sure of
  (score >= 0.5): the share within 10 % of the detection's box height. A person a path does not
  fit agrees on nothing. It is not accuracy (MoveNet errs too), but a joint off by a large part
  of the body, like an outstretched arm cut off by a square crop, shows up.
* rotation: ``person.jpg`` turned by 30, 60 and 90 degrees (a person leaning, falling, lying);
  MoveNet's detection of the turned person goes to each path as above; its keypoints, turned
  back, are compared with the same path's on the upright photo (median and worst over the sure
  body joints, pixels).

Run: ``tools/with-env python -m bench.blazepose_coverage`` (prints a table and JSON).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bodypose3d_ros.core import skeleton
from bodypose3d_ros.core.camera.intrinsics import default_intrinsics
from bodypose3d_ros.core.models.blazepose import BlazePoseModel
from bodypose3d_ros.core.people.detection import COCO17_TO_SKELETON, Detection
from bodypose3d_ros.core.people.detectors.movenet import MoveNetDetector, MoveNetParams
from bodypose3d_ros.core.people.detectors.movenet_file import extract_from_wheel
from bodypose3d_ros.core.types import Box, HintedBox
from bodypose3d_ros.testing.blazepose_tasks import TasksBlazePoseModel

DATA = Path(__file__).resolve().parent.parent / ".cache" / "data"
BODY = [skeleton.INDEX[n] for n in (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)]  # fmt: skip
COCO_BODY = range(5, 17)  # COCO 17: shoulders to ankles
SURE = 0.5  # a MoveNet keypoint this sure is compared
AGREE = 0.10  # of the detection's box height


def _read(name: str) -> np.ndarray:
    image = cv2.imread(str(DATA / name))
    if image is None:
        raise SystemExit(f"{DATA / name} is missing: tools/with-env fetches the photos")
    return image


def _hinted(name: str, d: Detection) -> Box:
    """The box a path gets: the direct path also gets the keypoints, as in the pipeline."""
    if name == "direct":
        return HintedBox(d.box.x, d.box.y, d.box.width, d.box.height, None, d.keypoints)
    return d.box


def _cuts(image: np.ndarray) -> dict[str, np.ndarray]:
    h, w = image.shape[:2]
    return {
        "whole": image,
        "left half": image[:, : w // 2],
        "right half": image[:, w // 2 :],
        "top half": image[: h // 2],
        "bottom 2/3": image[h // 3 :],
    }


def count_people(detector: MoveNetDetector, models: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for photo in ("person.jpg", "zidane.jpg", "bus.jpg"):
        for cut, part in _cuts(_read(photo)).items():
            image = np.ascontiguousarray(part)
            h, w = image.shape[:2]
            k = default_intrinsics(w, h)
            for d in detector.detect(image, 0.0):
                row: dict[str, Any] = {"photo": photo, "cut": cut, "box": [round(v) for v in
                                       (d.box.x, d.box.y, d.box.width, d.box.height)]}  # fmt: skip
                kp = d.keypoints
                sure = [i for i in COCO_BODY if kp is not None and kp[i, 2] >= SURE]
                row["movenet_sure_joints"] = len(sure)
                for name, model in models.items():
                    model.reset()
                    poses = model.estimate(image, [_hinted(name, d)], k)
                    row[name] = len(poses)
                    row[f"{name}_agreeing"] = _agreeing(poses[0].uv, d, sure) if poses else 0
                rows.append(row)
    compared = sum(r["movenet_sure_joints"] for r in rows)
    return {
        "people": len(rows),
        "fitted": {name: sum(r[name] for r in rows) for name in models},
        "movenet_sure_joints": compared,
        "agreeing_with_movenet": {
            name: sum(r[f"{name}_agreeing"] for r in rows) / max(compared, 1) for name in models
        },
        "agreement_worse_than_tasks": [
            r for r in rows if r["direct_agreeing"] < r["tasks_agreeing"]
        ],
        "only_direct": [r for r in rows if r["direct"] and not r["tasks"]],
        "only_tasks": [r for r in rows if r["tasks"] and not r["direct"]],
    }


def _agreeing(uv: np.ndarray, d: Detection, sure: list[int]) -> int:
    """How many of the detection's ``sure`` keypoints the pose's joints lie near."""
    if d.keypoints is None:
        return 0
    off = np.linalg.norm(uv[COCO17_TO_SKELETON[sure]] - d.keypoints[sure, :2], axis=1)
    return int(np.sum(off <= AGREE * d.box.height))


def _turned(image: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    size = (int(h * s + w * c) + 1, int(h * c + w * s) + 1)
    m[:, 2] += (size[0] / 2 - w / 2, size[1] / 2 - h / 2)
    return cv2.warpAffine(image, m, size), m


def rotation_error(detector: MoveNetDetector, models: dict[str, Any]) -> dict[str, Any]:
    photo = _read("person.jpg")
    h, w = photo.shape[:2]
    (seen,) = detector.detect(photo, 0.0)
    out: dict[str, Any] = {}
    for name, model in models.items():
        model.reset()
        (upright,) = model.estimate(photo, [_hinted(name, seen)], default_intrinsics(w, h))
        out[name] = {}
        for degrees in (30, 60, 90):
            turned, m = _turned(photo, degrees)
            th, tw = turned.shape[:2]
            (d,) = detector.detect(turned, 0.0)
            model.reset()
            poses = model.estimate(turned, [_hinted(name, d)], default_intrinsics(tw, th))
            if not poses:
                out[name][str(degrees)] = None
                continue
            back = cv2.invertAffineTransform(m)
            uv = poses[0].uv @ back[:, :2].T + back[:, 2]
            sure = [i for i in BODY if upright.confidence[i] >= 0.5]
            off = np.linalg.norm(uv[sure] - upright.uv[sure], axis=1)
            out[name][str(degrees)] = {
                "median_px": round(float(np.median(off)), 1),
                "worst_px": round(float(np.max(off)), 1),
            }
    return out


def main() -> int:
    detector = MoveNetDetector(extract_from_wheel(), MoveNetParams())
    models: dict[str, Any] = {"tasks": TasksBlazePoseModel(), "direct": BlazePoseModel()}
    try:
        result = {
            "people": count_people(detector, models),
            "rotation": rotation_error(detector, models),
        }
    finally:
        detector.close()
        for model in models.values():
            model.close()
    people = result["people"]
    print(f"people found by MoveNet in the photos and their cuts: {people['people']}")
    for name, fitted in people["fitted"].items():
        print(f"  {name:7s} fitted {fitted}")
    for key in ("only_direct", "only_tasks"):
        for row in people[key]:
            print(f"  {key}: {row['photo']} {row['cut']} box {row['box']}")
    print(f"MoveNet's sure body joints the pose agrees with (of {people['movenet_sure_joints']}):")
    for name, share in people["agreeing_with_movenet"].items():
        print(f"  {name:7s} {share:.3f}")
    for row in people["agreement_worse_than_tasks"]:
        print(
            f"  direct agrees less: {row['photo']} {row['cut']} box {row['box']}: "
            f"{row['direct_agreeing']} vs {row['tasks_agreeing']} of {row['movenet_sure_joints']}"
        )
    for name, by_angle in result["rotation"].items():
        print(f"rotation, {name}: {by_angle}")
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
