"""BlazePose GHUM 3D, the pose model shipped inside the mediapipe 0.10.14 wheel, as a PoseModel.

It works offline on the CPU and needs no model download, so the package produces skeletons out
of the box. BlazePose's landmark network (``pose_landmark_full.tflite``, read from the wheel and
checked, ``blazepose_file``) runs directly with ai-edge-litert (``blazepose_network``), one
rotated square crop per person (``blazepose_roi``), aligned as mediapipe's own tracking mode
aligns it:

- a person fitted in the previous call (the box's ``track``) is looked for where their own
  alignment points (hip centre, body point) put them: centred, upright, sized to the body (one
  network run); when that crop loses them, they are looked for as a newcomer in the same call;
  when it finds them far (over ``REALIGN_JUMP`` of its side) from where it was centred, it is
  re-aligned at once as a newcomer's is (a person who jumped between frames, half in the crop,
  is fitted where they are, not halfway);
- a newcomer with detector keypoints (the box's ``keypoints``, COCO 17) from their hips,
  hip -> shoulder direction and extent; where they miss the hips, from the box's upright guess
  (``roi_from_box``: the person detector would often find only a neighbour in such a box);
- anyone else (a box without keypoints, e.g. a followed crop; the whole image when no box is
  given) from BlazePose's own person detector (``blazepose_detection``, ``pose_detection.tflite``
  from the same wheel), as mediapipe's graph finds a newcomer: in a whole-image search the most
  confident person, for a box the best one whose hips (else face) lie in the box. Where it finds
  nobody there, the box's upright guess (``roi_from_box``) is looked at as before; not for a
  tracked person whose own crop just lost them: a guess in their old box fitted whatever else
  was there (a dog beside them, a horse) as them, so they get no crop and the pipeline looks
  further. Either way the look is then re-aligned on the alignment points it gave. The
  detector's interpreter is built at the first such search: boxes that always come with
  keypoints (MoveNet) never pay for it; its file is checked at start-up all the same.

mediapipe's Tasks graph is not used: it ran the person detector again on every crop, a network
per person per frame, and found nobody whose face it could not use (side-on, back-turned, cut by
the border). The detector is a short-range one: it finds a person who fills a good part of the
searched square (in the whole of zidane.jpg, 1280 x 720, neither man reaches its 0.5 score; in
bus.jpg only the nearest person), so a whole-image search of a wide scene may still fall back
on the guess. A crop whose pose flag stays under 0.5 gives no pose: the person is not fitted
this frame (counted in ``unfitted``), and the pipeline sees "no pose" for that box. Each crop
yields at most one person; the same code serves one person and many.

BlazePose's 33 landmarks are mapped onto BodyPose3DNet's 34 keypoints so that both backends go
through the same lifting, smoothing and messages:

- same-named joints map directly; BlazePose's foot index -> big toe, pinky -> pinky knuckle,
  index -> index knuckle, thumb -> thumb tip; the eyes use the eye-centre landmarks;
- pelvis = mid-hips, neck = mid-shoulders, torso = midway between them, each with the lowest
  confidence of the landmarks it is made from;
- BlazePose has no small toes and no middle finger tips: those sit on the big toe and the index
  knuckle (so drawings stay sane) with confidence 0, so nothing downstream trusts them.

A landmark's confidence is the lower of its visibility (not occluded) and presence (inside the
crop). Depth comes from BlazePose's metric world landmarks (metres, origin between the hips),
which do not depend on the crop. Their axes match the camera optical frame: x to the image right,
y down, z away from the camera. ``z_rel`` is the depth relative to the pelvis divided by the
pelvis-neck distance, the scale-normalised unit the lifting expects. The score is
:func:`~bodypose3d_ros.core.skeleton.person_score`, as for every backend. The pose's box (the
published ROI) is the box of the sure keypoints grown by 10%, not the crop: the crop is a rotated
square that says little about the person.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from bodypose3d_ros.core import skeleton
from bodypose3d_ros.core.camera.intrinsics import Intrinsics
from bodypose3d_ros.core.image.color import check_colour_image, to_rgb
from bodypose3d_ros.core.models.blazepose_detection import PersonDetection, PersonDetectionNetwork
from bodypose3d_ros.core.models.blazepose_file import detection_model_path, landmark_model_path
from bodypose3d_ros.core.models.blazepose_network import (
    BODY_POINT,
    HIP_CENTRE,
    NUM_BODY_LANDMARKS,
    LandmarkNetwork,
    RawLandmarks,
    cut_roi,
)
from bodypose3d_ros.core.models.blazepose_roi import (
    BOX_RADIUS_SCALE,
    Roi,
    roi_from_alignment_points,
    roi_from_box,
    roi_from_coco_keypoints,
)
from bodypose3d_ros.core.types import Box, FloatArray, HintedBox, Pose25D

# BlazePose's landmark order (mediapipe.solutions.pose.PoseLandmark, lower-cased).
BLAZEPOSE_LANDMARK_NAMES: Final[tuple[str, ...]] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip
NUM_BLAZEPOSE_LANDMARKS: Final = len(BLAZEPOSE_LANDMARK_NAMES)
_BP: Final[dict[str, int]] = {name: i for i, name in enumerate(BLAZEPOSE_LANDMARK_NAMES)}

# Our keypoint -> the BlazePose landmarks it is the mean of (its confidence is their minimum).
_SOURCES: Final[dict[str, tuple[str, ...]]] = {
    "pelvis": ("left_hip", "right_hip"),
    "neck": ("left_shoulder", "right_shoulder"),
    "torso": ("left_hip", "right_hip", "left_shoulder", "right_shoulder"),
    **{f"{side}_{joint}": (f"{side}_{joint}",)
       for side in ("left", "right")
       for joint in ("hip", "knee", "ankle", "heel", "eye", "ear", "shoulder", "elbow", "wrist")},
    **{f"{side}_{ours}": (f"{side}_{theirs}",)
       for side in ("left", "right")
       for ours, theirs in (("big_toe", "foot_index"), ("pinky_knuckle", "pinky"),
                            ("index_knuckle", "index"), ("thumb_tip", "thumb"))},
    "nose": ("nose",),
    # Not measured by BlazePose: placed on a neighbour, confidence forced to 0.
    **{f"{side}_small_toe": (f"{side}_foot_index",) for side in ("left", "right")},
    **{f"{side}_middle_tip": (f"{side}_index",) for side in ("left", "right")},
}  # fmt: skip
UNMEASURED_KEYPOINTS: Final[tuple[str, ...]] = (
    "left_small_toe", "right_small_toe", "left_middle_tip", "right_middle_tip",
)  # fmt: skip


def _mapping_arrays() -> tuple[FloatArray, npt.NDArray[np.intp], FloatArray]:
    """(34, 33) averaging weights, (34, 4) confidence source indices, (34,) confidence mask."""
    weights = np.zeros((skeleton.NUM_KEYPOINTS, NUM_BLAZEPOSE_LANDMARKS), dtype=np.float64)
    conf_sources = np.zeros((skeleton.NUM_KEYPOINTS, 4), dtype=np.intp)
    for k, name in enumerate(skeleton.KEYPOINT_NAMES):
        sources = [_BP[s] for s in _SOURCES[name]]
        weights[k, sources] = 1.0 / len(sources)
        conf_sources[k] = np.resize(sources, 4)  # repeat to a fixed width for one np.min
    measured = np.array(
        [name not in UNMEASURED_KEYPOINTS for name in skeleton.KEYPOINT_NAMES], dtype=np.float64
    )
    return weights, conf_sources, measured


MAP_WEIGHTS, CONFIDENCE_SOURCES, MEASURED_MASK = _mapping_arrays()
_PELVIS: Final = skeleton.INDEX["pelvis"]
_NECK: Final = skeleton.INDEX["neck"]
# Keypoints at or above this confidence define the person's box.
BOX_MIN_CONFIDENCE: Final = 0.5
BOX_GROWTH: Final = 0.10


def landmarks_to_pose25d(
    image_landmarks: npt.ArrayLike,
    world_landmarks: npt.ArrayLike,
    width: float,
    height: float,
    origin: tuple[float, float] = (0.0, 0.0),
    visible: Box | None = None,
) -> Pose25D | None:
    """Map BlazePose output onto the 34-keypoint skeleton.

    ``image_landmarks`` (33, 3): x, y normalised to a ``width`` x ``height`` frame whose top-left
    corner is at ``origin`` in the source image (a crop), and confidence; ``world_landmarks``
    (33, 3): metric x, y, z. Keypoints outside ``visible`` (the part of the source image the
    model was shown) were guessed, not seen: their confidence becomes 0. Returns None when the
    pose is degenerate (pelvis and neck coincide).
    """
    image_lm = np.asarray(image_landmarks, dtype=np.float64)
    world = np.asarray(world_landmarks, dtype=np.float64)
    uv = MAP_WEIGHTS @ image_lm[:, :2]
    uv *= (float(width), float(height))
    uv += origin
    confidence = np.clip(image_lm[:, 2], 0.0, 1.0)[CONFIDENCE_SOURCES].min(axis=1) * MEASURED_MASK
    if visible is not None:
        lo = np.array([visible.x, visible.y])
        hi = np.array([visible.x + visible.width, visible.y + visible.height])
        seen = np.all((uv >= lo) & (uv <= hi), axis=1)
        confidence[~seen] = 0.0
    xyz = MAP_WEIGHTS @ world
    scale = float(np.linalg.norm(xyz[_NECK] - xyz[_PELVIS]))
    if not np.isfinite(scale) or scale < 1e-6 or not np.all(np.isfinite(uv)):
        return None
    z_rel = (xyz[:, 2] - xyz[_PELVIS, 2]) / scale
    return Pose25D(
        uv=uv,
        z_rel=z_rel,
        confidence=confidence,
        box=_keypoint_box(uv, confidence),
        score=skeleton.person_score(confidence),
    )


def _keypoint_box(uv: FloatArray, confidence: FloatArray) -> Box:
    """Bounding box of the confident keypoints (all measured ones if none), 10% larger."""
    pts = uv[confidence >= BOX_MIN_CONFIDENCE]
    if len(pts) == 0:
        pts = uv[MEASURED_MASK > 0]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    size = (hi - lo) * (1.0 + BOX_GROWTH)
    centre = (lo + hi) / 2.0
    return Box(
        float(centre[0] - size[0] / 2), float(centre[1] - size[1] / 2), float(size[0]),
        float(size[1]),
    )  # fmt: skip


# A crop not placed from the person's own last landmarks (a newcomer) is looked at again,
# aligned on the alignment points the last look gave, up to this many times, until the region
# moves by less than REALIGN_SETTLED of its side: what mediapipe's tracking mode does on the
# following frames, done at once (a newcomer costs up to 1 + REALIGN_PASSES networks).
REALIGN_PASSES: Final = 6
REALIGN_SETTLED: Final = 0.02
# A tracked person's crop is re-aligned in the same call too when the alignment points it gave
# put them more than this fraction of its side away (a jump between frames): a crop that holds
# only part of the person fits them off their place. A person walking moves a few % a frame.
REALIGN_JUMP: Final = 0.1
# A tracked person's crop from their last landmarks is used while the detector (when it ran this
# frame) puts their hip centre within this fraction of the crop's side of its centre; a
# newcomer's re-aligned crop is taken while its centre stays that close to the detector's hips,
# and its pose only with its hips that close (MoveNet's and BlazePose's hip centres lie 1-3.5% of
# the side apart on the real photos).
TRACKED_AGREEMENT: Final = 0.06
# A search of the whole image (no box, or a box that is the image) first looks at the image
# letterboxed (its long side), so a
# person who does not fill the image is still big enough for the alignment points to lead to them.
WHOLE_IMAGE_RADIUS_SCALE: Final = 0.4

# Where only a box is known: (box, whether it is the whole image) -> the ROI to start from.
Search = Callable[[Box, bool], Roi | None]


def _in_box(box: Box, x: float, y: float) -> bool:
    return box.x <= x <= box.x + box.width and box.y <= y <= box.y + box.height


def _person_in(box: Box, found: Sequence[PersonDetection]) -> PersonDetection | None:
    """The box's person among the detections (best first): the best whose hip centre lies in the
    box, else (hips past the image border) the best whose face box's centre does."""
    inside = [d for d in found if _in_box(box, *d.hips)]
    inside = inside or [d for d in found if _in_box(box, *d.box.center)]
    return inside[0] if inside else None


