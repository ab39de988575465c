"""Verdicts of experiments 1, 3 and 4 (issue 13) on CamVid from the seeds that ``beta.sh``,
``methods.sh`` and ``auxiliary.sh`` wrote (:mod:`hmcodec.evaluate.findings`: BD-rate over
seeds, spreads, verdicts; base re-use against simulcast). Writes ``findings.md``,
``findings.json`` and the RD plots here; rows whose runs have not landed say so. Run from the
repository root:
    python results/camvid/findings/analyse.py
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
    write_findings,
)

COMPARISONS = [
    Comparison(
        "1",
        "β = 0.1 vs β = 0: base task (segmentation mIoU)",
        "−1.3 % (COCO detection) / −75 % (Cityscapes depth)",
        "base_beta0",
        "base_beta0.1",
        "miou",
    ),
    BASE_RECONSTRUCTION,
    Comparison(
        "1",
        "β = 0.1 vs β = 0: scalable reconstruction (conditional layer)",
        "−10 % (COCO) / −22 % (Cityscapes depth)",
        "conditional_beta0",
        "conditional_beta0.1",
    ),
    *METHOD_COMPARISONS,
    *SYNTHESIS_COMPARISONS,
    AUXILIARY_DEEP,
]

CAMPAIGN = Campaign(
    folder=Path(__file__).resolve().parent,
    title="Findings with converged variable-rate layers and two seeds (CamVid, CPU scale)",
    command="python results/camvid/findings/analyse.py",
    scripts="`beta.sh`, `methods.sh` and `auxiliary.sh`",
    comparisons=COMPARISONS,
    reuse=METHOD_REUSE,
    plots={
        "beta_base_rd": (["base_beta0.1", "base_beta0"], ["miou", "psnr_base_direct"]),
        "beta_scalable_rd": (["conditional_beta0.1", "conditional_beta0"], ["psnr-rgb"]),
        "methods_rd": (METHOD_ARMS, ["psnr-rgb"]),
        "auxiliary_rd": (["machine-deep", "auxiliary-deep"], ["miou"]),
    },
    plot_title="CamVid",
    seeds=(0, 1),
)


def main() -> int:
    print(write_findings(CAMPAIGN))
    return 0


if __name__ == "__main__":
    sys.exit(main())
