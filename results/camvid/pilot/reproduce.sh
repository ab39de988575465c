#!/usr/bin/env bash
# Issue 12 CamVid pilot: the segmentation base of configs/camvid/segmentation_machine.yaml with
# the new default schedule (task 2,000 steps, base 2,500), then one variable-rate conditional
# reconstruction layer (configs/camvid/conditional_variable_rate.yaml, 3,000 steps, and 6,000)
# for two seeds. One thread per process; finished runs are skipped, so an interrupted pilot
# resumes.
# Run from the repository root:  bash results/camvid/pilot/reproduce.sh
set -euo pipefail
export OMP_NUM_THREADS=1
out=results/camvid/pilot
runs=runs/camvid-pilot
test_set=(--dataset camvid root=../shared/data/camvid split=test downscale=true pad_multiple=16
  --max-images 60)

[ -f $runs/machine/model.ckpt ] ||
  hmcodec train configs/camvid/segmentation_machine.yaml --out $runs/machine --resume \
    --set stages.0.max_steps=2000 --set stages.1.max_steps=2500 --no-progress
for seed in 0 1; do
  [ -f $runs/vr-seed$seed/model.ckpt ] ||
    hmcodec train configs/camvid/conditional_variable_rate.yaml --out $runs/vr-seed$seed \
      --resume --set seed=$seed --set stages.0.init_from=$runs/machine/model.ckpt --no-progress
  [ -f $out/vr_seed$seed.json ] ||
    hmcodec eval $runs/vr-seed$seed/model.ckpt "${test_set[@]}" --no-progress \
      -o $out/vr_seed$seed.json --name "CamVid variable-rate conditional, seed $seed"
done
# the same layer trained twice as long (6,000 steps), both seeds side by side
for seed in 0 1; do
  [ -f $runs/vr6000-seed$seed/model.ckpt ] ||
    hmcodec train configs/camvid/conditional_variable_rate.yaml --out $runs/vr6000-seed$seed \
      --resume --set seed=$seed --set stages.0.init_from=$runs/machine/model.ckpt \
      --set stages.0.max_steps=6000 --no-progress &
done
wait
for seed in 0 1; do
  [ -f $out/vr6000_seed$seed.json ] ||
    hmcodec eval $runs/vr6000-seed$seed/model.ckpt "${test_set[@]}" --no-progress \
      -o $out/vr6000_seed$seed.json --name "CamVid variable-rate conditional, 6000 steps, seed $seed"
done
{
  echo "## 3,000 steps: seed 1 against seed 0"
  hmcodec bdrate $out/vr_seed0.json $out/vr_seed1.json 2>&1 || true
  echo "## 6,000 steps: seed 1 against seed 0"
  hmcodec bdrate $out/vr6000_seed0.json $out/vr6000_seed1.json 2>&1 || true
  echo "## 6,000 against 3,000 steps, seed 0"
  hmcodec bdrate $out/vr_seed0.json $out/vr6000_seed0.json 2>&1 || true
} > $out/seed1_vs_seed0.txt
hmcodec plot $out/vr_seed0.json $out/vr_seed1.json $out/vr6000_seed0.json $out/vr6000_seed1.json \
  -o $out/rd --metrics psnr-rgb \
  --title "CamVid test (60 images), variable-rate conditional layer, two seeds"
python benchmarks/validation_curves.py $runs/machine/model.ckpt $runs/vr-seed*/model.ckpt \
  $runs/vr6000-seed*/model.ckpt -o $out/validation_curves
