#!/usr/bin/env bash
# Experiment 4 of docs/reproduction.md: coding for machines with and without the auxiliary
# recognition branch on the encoder (α = 0.5, arXiv 2402.08267), for a segmentation base
# (tiny FCN) and a detection base (torchvision FCOS on a tiny backbone), CPU scale: ShapesWorld
# 64×64, 16-channel base, a λ_b sweep in which every point trains as long from one task model.
# Every arm is trained with seeds 0 and 1; "seed 1 vs seed 0" of the same config is the noise
# floor that a BD-rate between the arms has to clear.
# Run from the repository root:  bash results/shapesworld/auxiliary/reproduce.sh
set -euo pipefail
export OMP_NUM_THREADS=1
out=results/shapesworld/auxiliary
data=(--dataset shapesworld split=test image_size=64 num_samples=256)
configs=(machine auxiliary detection_machine detection_auxiliary)
run() {  # config, seed → run folder (seed 0 keeps the config's own folder)
  echo "runs/shapesworld/$1$([ "$2" = 0 ] || echo "_seed$2")"
}
# --resume skips the finished sweep points and trains the missing ones.
for seed in 0 1; do
  for config in "${configs[@]}"; do
    hmcodec train "configs/shapesworld/$config.yaml" --out "$(run "$config" $seed)" \
      --set seed=$seed --no-progress --resume &
  done
done
wait
for seed in 0 1; do
  for config in "${configs[@]}"; do
    folder=$(run "$config" $seed)
    hmcodec eval "$folder"/lmbda-*/model.ckpt --layers base --no-progress "${data[@]}" \
      -o "$out/${folder##*/}.json" --name "${folder##*/}"
  done
done
compare() {  # output name, metric, anchor, test
  { hmcodec bdrate "$out/$3.json" "$out/$4.json" --metric "$2" || true
    hmcodec bdrate "$out/$3.json" "$out/$4.json" --metric "$2" --rate bpp_payload || true
  } > "$out/$1.txt"
}
compare bdrate miou machine auxiliary
compare bdrate_seed1 miou machine_seed1 auxiliary_seed1
compare noise_seed1_vs_seed0 miou machine machine_seed1
compare detection_bdrate map detection_machine detection_auxiliary
compare detection_bdrate_seed1 map detection_machine_seed1 detection_auxiliary_seed1
compare detection_noise_seed1_vs_seed0 map detection_machine detection_machine_seed1
hmcodec plot $out/{machine,auxiliary,machine_seed1,auxiliary_seed1}.json -o $out/rd \
  --anchor machine --metrics miou \
  --title "ShapesWorld segmentation ± auxiliary loss (CPU, 2 seeds)"
hmcodec plot $out/{detection_machine,detection_auxiliary}{,_seed1}.json -o $out/detection_rd \
  --anchor detection_machine --metrics map \
  --title "ShapesWorld detection ± auxiliary loss (CPU, 2 seeds)"
