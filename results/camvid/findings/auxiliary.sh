#!/usr/bin/env bash
# Issue 13, experiment 4 on CamVid in paper 004's setting: a frozen deep task model (the tiny
# segmenter with eight context stages), one variable-rate base per arm without and with the
# shallow auxiliary branch (α = 0.5), two seeds
# (configs/camvid/segmentation_{machine,auxiliary}_deep_variable_rate.yaml). The auxiliary arm
# reuses the plain arm's task model (same seed, same steps). Evaluated (base layer) on real
# streams of the first 60 CamVid test images, 2× downscaled as in training.
# One lane per seed side by side, one thread each; resumable. Run from the repository root:
#   bash results/camvid/findings/auxiliary.sh
source results/camvid/findings/common.sh
seed_lane() {
  local seed=$1 plain=$runs/machine-deep-seed$1 aux=$runs/auxiliary-deep-seed$1
  train segmentation_machine_deep_variable_rate $plain --set seed=$seed
  if [ ! -d $aux/stage0-task ]; then mkdir -p $aux && cp -r $plain/stage0-task $aux/; fi
  train segmentation_auxiliary_deep_variable_rate $aux --set seed=$seed
  evaluate $plain machine-deep_seed$seed --layers base
  evaluate $aux auxiliary-deep_seed$seed --layers base
}
for seed in ${SEEDS:-0 1}; do seed_lane $seed & done
wait
