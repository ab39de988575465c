#!/usr/bin/env bash
# Issue 13, experiment 3 of docs/reproduction.md on CamVid with variable-rate layers, two seeds:
# conditional, residual, conditional with the grouped ("enhanced") entropy model,
# conditional-synthesis, the independent layer (simulcast = independent + base; one seed) and
# paper 002's standalone construct (the conditional layer with ŷ_b zeroed, entropy model
# re-fitted), all over one converged, frozen segmentation base
# (results/camvid/pilot/base_convergence.sh) with configs/camvid/methods_variable_rate.yaml.
# The conditional arm is issue 14's `context` arm (results/bench/entropy_models/camvid.sh):
# the same config, so the run is shared. Evaluated on real streams of the first 60 CamVid test
# images at full resolution (480×360). Two lanes side by side, one thread each; finished runs and
# evaluations are skipped, so an interrupted campaign resumes where it stopped.
# Run from the repository root:  bash results/camvid/findings/methods.sh
set -euo pipefail
export OMP_NUM_THREADS=1
out=results/camvid/findings
runs=runs/camvid-findings
base=runs/camvid-pilot/machine-base6000/model.ckpt
test_set=(--dataset camvid root=../shared/data/camvid split=test pad_multiple=64 --max-images 60)
config=configs/camvid/methods_variable_rate.yaml
[ -f $base ] || bash results/camvid/pilot/base_convergence.sh

arm() {  # name, seed, --set arguments
  local name=$1 seed=$2; shift 2
  local run=$runs/$name-seed$seed
  [ $name != conditional ] || run=runs/entropy-camvid/context-seed$seed
  [ -f $run/model.ckpt ] || hmcodec train $config --out $run --resume --no-progress \
    --set seed=$seed --set stages.0.init_from=$base "$@"
  [ -f $out/${name}_seed$seed.json ] || hmcodec eval $run/model.ckpt "${test_set[@]}" \
    --no-progress -o $out/${name}_seed$seed.json --name "${name}_seed$seed"
}
seeds() {  # one lane: the given arm's runs for every seed
  local name=$1; shift
  for seed in ${SEEDS:-0 1}; do arm $name $seed "$@"; done
}
conditional_then_standalone() {
  for seed in ${SEEDS:-0 1}; do
    arm conditional $seed --set model.method=conditional --set model.enhancement_entropy=context
    arm standalone $seed --set model.method=standalone --set stages.0.max_steps=1500 \
      --set stages.0.lr=0.001 \
      --set stages.0.enhancement_from=runs/entropy-camvid/context-seed$seed/model.ckpt
  done
}
( seeds residual --set model.method=residual
  seeds grouped --set model.method=conditional --set model.enhancement_entropy=grouped ) &
( conditional_then_standalone
  seeds conditional-synthesis --set model.method=conditional-synthesis
  arm independent 0 --set model.method=independent ) &
wait
