"""Verdicts of experiments 1–4 (issue 13) on ShapesWorld from the seeds that ``beta.sh``,
``methods.sh`` and ``auxiliary.sh`` wrote (:mod:`hmcodec.evaluate.findings`: BD-rate over
seeds, spreads, verdicts; base re-use against simulcast). Writes ``findings.md``,
``findings.json`` and the RD plots here. Run from the repository root:
    python results/shapesworld/findings/analyse.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from hmcodec.evaluate.findings import (
    AUXILIARY_DEEP,
    BASE_RECONSTRUCTION,
    METHOD_ARMS,
    METHOD_COMPARISONS,
    METHOD_REUSE,
    SYNTHESIS_COMPARISONS,
    Campaign,
    Comparison,
    Reuse,
    write_findings,
)

COMPARISONS = [
    Comparison(
        "1",
        "β = 0.1 vs β = 0: base task (depth RMSE)",
        "−75 % (Cityscapes depth)",
        "base_beta0",
        "base_beta0.1",
        "rmse",
    ),
    BASE_RECONSTRUCTION,
    Comparison(
        "1",
        "β = 0.1 vs β = 0: scalable reconstruction (conditional layer)",
        "−22 % (Cityscapes depth)",
        "conditional_beta0",
        "conditional_beta0.1",
    ),
    Comparison(
        "2",
        "depth base → segmentation layer, β = 0.1 vs β = 0",
        "−26 %",
        "segmentation_beta0",
        "segmentation_beta0.1",
        "enhancement_miou",
    ),
    *METHOD_COMPARISONS,
    AUXILIARY_DEEP,
    Comparison(
        "4",
        "auxiliary branch (α = 0.5, shallow) vs none: base task (mAP), frozen tiny FCOS detector",
        "−27.7 % (detection)",
        "machine-detection",
        "auxiliary-detection",
        "map",
    ),
    Comparison(
        "4",
        "auxiliary branch vs none: base task (mAP), tiny FCOS, bases from an image-codec start",
        "−27.7 % (detection)",
        "machine-detection-start",
        "auxiliary-detection-start",
        "map",
    ),
    Comparison(
        "4",
        "image-codec start vs cold start: base task (mAP), tiny FCOS, no auxiliary branch",
        "(not in the papers: ≤ 0)",
        "machine-detection",
        "machine-detection-start",
        "map",
    ),
    *SYNTHESIS_COMPARISONS,
]

CAMPAIGN = Campaign(
    folder=Path(__file__).resolve().parent,
    title="Findings with variable-rate layers and two or three seeds (ShapesWorld, CPU scale)",
    command="python results/shapesworld/findings/analyse.py",
    scripts="`beta.sh` and `methods.sh`",
    comparisons=COMPARISONS,
    reuse=[
        *METHOD_REUSE,
        # the independent layer ignores its base, so methods.sh's serves the depth base too
        Reuse("conditional_beta0.1", "independent", "conditional over the β = 0.1 depth base"),
        Reuse("conditional_beta0", "independent", "conditional over the β = 0 depth base"),
    ],
    plots={
        "beta_base_rd": (["base_beta0.1", "base_beta0"], ["rmse", "psnr_base_direct"]),
        "beta_scalable_rd": (
            ["conditional_beta0.1", "conditional_beta0", "independent"],
            ["psnr-rgb"],
        ),
        "beta_segmentation_rd": (
            ["segmentation_beta0.1", "segmentation_beta0"],
            ["enhancement_miou"],
        ),
        "methods_rd": (METHOD_ARMS, ["psnr-rgb"]),
        "auxiliary_rd": (["machine-deep", "auxiliary-deep"], ["miou"]),
        "auxiliary_detection_rd": (["machine-detection", "auxiliary-detection"], ["map"]),
        "auxiliary_detection_start_rd": (
            ["machine-detection", "machine-detection-start", "auxiliary-detection-start"],
            ["map"],
        ),
    },
    plot_title="ShapesWorld 64×64",
)


def main() -> int:
    print(write_findings(CAMPAIGN))
    return 0


if __name__ == "__main__":
    sys.exit(main())
