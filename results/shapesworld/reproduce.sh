#!/usr/bin/env bash
# Regenerates everything in results/shapesworld/ (CPU scale: 64×64 ShapesWorld, "tiny" 24-channel
# transforms, a few hundred to 1500 steps per stage; about 1.5 CPU-hours on one core).
# Run from the repository root:  bash results/shapesworld/reproduce.sh
set -euo pipefail
export OMP_NUM_THREADS=1
out=results/shapesworld
test_set=(--dataset shapesworld split=test image_size=64 num_samples=64)

# Two bases: β = 0.1 (reconstruction reward) and β = 0; each starts from the same task model.
for config in base base_beta0; do
  [ -f runs/shapesworld/$config/model.ckpt ] ||
    hmcodec train configs/shapesworld/$config.yaml --out runs/shapesworld/$config --no-progress
done
# Enhancement layers on the frozen β = 0.1 base, four λ each (largest first, then warm starts).
for method in conditional residual independent; do
  [ -f runs/shapesworld/$method/lmbda-0.075/model.ckpt ] ||
    hmcodec train configs/shapesworld/$method.yaml --out runs/shapesworld/$method --no-progress &
done
wait

# Real-bitstream evaluation: one RD point per model.
hmcodec eval runs/shapesworld/base/model.ckpt runs/shapesworld/base_beta0/model.ckpt \
  "${test_set[@]}" --layers base --no-progress -o $out/bases.json --name "bases (β = 0.1, β = 0)"
for method in conditional residual independent; do
  hmcodec eval runs/shapesworld/$method/lmbda-*/model.ckpt "${test_set[@]}" --no-progress \
    -o $out/$method.json --name $method
done
hmcodec scalable-analysis --scalable $out/conditional.json --standalone $out/independent.json \
  -o $out/conditional_vs_baselines.md
hmcodec scalable-analysis --scalable $out/residual.json --standalone $out/independent.json \
  -o $out/residual_vs_baselines.md
hmcodec bdrate $out/conditional.json $out/residual.json > $out/residual_vs_conditional.txt
hmcodec plot $out/conditional.json $out/residual.json $out/independent.json \
  -o $out/rd --anchor independent --metrics psnr-rgb --title "ShapesWorld 64×64 (CPU scale)"
