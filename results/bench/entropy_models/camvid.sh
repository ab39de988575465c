#!/usr/bin/env bash
# Issue 14, CamVid campaign: rate of the hyperprior compositions on layers trained on natural
# photos. One frozen, converged CamVid segmentation base (results/camvid/pilot/base_convergence.sh),
# then one variable-rate conditional image layer per entropy model and seed
# (configs/camvid/entropy_variable_rate.yaml: same transforms, λ_e range and 6,000 steps on
# 160×160 full-resolution crops; only model.enhancement_entropy and the seed differ), evaluated
# on real streams of all 24 Kodak images (768×512: ŷ_e 48×32, ẑ 12×8) and of 60 CamVid test images
# (480×360, in distribution) at the six λ_e anchors.
# Two lanes side by side, one thread each, the key pair (hyperprior-context, hyperprior-
# checkerboard) first; finished runs and evaluations are skipped (resumable).
# Run from the repository root:  bash results/bench/entropy_models/camvid.sh [entropy:seed …]
# then:                          python results/bench/entropy_models/analyse.py
set -euo pipefail
export OMP_NUM_THREADS=1
out=results/bench/entropy_models/camvid
runs=runs/entropy-camvid
base=runs/camvid-pilot/machine-base6000/model.ckpt
# in distribution: the first 60 CamVid test images at full resolution (methods.sh's test set)
camvid_test=(--dataset camvid root=../shared/data/camvid split=test pad_multiple=64 --max-images 60)
mkdir -p $out
[ -f $base ] || bash results/camvid/pilot/base_convergence.sh

arm() {  # entropy model, seed
  local run=$runs/$1-seed$2
  [ -f $run/model.ckpt ] || hmcodec train configs/camvid/entropy_variable_rate.yaml --out $run \
    --resume --no-progress --set seed=$2 --set model.enhancement_entropy=$1 \
    --set stages.0.init_from=$base
  [ -f $out/$1_seed$2_kodak.json ] || hmcodec eval $run/model.ckpt --dataset kodak \
    root=../shared/data/kodak --no-progress -o $out/$1_seed$2_kodak.json \
    --name "$1, seed $2, Kodak"
  [ -f $out/$1_seed$2_camvid.json ] || hmcodec eval $run/model.ckpt "${camvid_test[@]}" \
    --no-progress -o $out/$1_seed$2_camvid.json --name "$1, seed $2, CamVid test"
}
lane() { for job in "$@"; do arm ${job%:*} ${job#*:}; done; }
# one lane of the given jobs:  bash results/bench/entropy_models/camvid.sh hyperprior-elic:1 …
if [ $# -gt 0 ]; then lane "$@"; exit; fi
lane ${LANE1:-hyperprior-context:0 hyperprior-elic:0 hyperprior-context:1} &
lane ${LANE2:-hyperprior-checkerboard:0 context:0 hyperprior-checkerboard:1} &
wait
