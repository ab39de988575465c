#!/usr/bin/env bash
# Issue 13, experiment 3 of docs/reproduction.md on ShapesWorld with variable-rate layers, two
# seeds: conditional, residual, conditional with the grouped ("enhanced") entropy model,
# conditional-synthesis, the independent layer (simulcast = independent + base) and paper 002's
# standalone construct (the conditional layer with ŷ_b zeroed, entropy model re-fitted), all over
# one frozen segmentation base (configs/shapesworld/base.yaml, 2,400 base steps).
# One process, one thread; finished runs and evaluations are skipped (resumable).
# Run from the repository root:  bash results/shapesworld/findings/methods.sh
set -euo pipefail
export OMP_NUM_THREADS=1
out=results/shapesworld/findings
runs=runs/findings
test_set=(--dataset shapesworld split=test image_size=64 num_samples=256)
config=configs/shapesworld/methods_variable_rate.yaml

evaluate() {  # run folder, results name, extra eval arguments
  local run=$1 name=$2; shift 2
  [ -f $out/$name.json ] || hmcodec eval $run/model.ckpt "${test_set[@]}" --no-progress \
    -o $out/$name.json --name "$name" "$@"
}
[ -f $runs/seg-base/model.ckpt ] || hmcodec train configs/shapesworld/base.yaml \
  --out $runs/seg-base --resume --no-progress --set stages.1.max_steps=2400
evaluate $runs/seg-base seg_base --layers base

arm() {  # name, seed, --set arguments
  local name=$1 seed=$2; shift 2
  local run=$runs/$name-seed$seed
  [ -f $run/model.ckpt ] || hmcodec train $config --out $run --resume --no-progress \
    --set seed=$seed "$@"
  evaluate $run ${name}_seed$seed
}
for seed in ${SEEDS:-0 1}; do
  arm conditional $seed --set model.method=conditional
  arm standalone $seed --set model.method=standalone --set stages.0.max_steps=1200 \
    --set stages.0.lr=0.001 --set stages.0.enhancement_from=$runs/conditional-seed$seed/model.ckpt
  arm residual $seed --set model.method=residual
  # the independent layer is the simulcast reference: one seed
  [ $seed != 0 ] || arm independent $seed --set model.method=independent
  arm conditional-synthesis $seed --set model.method=conditional-synthesis
  arm grouped $seed --set model.method=conditional --set model.enhancement_entropy=grouped
done
