"""Bounds every real camera's intrinsics pass, so absurd ones are rejected instead of used.

A focal length of 1e-9 px or 1e30 px, or a CameraInfo calibrated for 1x1 pixels and stretched
to 640x424, is finite and positive yet gives skeletons hundreds of metres away (or none). The
bounds are deliberately wide: they only catch values no lens, sensor or resize can produce.

* Focal length per image side, ``fx / width`` and ``fy / height``, in
  [``MIN_FOCAL_PER_SIDE``, ``MAX_FOCAL_PER_SIDE``] = [0.05, 500]. The shortest real case is a
  280-degree circular fisheye whose image circle just fits the height of a 16:9 sensor:
  f = (H / 2) / 2.44 rad, i.e. 0.2 H or 0.12 W. A pinhole camera at 0.05 would see 169 degrees
  across, beyond any rectilinear lens. The longest: a 3000 mm-equivalent superzoom on a 1/2.3"
  sensor gives f of about 120 x the image height; 500 is a field of view of 0.11 degrees.
* Principal point: the image centre within ``MAX_CENTRE_OFFSET_FOCALS`` = 10 focal lengths of
  the optical axis along each axis (84 degrees off-axis for a pinhole camera). Shifted lenses and
  sensor windows (CameraInfo ROI) stay far inside this.
* Resize between the calibrated size and the received image, per axis, in
  [``MIN_RESCALE``, ``MAX_RESCALE``] = [1/32, 32]: an 8K calibration streamed at 320 px is 1/24;
  a bigger factor means the CameraInfo does not belong to the image (e.g. a 1x1 or 100000x100000
  CameraInfo).
"""

from __future__ import annotations

import math
from typing import Final

MIN_FOCAL_PER_SIDE: Final = 0.05
MAX_FOCAL_PER_SIDE: Final = 500.0
MAX_CENTRE_OFFSET_FOCALS: Final = 10.0
MIN_RESCALE: Final = 1.0 / 32.0
MAX_RESCALE: Final = 32.0


def focal_problem(fx: float, fy: float, cx: float, cy: float, width: int, height: int) -> str:
    """Why these intrinsics cannot belong to a ``width`` x ``height`` image ("" if they can)."""
    for name, focal, side, centre, axis in (
        ("fx", fx, width, cx, "width"),
        ("fy", fy, height, cy, "height"),
    ):
        if not (math.isfinite(focal) and math.isfinite(centre)) or side <= 0:
            return f"{name} or the principal point is not finite"
        ratio = focal / side
        if not MIN_FOCAL_PER_SIDE <= ratio <= MAX_FOCAL_PER_SIDE:
            return (
                f"{name}={focal:.6g} px is {ratio:.3g} x the image {axis} ({side} px); real "
                f"cameras lie within [{MIN_FOCAL_PER_SIDE}, {MAX_FOCAL_PER_SIDE:g}] x"
            )
        if abs(centre - side / 2.0) > MAX_CENTRE_OFFSET_FOCALS * focal:
            c = "cx" if name == "fx" else "cy"
            return (
                f"principal point {c}={centre:.6g} px is more than {MAX_CENTRE_OFFSET_FOCALS:g} "
                f"focal lengths from the image centre ({side / 2.0:g} px)"
            )
    return ""


def rescale_problem(scale: float, axis: str, calibrated: float, received: int) -> str:
    """Why resizing the calibrated image to the received one is implausible ("" if it is not)."""
    if MIN_RESCALE <= scale <= MAX_RESCALE:
        return ""
    return (
        f"CameraInfo is calibrated for {calibrated:g} px in {axis} but the image has {received} px "
        f"(a x{scale:.4g} resize, outside [1/{1 / MIN_RESCALE:g}, {MAX_RESCALE:g}]): it does not "
        "belong to this image"
    )
