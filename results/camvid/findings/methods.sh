#!/usr/bin/env bash
# Issue 13, experiment 3 of docs/reproduction.md on CamVid with variable-rate layers, two seeds:
# conditional, residual, conditional with the grouped ("enhanced") entropy model,
# conditional-synthesis, the independent layer (simulcast = independent + base; one seed) and
# paper 002's standalone construct (the conditional layer with ŷ_b zeroed, entropy model
# re-fitted), all over one converged, frozen segmentation base with
# configs/camvid/methods_variable_rate.yaml. The base is the shipped reference model's
# (`camvid-segmentation` in `hmcodec models`: task model 2,000 steps, base 4,000), so that it
# survives between sessions; BASE=model.ckpt picks another. Evaluated on real streams of the
# first 60 CamVid test images at full resolution (480×360). Two lanes side by side, one thread
# each; finished runs and evaluations are skipped, so an interrupted campaign resumes where it
# stopped. ARMS="residual:0 conditional:1 …" runs only those arms, in that order, in one lane.
# Run from the repository root:  bash results/camvid/findings/methods.sh
set -euo pipefail
export OMP_NUM_THREADS=1
out=results/camvid/findings
runs=runs/camvid-findings
base=${BASE:-camvid-segmentation}
test_set=(--dataset camvid root=../shared/data/camvid split=test pad_multiple=64 --max-images 60)
config=configs/camvid/methods_variable_rate.yaml

arm() {  # name, seed, --set arguments
  local name=$1 seed=$2; shift 2
  local run=$runs/$name-seed$seed
  [ -f $run/model.ckpt ] || hmcodec train $config --out $run --resume --no-progress \
    --set seed=$seed --set stages.0.init_from=$base "$@"
  [ -f $out/${name}_seed$seed.json ] || hmcodec eval $run/model.ckpt "${test_set[@]}" \
    --no-progress -o $out/${name}_seed$seed.json --name "${name}_seed$seed"
}
declare -A ARM_SETTINGS=(
  [conditional]="--set model.method=conditional --set model.enhancement_entropy=context"
  [residual]="--set model.method=residual"
  [grouped]="--set model.method=conditional --set model.enhancement_entropy=grouped"
  [conditional-synthesis]="--set model.method=conditional-synthesis"
  [independent]="--set model.method=independent"
  [standalone]="--set model.method=standalone --set stages.0.max_steps=1500 --set stages.0.lr=0.001"
)
lane() {  # arm:seed jobs, one after another; standalone starts from that seed's conditional run
  local job name seed extra
  for job in "$@"; do
    name=${job%%:*} seed=${job##*:} extra=()
    if [ -z "${ARM_SETTINGS[$name]+set}" ]; then
      echo "methods.sh: unknown arm '$name' in '$job'; choose one of: ${!ARM_SETTINGS[*]}." >&2
      exit 2
    fi
    [ $name != standalone ] ||
      extra=(--set stages.0.enhancement_from=$runs/conditional-seed$seed/model.ckpt)
    # shellcheck disable=SC2086  # the settings are words
    arm $name $seed ${ARM_SETTINGS[$name]} "${extra[@]}"
  done
}
if [ -n "${ARMS:-}" ]; then
  # shellcheck disable=SC2086
  lane $ARMS
  exit 0
fi
lane residual:0 residual:1 grouped:0 grouped:1 &
lane conditional:0 standalone:0 conditional:1 standalone:1 conditional-synthesis:0 \
  conditional-synthesis:1 independent:0 &
wait
