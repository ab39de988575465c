#!/usr/bin/env bash
# Issue 12, CamVid pilot continued: does the segmentation base converge with a longer schedule?
# The pilot's base (task model 2,000 steps, base 2,500) still lost 5.7 % of its validation loss
# over its last 500 steps. Here the same config trains the base 6,000 steps (task model 2,000,
# then the base with it frozen); the validation curves of both stages and the base-only task
# metric on the pilot's 60 test images are written to results/camvid/pilot/.
# One thread (the task model alone: two); resumable. Run from the repository root:
#   bash results/camvid/pilot/base_convergence.sh
set -euo pipefail
export OMP_NUM_THREADS=1
out=results/camvid/pilot
run=runs/camvid-pilot/machine-base6000
[ -f $run/model.ckpt ] ||
  hmcodec train configs/camvid/segmentation_machine.yaml --out $run --resume \
    --set stages.0.max_steps=2000 --set stages.1.max_steps=6000 --no-progress
[ -f $out/base6000.json ] ||
  hmcodec eval $run/model.ckpt --dataset camvid root=../shared/data/camvid split=test \
    downscale=true pad_multiple=16 --max-images 60 --layers base --no-progress \
    -o $out/base6000.json --name "CamVid segmentation base, 6000 steps"
python benchmarks/validation_curves.py $run/model.ckpt -o $out/base6000_validation_curves
# The 2,000-step task model under that base still fell 13.5 % over its last 500 steps: the task
# model alone, 5,000 steps (two threads: run it with nothing else busy).
task=runs/camvid-pilot/task5000
[ -f $task/model.ckpt ] ||
  hmcodec train configs/camvid/segmentation_machine.yaml --out $task --resume --no-progress \
    --threads 2 --set 'stages=[{stage: task, lr: 2.0e-3, max_steps: 5000}]'
python benchmarks/validation_curves.py $task/model.ckpt -o $out/task5000_validation_curves
