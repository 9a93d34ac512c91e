"""The performance targets on the reference machine, checked against a result, PASS or MISS."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# A latency that grows by more than this (and by more than the fraction below) is a queue forming.
LATENCY_GROWTH_TOLERANCE_MS = 2.0
LATENCY_GROWTH_TOLERANCE_FRACTION = 0.2
# people in the frame -> the most a BlazePose frame may take on the 2-vCPU reference machine (ms)
BLAZEPOSE_FRAME_MS = {1: 7.0, 2: 13.0, 4: 25.0, 8: 50.0}


@dataclass(frozen=True)
class Check:
    """One target: ``value`` must stay on the right side of ``limit``."""

    name: str
    value: float
    limit: float
    at_most: bool  # True: value <= limit passes; False: value >= limit passes
    unit: str

    @property
    def passed(self) -> bool:
        return self.value <= self.limit if self.at_most else self.value >= self.limit

    def line(self) -> str:
        relation = "<=" if self.at_most else ">="
        verdict = "PASS" if self.passed else "MISS"
        limit = f"{relation} {self.limit:.3g}{self.unit}"
        return f"{verdict}  {self.name}: {self.value:.3g}{self.unit} ({limit})"

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def checks(results: dict[str, Any]) -> list[Check]:
    """Every target that the parts which ran can answer."""
    out: list[Check] = []
    if "overhead" in results:
        hd = results["overhead"]["1280x720"]
        out.append(Check("overhead at 1280x720, 1 person", hd["overhead_ms"], 3.0, True, " ms"))
        out.append(
            Check("overhead / model at 1280x720", 100 * hd["overhead_to_model"], 5.0, True, " %")
        )
    if "e2e" in results:
        e = results["e2e"]
        out.append(
            Check("e2e output rate / min(input rate, model rate)", e["rate_ratio"], 0.9, False, "")
        )
        out.append(
            Check(
                "e2e latency p99 / model time", e["latency_p99_ms"] / e["model_ms"], 2.5, True, "x"
            )
        )
        first = e["latency_first_third_ms"]
        allowed = max(LATENCY_GROWTH_TOLERANCE_MS, LATENCY_GROWTH_TOLERANCE_FRACTION * first)
        out.append(
            Check("latency growth, last vs first third (medians)", e["latency_growth_ms"],
                  allowed, True, " ms")
        )  # fmt: skip
        out.append(Check("node RSS growth", e["rss_growth_mb"], 20.0, True, " MiB"))
    if "e2e_saturated" in results:
        s = results["e2e_saturated"]
        out.append(
            Check("e2e output rate / model standalone rate (camera faster than the model)",
                  s["output_to_model_rate"], 0.9, False, "")
        )  # fmt: skip
    if "multi_person" in results:
        mp = results["multi_person"]
        out.append(
            Check("overhead per extra person (all but the networks)",
                  mp["overhead_ms_per_extra_person"], 0.3, True, " ms")
        )  # fmt: skip
        # The embedded default at the speed of BlazePose's network: about 7 ms a person.
        for people, limit in BLAZEPOSE_FRAME_MS.items():
            out.append(
                Check(f"BlazePose frame, {people} {'person' if people == 1 else 'people'} "
                      "(everything after the detector)",
                      mp["frame_ms"]["blazepose"][str(people)], limit, True, " ms")
            )  # fmt: skip
        ratio = mp["bodypose3dnet_fixture_8_to_1_with_detector"]
        if ratio is not None:
            out.append(
                Check("BodyPose3DNet path (fixture), 8 / 1 people, whole frame with detector",
                      ratio, 2.0, True, "x")
            )  # fmt: skip
    if "crowd" in results:
        out.append(
            Check("crowd: detector time, 30 people / one plain pass (1920x1080)",
                  results["crowd"]["detector_to_plain_pass"]["30"], 3.0, True, "x")
        )  # fmt: skip
        if "frame_to_8" in results["crowd"]:
            out += [
                Check("crowd: whole frame, 30 / 8 people, default max_pose_people",
                      results["crowd"]["frame_to_8"]["30"], 1.5, True, "x"),
                Check("crowd: of 30 people, published exactly once",
                      results["crowd"]["published_once"]["30"], 30, False, ""),
            ]  # fmt: skip
    return out
