#!/usr/bin/env bash
# Issue 12 pilot: conditional enhancement on the shared ShapesWorld base, the four-λ sweep of
# configs/shapesworld/conditional.yaml with the new default schedule (warm-up + cosine, best
# validation checkpoint exported), two seeds trained side by side (one thread each).
# Run from the repository root:  bash results/shapesworld/pilot/reproduce.sh
set -euo pipefail
export OMP_NUM_THREADS=1
out=results/shapesworld/pilot
test_set=(--dataset shapesworld split=test image_size=64 num_samples=64)

[ -f runs/shapesworld/base/model.ckpt ] ||
  hmcodec train configs/shapesworld/base.yaml --out runs/shapesworld/base --no-progress
for seed in 0 1; do
  [ -f runs/pilot/conditional-seed$seed/lmbda-0.075/model.ckpt ] ||
    hmcodec train configs/shapesworld/conditional.yaml --out runs/pilot/conditional-seed$seed \
      --set seed=$seed --no-progress &
done
wait
for seed in 0 1; do
  hmcodec eval runs/pilot/conditional-seed$seed/lmbda-*/model.ckpt "${test_set[@]}" \
    --no-progress -o $out/conditional_seed$seed.json --name "conditional, seed $seed"
done
{ hmcodec bdrate $out/conditional_seed0.json $out/conditional_seed1.json || true; } \
  > $out/seed1_vs_seed0.txt
hmcodec plot $out/conditional_seed0.json $out/conditional_seed1.json -o $out/rd \
  --metrics psnr-rgb --title "ShapesWorld 64×64, conditional, two seeds"
python - "$out" <<'PY'
"""Validation RD loss against steps for every model of the pilot (from its provenance)."""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from hmcodec.checkpoint import load_model

out = Path(sys.argv[1])
curves = {}
for path in sorted(Path("runs/pilot").glob("conditional-seed*/lmbda-*/model.ckpt")):
    history = load_model(path).provenance["validations"]
    stage = next(k for k in history if "enhancement" in k)
    curves[str(path.parent)] = [(v["step"], v["val/loss"]) for v in history[stage]]
(out / "validation_curves.json").write_text(json.dumps(curves, indent=1) + "\n")
fig, ax = plt.subplots(figsize=(7, 4))
for name, points in curves.items():
    ax.plot(*zip(*points), marker=".", label=name.removeprefix("runs/pilot/"))
ax.set(xlabel="step", ylabel="validation RD loss (λ_e·d_e + R_e)", yscale="log")
ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(out / "validation_curves.png", dpi=120)
PY

# The same sweep with every λ trained from the base (sweep.warm_start=false), seed 0, two
# processes of two λ each: does the dip at the first warm-started point (λ_e = 0.3) go away?
for half in "0.6, 0.3" "0.15, 0.075"; do
  last=${half##* }
  [ -f runs/pilot/conditional-cold-$last/lmbda-$last/model.ckpt ] ||
    hmcodec train configs/shapesworld/conditional.yaml --out runs/pilot/conditional-cold-$last \
      --set sweep.warm_start=false --set "sweep.lmbda=[$half]" --no-progress &
done
wait
hmcodec eval runs/pilot/conditional-cold-*/lmbda-*/model.ckpt "${test_set[@]}" --no-progress \
  -o $out/conditional_cold_seed0.json --name "conditional, every λ from the base, seed 0"
{ hmcodec bdrate $out/conditional_seed0.json $out/conditional_cold_seed0.json 2>&1 || true; } \
  > $out/cold_vs_warm_seed0.txt
hmcodec plot $out/conditional_seed0.json $out/conditional_seed1.json \
  $out/conditional_cold_seed0.json -o $out/rd --metrics psnr-rgb \
  --title "ShapesWorld 64×64, conditional: two seeds, and every λ from the base"
