#!/usr/bin/env bash
# Issue 13, experiments 1 and 2 of docs/reproduction.md with variable-rate layers, two seeds:
#   * one variable-rate depth base per arm (β = 0.1 relative to the task term, and β = 0),
#     configs/shapesworld/depth_base_variable_rate{,_beta0}.yaml; the β = 0 arm reuses the
#     β = 0.1 run's first two stages (task model and image-codec start: same seed, same steps);
#   * over each base's λ_b = 1 point: one variable-rate conditional reconstruction layer and one
#     variable-rate segmentation layer (depth → segmentation). The simulcast reference is
#     methods.sh's independent layer, which ignores its base (same λ_e range and steps).
# One process, one thread; finished runs and evaluations are skipped, so an interrupted campaign
# resumes where it stopped. Run from the repository root:
#   bash results/shapesworld/findings/beta.sh      (then analyse.sh for the BD-rates and plots)
set -euo pipefail
export OMP_NUM_THREADS=1
out=results/shapesworld/findings
runs=runs/findings
test_set=(--dataset shapesworld split=test image_size=64 num_samples=256)
cfg=configs/shapesworld

train() {  # config, run folder, extra --set arguments
  local config=$1 run=$2; shift 2
  [ -f $run/model.ckpt ] || hmcodec train $cfg/$config.yaml --out $run --resume --no-progress "$@"
}
evaluate() {  # run folder, results name, extra eval arguments
  local run=$1 name=$2; shift 2
  [ -f $out/$name.json ] || hmcodec eval $run/model.ckpt "${test_set[@]}" --no-progress \
    -o $out/$name.json --name "$name" "$@"
}

for seed in ${SEEDS:-0 1}; do
  b1=$runs/depth-b0.1-seed$seed b0=$runs/depth-b0-seed$seed
  train depth_base_variable_rate $b1 --set seed=$seed
  if [ ! -d $b0/stage1-base ]; then  # the shared task model and image-codec start
    mkdir -p $b0 && cp -r $b1/stage0-task $b1/stage1-base $b0/
  fi
  train depth_base_variable_rate_beta0 $b0 --set seed=$seed
  evaluate $b1 base_beta0.1_seed$seed --layers base
  evaluate $b0 base_beta0_seed$seed --layers base
  for beta in 0.1 0; do
    base=$runs/depth-b$beta-seed$seed
    train depth_conditional_variable_rate $runs/rec-b$beta-seed$seed --set seed=$seed \
      --set stages.0.init_from=$base/model.ckpt
    evaluate $runs/rec-b$beta-seed$seed conditional_beta${beta}_seed$seed
  done
  for beta in 0.1 0; do
    base=$runs/depth-b$beta-seed$seed
    train depth_to_segmentation_variable_rate $runs/seg-b$beta-seed$seed --set seed=$seed \
      --set stages.0.init_from=$base/model.ckpt \
      --set stages.0.enhancement_from=$runs/rec-b$beta-seed$seed/model.ckpt
    evaluate $runs/seg-b$beta-seed$seed segmentation_beta${beta}_seed$seed
  done
done
