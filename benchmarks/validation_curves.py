"""Validation RD loss against training steps, from the provenance of model files.

Every model file records each stage's validations (``provenance["validations"]``); this plots
``val/loss`` against the step for every stage of every model given, marks the exported (best)
step, and writes the points as JSON beside the figure. A curve that still falls at its last
validation has not converged.

    python benchmarks/validation_curves.py runs/a/model.ckpt runs/b/model.ckpt -o results/x/curves
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hmcodec.checkpoint import load_model  # noqa: E402


def curves(models: list[Path]) -> dict[str, dict[str, object]]:
    """``{"<model> <stage>": {"points": [[step, val/loss]...], "best_step": N}}``."""
    found: dict[str, dict[str, object]] = {}
    for path in models:
        provenance = load_model(path).provenance
        metrics = provenance.get("metrics", {})
        for stage, history in provenance.get("validations", {}).items():
            points = [[v["step"], v["val/loss"]] for v in history if "val/loss" in v]
            if points:
                best = metrics.get(stage, {}).get("best_step")
                found[f"{path.parent} {stage}"] = {"points": points, "best_step": best}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, nargs="+", help="model files")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output prefix")
    args = parser.parse_args()
    found = curves(args.models)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(found, indent=1) + "\n")
    stages = sorted({name.rsplit(" ", 1)[1] for name in found})
    fig, axes = plt.subplots(1, len(stages), figsize=(5 * len(stages), 3.6), squeeze=False)
    for ax, stage in zip(axes[0], stages, strict=True):
        for name, curve in found.items():
            if not name.endswith(stage):
                continue
            steps, losses = zip(*curve["points"], strict=True)
            (line,) = ax.plot(steps, losses, marker=".", label=name.rsplit(" ", 1)[0])
            if curve["best_step"] in steps:
                best = steps.index(curve["best_step"])
                ax.plot(steps[best], losses[best], "o", mfc="none", ms=10, color=line.get_color())
        ax.set(title=stage, xlabel="step", ylabel="validation RD loss")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.output.with_suffix(".png"), dpi=120)
    print(f"wrote {args.output.with_suffix('.png')} and {args.output.with_suffix('.json')}")


if __name__ == "__main__":
    main()