def _roi_for(
    box: Box, alignment: dict[int, Roi], width: int, height: int, search: Search
) -> tuple[Roi | None, bool]:
    """The ROI for ``box`` (best way in first) and whether it is a newcomer's (not from the
    track's own last landmarks). ``search`` places it where only the box is known (the whole
    image, a followed crop)."""
    if isinstance(box, HintedBox):
        tracked = alignment.get(box.track) if box.track is not None else None
        fresh = roi_from_coco_keypoints(box.keypoints) if box.keypoints is not None else None
        # Where the detector sees this track's hips elsewhere (two people crossing, the last crop
        # following the other one), its keypoints win.
        if (
            tracked is not None
            and tracked.holds(*box.center)
            and (fresh is None or _agrees(fresh, tracked))
        ):
            return tracked, False
        if fresh is not None:
            return fresh, True
        if box.keypoints is not None:
            # A detection whose keypoints miss the hips: the person detector would often find
            # only a neighbour in its box (a crowd, a man half hidden at the border).
            return roi_from_box(box, BOX_RADIUS_SCALE), True
    whole = (box.x, box.y, box.width, box.height) == (0.0, 0.0, float(width), float(height))
    return search(box, whole), True


def _agrees(a: Roi, b: Roi) -> bool:
    """Whether two regions are centred on the same hips (within TRACKED_AGREEMENT of b's side)."""
    return math.hypot(a.cx - b.cx, a.cy - b.cy) <= TRACKED_AGREEMENT * b.side


