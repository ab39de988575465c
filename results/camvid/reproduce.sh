#!/usr/bin/env bash
# Regenerates results/camvid/ (CPU scale: CamVid downscaled 2× to 240×180, 96×96 training crops,
# 24-channel transforms and a small FCN task model). Run from the repository root.
set -euo pipefail
export OMP_NUM_THREADS=1
[ -f runs/camvid/machine/model.ckpt ] ||
  hmcodec train configs/camvid/segmentation_machine.yaml --out runs/camvid/machine --no-progress
# Base-only mIoU and bpp from real streams on the 233 test images; `uncompressed_miou` is the
# same task model on the uncompressed (2×-downscaled) images.
hmcodec eval runs/camvid/machine/model.ckpt \
  --dataset camvid root=../shared/data/camvid split=test downscale=true \
  --layers base --no-progress -o results/camvid/segmentation_base.json --name "hmcodec base (CamVid)"
