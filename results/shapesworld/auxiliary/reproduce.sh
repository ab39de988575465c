#!/usr/bin/env bash
# Experiment 4 of docs/reproduction.md: coding for machines (ShapesWorld segmentation base) with
# and without the auxiliary recognition branch on the encoder (α = 0.5, arXiv 2402.08267), CPU
# scale: 64×64, 16-channel base, a λ_b sweep of 800 steps per point from one task model.
# Run from the repository root:  bash results/shapesworld/auxiliary/reproduce.sh
set -euo pipefail
export OMP_NUM_THREADS=1
out=results/shapesworld/auxiliary
for config in machine auxiliary; do
  [ -f runs/shapesworld/$config/lmbda-2/model.ckpt ] ||
    hmcodec train configs/shapesworld/$config.yaml --out runs/shapesworld/$config --no-progress --resume &
done
wait
for config in machine auxiliary; do
  hmcodec eval runs/shapesworld/$config/lmbda-*/model.ckpt --layers base --no-progress \
    --dataset shapesworld split=test image_size=64 num_samples=256 -o $out/$config.json --name $config
done
{ hmcodec bdrate $out/machine.json $out/auxiliary.json --metric miou || true
  hmcodec bdrate $out/machine.json $out/auxiliary.json --metric miou --rate bpp_payload || true
} > $out/bdrate.txt
hmcodec plot $out/machine.json $out/auxiliary.json -o $out/rd --anchor machine --metrics miou \
  --title "ShapesWorld base ± auxiliary loss (CPU scale)"
