#!/usr/bin/env bash
# Issue 13, experiment 1 of docs/reproduction.md on CamVid with variable-rate layers, two seeds:
#   * one variable-rate segmentation base per arm (β = 0.1 relative to the task term, and
#     β = 0), configs/camvid/segmentation_base_variable_rate{,_beta0}.yaml; the β = 0 arm
#     reuses the β = 0.1 run's first two stages (task model and image-codec start: same seed,
#     same steps);
#   * over each base's λ_b = 8 point: one variable-rate conditional reconstruction layer
#     (configs/camvid/conditional_over_variable_rate_base.yaml).
# Evaluated on real streams of the first 60 CamVid test images, 2× downscaled as in training.
# One lane per seed side by side, one thread each; finished runs and evaluations are skipped,
# so an interrupted campaign resumes where it stopped. Run from the repository root:
#   bash results/camvid/findings/beta.sh
source results/camvid/findings/common.sh
seed_lane() {
  local seed=$1 b1=$runs/base-b0.1-seed$1 b0=$runs/base-b0-seed$1
  train segmentation_base_variable_rate $b1 --set seed=$seed
  if [ ! -d $b0/stage1-base ]; then  # the shared task model and image-codec start
    mkdir -p $b0 && cp -r $b1/stage0-task $b1/stage1-base $b0/
  fi
  train segmentation_base_variable_rate_beta0 $b0 --set seed=$seed
  evaluate $b1 base_beta0.1_seed$seed --layers base
  evaluate $b0 base_beta0_seed$seed --layers base
  for beta in 0.1 0; do
    train conditional_over_variable_rate_base $runs/rec-b$beta-seed$seed --set seed=$seed \
      --set stages.0.init_from=$runs/base-b$beta-seed$seed/model.ckpt
    evaluate $runs/rec-b$beta-seed$seed conditional_beta${beta}_seed$seed
  done
}
for seed in ${SEEDS:-0 1}; do seed_lane $seed & done
wait