def _from_keypoints(box: Box, roi: Roi | None) -> bool:
    """Whether ``roi`` is the one the box's detector keypoints place."""
    keypoints = box.keypoints if isinstance(box, HintedBox) else None
    return roi is not None and keypoints is not None and roi_from_coco_keypoints(keypoints) == roi


def _on_anchor(raw: RawLandmarks, roi: Roi, anchor: Roi | None) -> bool:
    """Whether the pose found through ``roi`` has its hips where the detector put the person's
    (no anchor: nothing to check). A pose whose hips are elsewhere is someone else, often a
    person in front of the one detected: not this box's person."""
    if anchor is None:
        return True
    hips = roi.to_image(raw.xy[[HIP_CENTRE]])[0]
    return math.hypot(hips[0] - anchor.cx, hips[1] - anchor.cy) <= TRACKED_AGREEMENT * anchor.side


def _jumped(roi: Roi | None, raw: RawLandmarks, width: int, height: int) -> bool:
    """Whether the look through ``roi`` puts the person's next region more than REALIGN_JUMP
    of its side away."""
    following = _next_roi(raw, roi, width, height) if roi is not None else None
    if roi is None or following is None:
        return False
    return math.hypot(roi.cx - following.cx, roi.cy - following.cy) > REALIGN_JUMP * roi.side


