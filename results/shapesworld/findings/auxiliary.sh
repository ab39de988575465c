#!/usr/bin/env bash
# Issue 13, experiment 4 in paper 004's setting: a frozen task model, one variable-rate base
# per arm, without and with the shallow auxiliary branch (α = 0.5), two seeds. Two task models
# (TASKS selects): "deep", the tiny segmenter with eight context stages
# (configs/shapesworld/{machine,auxiliary}_deep_variable_rate.yaml), and "detection", the tiny
# FCOS (configs/shapesworld/{detection_machine,auxiliary_detection}_variable_rate.yaml), and
# "detection-start", the same with a 600-step image-codec start before the detection base
# (configs/shapesworld/{detection_machine,auxiliary_detection}_codec_start.yaml).
# The auxiliary arm reuses the plain arm's task model (same seed, same steps); "detection-start"
# reuses the "detection" runs' task model where it exists.
# One process, one thread; resumable. Run from the repository root:
#   bash results/shapesworld/findings/auxiliary.sh     (or TASKS=detection SEEDS=1 bash ...)
set -euo pipefail
export OMP_NUM_THREADS=1
out=results/shapesworld/findings
runs=runs/findings
configs=configs/shapesworld
test_set=(--dataset shapesworld split=test image_size=64 num_samples=256)
for task in ${TASKS:-deep detection}; do
for seed in ${SEEDS:-0 1}; do
  plain=$runs/machine-$task-seed$seed aux=$runs/auxiliary-$task-seed$seed
  case $task in
    deep) plain_config=$configs/machine_deep_variable_rate.yaml
          aux_config=$configs/auxiliary_deep_variable_rate.yaml ;;
    detection) plain_config=$configs/detection_machine_variable_rate.yaml
               aux_config=$configs/auxiliary_detection_variable_rate.yaml ;;
    detection-start) plain_config=$configs/detection_machine_codec_start.yaml
                     aux_config=$configs/auxiliary_detection_codec_start.yaml
                     cold=$runs/machine-detection-seed$seed/stage0-task
                     if [ ! -d $plain/stage0-task ] && [ -f $cold/final.pt ]; then
                       mkdir -p $plain && cp -r $cold $plain/
                     fi ;;
    *) echo "unknown task $task (deep, detection or detection-start)" >&2; exit 2 ;;
  esac
  [ -f $plain/model.ckpt ] || hmcodec train $plain_config \
    --out $plain --resume --no-progress --set seed=$seed
  if [ ! -d $aux/stage0-task ]; then mkdir -p $aux && cp -r $plain/stage0-task $aux/; fi
  [ -f $aux/model.ckpt ] || hmcodec train $aux_config \
    --out $aux --resume --no-progress --set seed=$seed
  for arm in machine-$task auxiliary-$task; do
    [ -f $out/${arm}_seed$seed.json ] || hmcodec eval $runs/$arm-seed$seed/model.ckpt \
      "${test_set[@]}" --layers base --no-progress -o $out/${arm}_seed$seed.json \
      --name "$arm, seed $seed"
  done
done
done
