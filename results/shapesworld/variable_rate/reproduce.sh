#!/usr/bin/env bash
# Issue 12: one variable-rate conditional layer (configs/shapesworld/conditional_variable_rate.yaml,
# gain units over λ_e ∈ [0.075, 0.6]) against the fixed-λ sweep of the pilot, where every λ trains
# 1,200 steps from the same base (results/shapesworld/pilot, "every λ from the base"):
#   * same steps per point: the variable-rate layer trains 1,200 steps (1/4 of the fixed total);
#   * same total steps: it trains 4,800 steps (4 fixed points × 1,200).
# Two seeds per arm; one process, one thread. Resumable: finished runs are skipped.
# Run from the repository root:  bash results/shapesworld/variable_rate/reproduce.sh
set -euo pipefail
export OMP_NUM_THREADS=1
out=results/shapesworld/variable_rate
pilot=results/shapesworld/pilot
test_set=(--dataset shapesworld split=test image_size=64 num_samples=64)
config=configs/shapesworld/conditional_variable_rate.yaml

[ -f runs/shapesworld/base/model.ckpt ] ||
  hmcodec train configs/shapesworld/base.yaml --out runs/shapesworld/base --no-progress
[ -f $pilot/conditional_cold_seed0.json ] || bash $pilot/reproduce.sh

for steps in 4800 1200; do
  for seed in 0 1; do
    run=runs/variable_rate/steps$steps-seed$seed
    [ -f $run/model.ckpt ] || hmcodec train $config --out $run --resume \
      --set seed=$seed --set stages.0.max_steps=$steps --no-progress
    [ -f $out/steps${steps}_seed$seed.json ] || hmcodec eval $run/model.ckpt "${test_set[@]}" \
      --no-progress -o $out/steps${steps}_seed$seed.json \
      --name "variable-rate, $steps steps, seed $seed"
  done
done

# the fixed-λ arm with a second seed (every λ from the base, 1,200 steps each), as in the pilot
[ -f runs/pilot/conditional-cold-seed1/lmbda-0.075/model.ckpt ] ||
  hmcodec train configs/shapesworld/conditional.yaml --out runs/pilot/conditional-cold-seed1 \
    --resume --set seed=1 --set sweep.warm_start=false --no-progress
[ -f $out/fixed_seed1.json ] || hmcodec eval runs/pilot/conditional-cold-seed1/lmbda-*/model.ckpt \
  "${test_set[@]}" --no-progress -o $out/fixed_seed1.json --name "fixed λ, every λ from the base, seed 1"

fixed=$pilot/conditional_cold_seed0.json
{
  echo "## fixed λ: seed 1 against seed 0 (4 × 1,200 steps)"
  hmcodec bdrate $fixed $out/fixed_seed1.json 2>&1 || true
  echo "## variable-rate (1200 steps) against fixed λ, seed 1 against seed 1"
  hmcodec bdrate $out/fixed_seed1.json $out/steps1200_seed1.json 2>&1 || true
  for steps in 4800 1200; do
    echo "## variable-rate ($steps steps) against fixed λ (4 × 1,200 steps), seed by seed"
    for seed in 0 1; do
      hmcodec bdrate $fixed $out/steps${steps}_seed$seed.json 2>&1 || true
    done
    echo "## seed 1 against seed 0 ($steps steps)"
    hmcodec bdrate $out/steps${steps}_seed0.json $out/steps${steps}_seed1.json 2>&1 || true
  done
} > $out/bdrates.txt
hmcodec plot $fixed $out/fixed_seed1.json $out/steps*_seed*.json -o $out/rd --metrics psnr-rgb \
  --title "ShapesWorld 64×64: one variable-rate layer against four fixed-λ layers"