def _settled(a: Roi, b: Roi) -> bool:
    """Whether two regions differ by less than REALIGN_SETTLED of their size (centre and side)."""
    moved = max(abs(a.cx - b.cx), abs(a.cy - b.cy), abs(a.side - b.side))
    return moved < REALIGN_SETTLED * max(a.side, b.side)


def _next_roi(raw: RawLandmarks, roi: Roi, width: int, height: int) -> Roi | None:
    """Where to look for this person next: mediapipe's ROI from the alignment points (hip
    centre, body point) the look through ``roi`` gave."""
    points = roi.to_image(raw.xy[[HIP_CENTRE, BODY_POINT]])
    return roi_from_alignment_points(points[0], points[1])


class BlazePoseModel:
    """BlazePose GHUM 3D's landmark network on rotated crops, run with ai-edge-litert (CPU).

    It remembers where it found each track (the boxes' ``track`` keys come from one pipeline's
    tracker): give every pipeline its own model.
    """

    name = "blazepose"
    precision = "fp32"

    def __init__(self, num_threads: int = 0, batched: bool = False) -> None:
        self._network: LandmarkNetwork | None = LandmarkNetwork(
            landmark_model_path(), num_threads=num_threads, batched=batched
        )
        # The person detector's file is checked now (a wrong file fails start-up); its
        # interpreter is built at the first search that needs it, so boxes that always come with
        # keypoints (MoveNet) never pay for it.
        self._detection_path = detection_model_path()
        self._detector: PersonDetectionNetwork | None = None
        self._threads = num_threads
        # track -> the ROI its landmarks in the last call that fitted it give for the next one.
        self._alignment: dict[int, Roi] = {}
        self.unfitted = 0  # crops whose pose flag said "no pose", since start

    @property
    def description(self) -> str:
        """The runtime in use, for logs and diagnostics."""
        from ai_edge_litert import __version__ as litert_version

        threads = self._network.threads if self._network is not None else 0
        return (
            "BlazePose GHUM 3D full (pose_landmark_full.tflite from mediapipe 0.10.14; "
            f"ai-edge-litert {litert_version}, CPU, {threads} threads)"
        )

    def estimate(
        self, image_bgr: np.ndarray, boxes: Sequence[Box], intrinsics: Intrinsics
    ) -> list[Pose25D]:
        """One pose per box whose person the network fits (no boxes: the whole image).

        A box whose crop gives a pose flag under 0.5 yields no pose (the person is not fitted
        this frame; ``unfitted`` counts them). Boxes that are :class:`HintedBox` place the crop
        from the track's last landmarks or the detector's keypoints (see the module doc). The
        intrinsics are not needed (BlazePose's depth is relative; the lift applies K).
        """
        if self._network is None:
            raise RuntimeError("BlazePoseModel is closed")
        # Crops are cut from the image as it is and only they are turned to RGB: converting the
        # whole frame cost more than all of a person's crops.
        check_colour_image(image_bgr)
        image = image_bgr
        height, width = image.shape[:2]
        boxes = list(boxes) or [Box.full_image(width, height)]

        def search(box: Box, whole: bool) -> Roi | None:
            return self._search(image, box, whole, guess=True)

        def search_lost(box: Box, whole: bool) -> Roi | None:
            return self._search(image, box, whole, guess=False)

        planned = [_roi_for(box, self._alignment, width, height, search) for box in boxes]
        rois = [roi for roi, _ in planned]
        outputs = self._run(image, rois)
        # A tracked person the crop from their last landmarks lost is looked for as a newcomer.
        lost = [
            i for i, ((_, newcomer), out) in enumerate(zip(planned, outputs, strict=True))
            if not newcomer and out is not None and not out.has_pose
        ]  # fmt: skip
        if lost:
            for i in lost:
                rois[i] = _roi_for(boxes[i], {}, width, height, search_lost)[0]
            for i, out in zip(lost, self._run(image, [rois[i] for i in lost]), strict=True):
                outputs[i] = out
        # A tracked person who moved far since the last frame (their crop still saw enough of
        # them to fit a pose, but off) is re-aligned at once, as a newcomer is.
        jumped = [
            i for i, ((_, newcomer), out) in enumerate(zip(planned, outputs, strict=True))
            if not newcomer and i not in lost and out is not None and out.has_pose
            and _jumped(rois[i], out, width, height)
        ]  # fmt: skip
        pending = [i for i, (_, newcomer) in enumerate(planned) if newcomer] + lost + jumped
        stuck: set[int] = set()  # crops whose next look, tried, lost the pose
        # A crop placed on the detector's keypoints stays on that person: a re-aligned crop that
        # wanders off their hips (to someone beside or in front of them) is not taken. Hips the
        # detector guessed outside the image (a person cut by the border) anchor nothing.
        anchors = {
            i: roi
            for i in pending
            if (roi := rois[i]) is not None
            and _from_keypoints(boxes[i], roi)
            and 0.0 <= roi.cx <= width
            and 0.0 <= roi.cy <= height
        }
        for _ in range(REALIGN_PASSES):
            realigned: dict[int, Roi] = {}
            for i in pending:
                out, roi = outputs[i], rois[i]
                if out is not None and roi is not None:
                    better = _next_roi(out, roi, width, height)
                    if better is None or (out.has_pose and _settled(roi, better)):
                        continue
                    anchor = anchors.get(i)
                    if anchor is not None and not _agrees(anchor, better):
                        stuck.add(i)
                        continue
                    realigned[i] = better
            if not realigned:
                break
            pending = []
            for i, out in zip(realigned, self._run(image, list(realigned.values())), strict=True):
                previous = outputs[i]
                # A look that lost the pose the last one had ends the search: the last one stays
                # and is where the person is looked for next time.
                if out is not None and (previous is None or out.has_pose or not previous.has_pose):
                    rois[i], outputs[i] = realigned[i], out
                    pending.append(i)
                else:
                    stuck.add(i)
        visible = Box.full_image(width, height)
        alignment: dict[int, Roi] = {}
        poses: list[Pose25D] = []
        for i, (box, roi, out) in enumerate(zip(boxes, rois, outputs, strict=True)):
            if roi is None or out is None:
                self.unfitted += i in lost  # lost, and nowhere else in their box to look
                continue
            if not out.has_pose or not _on_anchor(out, roi, anchors.get(i)):
                self.unfitted += 1
                continue
            pose = _to_pose25d(out, roi, visible)
            if pose is None:
                continue
            poses.append(pose)
            if isinstance(box, HintedBox) and box.track is not None:
                following = roi if i in stuck else _next_roi(out, roi, width, height)
                if following is not None:
                    alignment[box.track] = following
        self._alignment = alignment
        return poses

    def _search(self, image: np.ndarray, box: Box, whole: bool, guess: bool) -> Roi | None:
        """Where the person detector puts the box's person (the most confident one in a
        whole-image search); where it finds nobody there, the box's own upright guess when
        ``guess``, else None.

        No guess for a tracked person whose own crop just lost them: they are neither where
        they were nor, for the detector, in their box, and a guess there would fit whatever else
        is in it (a dog, a horse) as them; the caller looks for them elsewhere.
        """
        if self._detector is None:
            self._detector = PersonDetectionNetwork(self._detection_path, self._threads)
        found = self._detector.detect(image, None if whole else box)
        person = (found[0] if found else None) if whole else _person_in(box, found)
        roi = person.roi if person is not None else None
        if roi is not None or not guess:
            return roi
        return roi_from_box(box, WHOLE_IMAGE_RADIUS_SCALE if whole else BOX_RADIUS_SCALE)

    def _run(self, image: np.ndarray, rois: Sequence[Roi | None]) -> list[RawLandmarks | None]:
        assert self._network is not None
        todo = [i for i, roi in enumerate(rois) if roi is not None]
        crops = [to_rgb(cut_roi(image, rois[i])) for i in todo]  # type: ignore[arg-type]
        results = self._network.run(crops)
        outputs: list[RawLandmarks | None] = [None] * len(rois)
        for i, out in zip(todo, results, strict=True):
            outputs[i] = out
        return outputs

    def reset(self) -> None:
        """Forget every person's last landmarks (the next crops come from boxes and keypoints)."""
        self._alignment = {}

    def close(self) -> None:
        """Release the interpreter; safe to call twice."""
        if self._network is not None:
            self._network.close()
            self._network = None
        if self._detector is not None:
            self._detector.close()
            self._detector = None


def _to_pose25d(out: RawLandmarks, roi: Roi, visible: Box) -> Pose25D | None:
    """One crop's landmarks, through the ROI's inverse rotation, onto the 34 keypoints."""
    body = slice(0, NUM_BODY_LANDMARKS)
    uv = roi.to_image(out.xy[body])
    confidence = np.minimum(out.visibility[body], out.presence[body])
    world = out.world[body].copy()
    world[:, :2] = roi.rotate(world[:, :2])
    return landmarks_to_pose25d(
        np.column_stack([uv, confidence]), world, 1.0, 1.0, (0.0, 0.0), visible
    )
