#!/usr/bin/env bash
# Issue 14: rate of the hyperprior compositions on trained layers. One frozen ShapesWorld
# segmentation base (configs/shapesworld/base.yaml, 2,400 base steps: the findings campaign's
# runs/findings/seg-base), then one variable-rate conditional image layer per entropy model
# (configs/shapesworld/methods_variable_rate.yaml: same transforms, seed, λ range and 4,800
# steps for every arm; only model.enhancement_entropy differs). Trained on 64×64 crops, evaluated
# on real streams of 64 test images at 256×256 (16×16 latents) and 256 at 64×64.
# One process, one thread; finished runs and evaluations are skipped (resumable).
# Run from the repository root:  bash results/bench/entropy_models/reproduce.sh
set -euo pipefail
export OMP_NUM_THREADS=1
out=results/bench/entropy_models
runs=runs/findings
config=configs/shapesworld/methods_variable_rate.yaml
large=(--dataset shapesworld split=test image_size=256 num_samples=64)
small=(--dataset shapesworld split=test image_size=64 num_samples=256)

[ -f $runs/seg-base/model.ckpt ] || hmcodec train configs/shapesworld/base.yaml \
  --out $runs/seg-base --resume --no-progress --set stages.1.max_steps=2400

for seed in ${SEEDS:-0}; do
  for entropy in ${ENTROPY:-hyperprior-context hyperprior-checkerboard hyperprior-elic context}; do
    run=$runs/entropy-$entropy-seed$seed
    [ $entropy != context ] || run=$runs/conditional-seed$seed  # the methods campaign's arm
    [ -f $run/model.ckpt ] || hmcodec train $config --out $run --resume --no-progress \
      --set seed=$seed --set model.method=conditional --set model.enhancement_entropy=$entropy
    [ -f $out/${entropy}_seed${seed}_256.json ] || hmcodec eval $run/model.ckpt "${large[@]}" \
      --no-progress -o $out/${entropy}_seed${seed}_256.json --name "$entropy, seed $seed, 256×256"
    [ -f $out/${entropy}_seed${seed}_64.json ] || hmcodec eval $run/model.ckpt "${small[@]}" \
      --no-progress -o $out/${entropy}_seed${seed}_64.json --name "$entropy, seed $seed, 64×64"
  done
done
python $out/analyse.py
