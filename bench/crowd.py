"""Crowds beyond one detector call: the detector's time for 8 to 30 people beside one plain pass.

    tools/with-env python -m bench.run --parts crowd

1920x1080 frames of 8, 12, 24 and 30 upright real people, 300-500 px tall, standing in rows
(composed from the setup's photos: ``SmallPeopleComposer.crowd``). MoveNet returns at most 6
people a call; when a pass comes back full the detector looks again (``crowd_search``). Measured
in one interleaved loop: ``detect`` on each crowd frame, and one plain pass (the same detector
with the search off) on the 30-person frame. Also counted: the people found exactly once and the
network calls made. The part's results are keyed by the number of people (as a string), so
whole-frame numbers can sit beside the detector's under the same keys.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from bench.common import median_ms
from bodypose3d_ros.core.people.detectors.crowd_search import CrowdSearchParams
from bodypose3d_ros.core.people.detectors.movenet import MoveNetDetector, MoveNetParams
from bodypose3d_ros.core.people.detectors.movenet_file import movenet_model_path
from bodypose3d_ros.testing.small_people import SmallPeopleComposer, SmallPeopleFrame, hits

SIZE: Final = (1920, 1080)
# People -> (rows, people per row, heights from the back row to the front row [px]).
LAYOUTS: Final = {
    8: (2, 4, (300, 500)),
    12: (3, 4, (300, 500)),
    24: (4, 6, (300, 400)),
    30: (5, 6, (300, 360)),
}
SEED: Final = 1
PHOTOS: Final = Path(__file__).resolve().parent.parent / ".cache" / "data"


def crowd_frames(photos: Path = PHOTOS) -> dict[str, SmallPeopleFrame]:
    """The part's frames, keyed by the number of people as a string."""
    composer = SmallPeopleComposer.from_folder(photos)
    return {
        str(n): composer.crowd(*SIZE, rows, per_row, heights, SEED)
        for n, (rows, per_row, heights) in LAYOUTS.items()
    }


def measure_crowd(warmup: int, reps: int, log: Callable[[str], None]) -> dict[str, Any]:
    frames = crowd_frames()
    path = movenet_model_path()
    detector = MoveNetDetector(path, MoveNetParams())
    plain = MoveNetDetector(path, MoveNetParams(crowd=CrowdSearchParams(max_passes_per_tile=0)))
    calls = {"n": 0}
    one_pass = detector.one_pass

    def counted(rgb: Any, input_size: int) -> Any:
        calls["n"] += 1
        return one_pass(rgb, input_size)

    detector.one_pass = counted  # type: ignore[method-assign]
    largest = frames[str(max(LAYOUTS))].image
    times: dict[str, list[float]] = {key: [] for key in frames}
    plain_times: list[float] = []
    found: dict[str, int] = {}
    twice: dict[str, int] = {}
    network_calls: dict[str, int] = {}
    try:
        for i in range(warmup + reps):
            for key, frame in frames.items():  # interleaved: every count in the same state
                calls["n"] = 0
                t0 = time.perf_counter()
                people = detector.detect(frame.image, 0.0)
                elapsed = time.perf_counter() - t0
                t0 = time.perf_counter()
                plain.detect(largest, 0.0)
                plain_elapsed = time.perf_counter() - t0
                if i >= warmup:
                    times[key].append(elapsed)
                    plain_times.append(plain_elapsed)
                per_person = hits(frame.people, [p.box for p in people])
                found[key] = sum(1 for h in per_person if h == 1)
                twice[key] = sum(1 for h in per_person if h > 1)
                network_calls[key] = calls["n"]
    finally:
        detector.close()
        plain.close()
    plain_ms = median_ms(plain_times)
    detector_ms = {key: median_ms(samples) for key, samples in times.items()}
    result: dict[str, Any] = {
        "resolution": f"{SIZE[0]}x{SIZE[1]}",
        "layouts": {
            str(n): {"rows": r, "per_row": k, "heights_px": list(h)}
            for n, (r, k, h) in LAYOUTS.items()
        },
        "plain_pass_ms": plain_ms,
        "detector_ms": detector_ms,
        "detector_to_plain_pass": {key: ms / plain_ms for key, ms in detector_ms.items()},
        "found": found,
        "found_twice": twice,
        "network_calls": network_calls,
        "repetitions": reps,
    }
    for key in frames:
        log(f"   {key:>3s} people: detector {detector_ms[key]:6.1f} ms "
            f"({detector_ms[key] / plain_ms:.2f} x one plain pass, {network_calls[key]} calls), "
            f"found {found[key]} of {key}, twice {twice[key]}")  # fmt: skip
    log(f"   one plain pass (30-person frame): {plain_ms:.1f} ms")
    return result
