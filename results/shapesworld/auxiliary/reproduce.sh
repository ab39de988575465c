#!/usr/bin/env bash
# Experiment 4 of docs/reproduction.md: coding for machines with and without the auxiliary
# recognition branch on the encoder (α = 0.5, arXiv 2402.08267), for a segmentation base
# (tiny FCN) and a detection base (torchvision FCOS on a tiny backbone), CPU scale: ShapesWorld
# 64×64, 16-channel base, a λ_b sweep in which every point trains as long from one task model.
# Run from the repository root:  bash results/shapesworld/auxiliary/reproduce.sh
set -euo pipefail
export OMP_NUM_THREADS=1
out=results/shapesworld/auxiliary
data=(--dataset shapesworld split=test image_size=64 num_samples=256)
train() {  # config, last sweep point
  [ -f "runs/shapesworld/$1/$2/model.ckpt" ] ||
    hmcodec train "configs/shapesworld/$1.yaml" --out "runs/shapesworld/$1" --no-progress --resume
}
train machine lmbda-2 &
train auxiliary lmbda-2 &
train detection_machine lmbda-0.25 &
train detection_auxiliary lmbda-0.25 &
wait
for config in machine auxiliary detection_machine detection_auxiliary; do
  hmcodec eval runs/shapesworld/$config/lmbda-*/model.ckpt --layers base --no-progress \
    "${data[@]}" -o $out/$config.json --name $config
done
compare() {  # prefix of the outputs, metric, anchor, test, title
  { hmcodec bdrate "$out/$3.json" "$out/$4.json" --metric "$2" || true
    hmcodec bdrate "$out/$3.json" "$out/$4.json" --metric "$2" --rate bpp_payload || true
  } > "$out/${1}bdrate.txt"
  hmcodec plot "$out/$3.json" "$out/$4.json" -o "$out/${1}rd" --anchor "$3" --metrics "$2" \
    --title "$5"
}
compare "" miou machine auxiliary "ShapesWorld segmentation base ± auxiliary loss (CPU scale)"
compare detection_ map detection_machine detection_auxiliary \
  "ShapesWorld detection base ± auxiliary loss (CPU scale)"
