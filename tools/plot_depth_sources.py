"""Draw docs/images/depth_sources.png: pelvis depth error of the two root depth sources.

    tools/with-env python tools/plot_depth_sources.py [--out docs/images/depth_sources.png]

Synthetic people with the limb table's proportions times their size (a 0.6x child, the table's
adult, a 1.1x tall adult) stand 1-6 m from a 640x480 camera. An ideal pose model feeds the real
pipeline; the depth image is rendered from the same truth (a person-shaped surface, sensor noise
sigma = c x z^2, holes, far background). Plotted: the pelvis depth error of the limb-length lift
and of depth fusion, over several noise draws.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bodypose3d_ros.core.camera.intrinsics import Intrinsics
from bodypose3d_ros.core.depth.depth_image import depth_from_array
from bodypose3d_ros.core.pipeline import PipelineConfig, PosePipeline
from bodypose3d_ros.core.skeleton import INDEX
from bodypose3d_ros.core.types import Box, Pose25D
from bodypose3d_ros.testing.depth_scene import (
    as_pose25d,
    place,
    render_body_depth,
    standing_skeleton,
    to_16uc1,
)

WIDTH, HEIGHT = 640, 480
K = Intrinsics(fx=615.0, fy=615.0, cx=320.0, cy=240.0, source="arguments")
PEOPLE = (("child, 0.6x", 0.6, "tab:orange"), ("table adult, 1.0x", 1.0, "tab:green"),
          ("tall adult, 1.1x", 1.1, "tab:blue"))  # fmt: skip
# Stereo depth noise sigma = c z^2: 0.001 is a good structured-light/stereo sensor (2.5 cm at
# 5 m), 0.003 a noisy one.
NOISE = ((0.001, "-"), (0.003, ":"))
PELVIS = INDEX["pelvis"]


class _Ideal:
    """An ideal pose model: reports the given 2.5D pose (the pipeline around it runs for real)."""

    name = description = "ideal"
    precision = "fp64"

    def __init__(self, pose: Pose25D) -> None:
        self.pose = pose

    def estimate(self, image: np.ndarray, boxes: Sequence[Box], k: Intrinsics) -> list[Pose25D]:
        return [self.pose]

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


def pelvis_errors(size: float, distance: float, noise: float, seed: int) -> tuple[float, float]:
    """(limb-length lift error, depth fusion error) of the pelvis depth [m] for one person."""
    truth = place(standing_skeleton(size), (0.2, 0.0, distance))
    depth = render_body_depth(
        truth, size, K, (WIDTH, HEIGHT), rng=np.random.default_rng(seed), noise_per_m2=noise
    )
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    out = []
    for frame in (None, depth_from_array(to_16uc1(depth), "16UC1")):
        pipeline = PosePipeline(_Ideal(as_pose25d(truth, K)), PipelineConfig(smoothing=False))
        (person,) = pipeline.process(image, K, 0.0, frame).people
        out.append(float(person.xyz[PELVIS, 2] - truth[PELVIS, 2]))
    return out[0], out[1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images/depth_sources.png"))
    parser.add_argument("--seeds", type=int, default=8, help="noise draws per point")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    distances = np.arange(1.0, 6.01, 0.5)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    for label, size, colour in PEOPLE:
        lift = [pelvis_errors(size, d, NOISE[0][0], 0)[0] for d in distances]
        left.plot(distances, lift, color=colour, marker="o", label=label)
        for noise, style in NOISE:
            errors = np.array(
                [
                    [pelvis_errors(size, d, noise, s)[1] for s in range(args.seeds)]
                    for d in distances
                ]
            )
            right.errorbar(
                distances, 100 * errors.mean(axis=1), yerr=100 * errors.std(axis=1),
                color=colour, linestyle=style, marker=".", capsize=2,
                label=f"{label}, noise {noise:g} z\u00b2",
            )  # fmt: skip
    left.set(title="limb-length lift (no depth image)", xlabel="true pelvis distance [m]",
             ylabel="pelvis depth error [m]")  # fmt: skip
    right.set(title="depth fusion (aligned depth image)", xlabel="true pelvis distance [m]",
              ylabel="pelvis depth error [cm]")  # fmt: skip
    right.axhspan(-5, 5, color="0.92", zorder=0, label="\u00b15 cm")
    for ax in (left, right):
        ax.axhline(0.0, color="0.4", linewidth=0.8)
        ax.grid(alpha=0.3)
    left.legend(fontsize=8)
    right.legend(fontsize=7, ncol=2)
    fig.suptitle("How far away is the person? Pelvis depth error of the two sources")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
