#!/usr/bin/env bash
# Paper 002's standalone construct on the variable-rate conditional layer (seed 0, 4,800 steps):
# the same frozen layer with ŷ_b zeroed and only its entropy model re-fitted (1,200 steps,
# configs/shapesworld/standalone_variable_rate.yaml); then the share of the base rate that the
# conditional stream re-uses against simulcast (hmcodec scalable-analysis).
# Run after reproduce.sh, from the repository root:
#   bash results/shapesworld/variable_rate/standalone.sh
set -euo pipefail
export OMP_NUM_THREADS=1
out=results/shapesworld/variable_rate
test_set=(--dataset shapesworld split=test image_size=64 num_samples=64)
run=runs/variable_rate/standalone-seed0

[ -f $run/model.ckpt ] || hmcodec train configs/shapesworld/standalone_variable_rate.yaml \
  --out $run --resume --no-progress
[ -f $out/standalone_seed0.json ] || hmcodec eval $run/model.ckpt "${test_set[@]}" \
  --no-progress -o $out/standalone_seed0.json --name "standalone (paper 002), seed 0"
hmcodec scalable-analysis --scalable $out/steps4800_seed0.json \
  --standalone $out/standalone_seed0.json -o $out/conditional_vs_standalone.md
