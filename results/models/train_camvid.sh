#!/usr/bin/env bash
# Issue 13: train the CamVid reference model (`camvid-segmentation` in `hmcodec models`):
#   1. the segmentation base of configs/camvid/segmentation_machine.yaml with a longer schedule
#      (task model 2,000 steps, base 4,000; the CamVid pilot's 2,500 had not converged);
#   2. the variable-rate image layer on natural photos, configs/camvid/reference_image.yaml.
# One thread; finished stages are skipped (resumable). Run from the repository root:
#   bash results/models/train_camvid.sh
set -euo pipefail
export OMP_NUM_THREADS=1
runs=runs/reference
[ -f $runs/camvid-base/model.ckpt ] ||
  hmcodec train configs/camvid/segmentation_machine.yaml --out $runs/camvid-base --resume \
    --set stages.0.max_steps=2000 --set stages.1.max_steps=4000 --no-progress
[ -f $runs/camvid/model.ckpt ] ||
  hmcodec train configs/camvid/reference_image.yaml --out $runs/camvid --resume \
    --set stages.0.init_from=$runs/camvid-base/model.ckpt --no-progress
