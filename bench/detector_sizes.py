"""Which MoveNet input size finds far-away people, and what each size costs.

    tools/with-env python -m bench.detector_sizes [--frames 8] [--heights 40 60 100] [--reps 3]

Frames of 768x576 with 6 people about 60 px tall, and the same with 40 and 100 px (real people
from the setup's photos, scaled down and pasted on a real pavement texture:
``bodypose3d_ros.testing.small_people``) go through MoveNet at each input size (the image's long
side), all sizes side by side in one loop. Prints per size: recall at each height (people found /
people pasted), boxes that are on nobody, and the median time of one ``detect`` call. The
default input size (``DEFAULT_INPUT_SIZE``) is chosen from this.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from bodypose3d_ros.core.people.detectors.movenet import (
    DEFAULT_INPUT_SIZE,
    MoveNetDetector,
    MoveNetParams,
)
from bodypose3d_ros.core.people.detectors.movenet_file import movenet_model_path
from bodypose3d_ros.testing.small_people import SmallPeopleComposer, found

SIZES = (256, 320, 384, 448, 512, 640)
FRAME = (768, 576)
PEOPLE_PER_FRAME = 6
PHOTOS = Path(__file__).resolve().parent.parent / ".cache" / "data"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.detector_sizes", description=__doc__)
    parser.add_argument("--frames", type=int, default=8, help="composed frames per height")
    parser.add_argument(
        "--heights", type=int, nargs="+", default=[40, 60, 100], help="people's heights in px"
    )
    parser.add_argument("--reps", type=int, default=3, help="timed calls per frame and size")
    parser.add_argument("--photos", type=Path, default=PHOTOS, help="folder with the photos")
    args = parser.parse_args(argv)

    composer = SmallPeopleComposer.from_folder(args.photos)
    frames = [
        (height, composer.frame(*FRAME, height, PEOPLE_PER_FRAME, seed))
        for height in args.heights
        for seed in range(args.frames)
    ]
    path = movenet_model_path()
    detectors = {s: MoveNetDetector(path, MoveNetParams(input_size=s)) for s in SIZES}
    found_count = {(s, h): 0 for s in SIZES for h in args.heights}
    stray = dict.fromkeys(SIZES, 0)
    times: dict[int, list[float]] = {s: [] for s in SIZES}
    for height, frame in frames:
        for size, detector in detectors.items():  # interleaved: same machine state per size
            detector.detect(frame.image, 0.0)  # warm-up (and input reshape) for this size
            for _ in range(args.reps):
                t0 = time.perf_counter()
                people = detector.detect(frame.image, 0.0)
                times[size].append(time.perf_counter() - t0)
            hits = found(frame.people, [p.box for p in people])
            found_count[size, height] += sum(hits)
            stray[size] += len(people) - sum(hits)
    per_height = args.frames * PEOPLE_PER_FRAME
    print(f"MoveNet MultiPose Lightning on {FRAME[0]}x{FRAME[1]} frames of {PEOPLE_PER_FRAME} "
          f"people; {per_height} people per height; default size {DEFAULT_INPUT_SIZE}")  # fmt: skip
    recall_heads = "".join(f"  {f'recall@{h}px':>12}" for h in args.heights)
    print(f"{'long side':>9}{recall_heads}  {'on nobody':>9}  {'ms/call':>7}")
    for size in SIZES:
        ms = 1e3 * statistics.median(times[size])
        recalls = "".join(f"  {found_count[size, h] / per_height:>12.2f}" for h in args.heights)
        print(f"{size:>9}{recalls}  {stray[size]:>9}  {ms:>7.1f}")
    for detector in detectors.values():
        detector.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
