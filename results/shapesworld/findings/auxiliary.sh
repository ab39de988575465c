#!/usr/bin/env bash
# Issue 13, experiment 4 in paper 004's setting: a deeper frozen segmentation model, one
# variable-rate base per arm, without and with the shallow auxiliary branch (α = 0.5), two seeds.
# The auxiliary arm reuses the plain arm's task model (same seed, same steps).
# One process, one thread; resumable. Run from the repository root:
#   bash results/shapesworld/findings/auxiliary.sh
set -euo pipefail
export OMP_NUM_THREADS=1
out=results/shapesworld/findings
runs=runs/findings
test_set=(--dataset shapesworld split=test image_size=64 num_samples=256)
for seed in ${SEEDS:-0 1}; do
  plain=$runs/machine-deep-seed$seed aux=$runs/auxiliary-deep-seed$seed
  [ -f $plain/model.ckpt ] || hmcodec train configs/shapesworld/machine_deep_variable_rate.yaml \
    --out $plain --resume --no-progress --set seed=$seed
  if [ ! -d $aux/stage0-task ]; then mkdir -p $aux && cp -r $plain/stage0-task $aux/; fi
  [ -f $aux/model.ckpt ] || hmcodec train configs/shapesworld/auxiliary_deep_variable_rate.yaml \
    --out $aux --resume --no-progress --set seed=$seed
  for arm in machine-deep auxiliary-deep; do
    [ -f $out/${arm}_seed$seed.json ] || hmcodec eval $runs/$arm-seed$seed/model.ckpt \
      "${test_set[@]}" --layers base --no-progress -o $out/${arm}_seed$seed.json \
      --name "$arm, seed $seed"
  done
done
