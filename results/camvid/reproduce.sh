#!/usr/bin/env bash
# Regenerates results/camvid/ (CPU scale: CamVid downscaled 2× to 240×180, 96×96 training crops,
# 24/32-channel latents, "tiny" 24-channel transforms and a small FCN task model; 800–1,500 steps
# per stage). Run from the repository root:
#   bash results/camvid/reproduce.sh
set -euo pipefail
export OMP_NUM_THREADS=1
out=results/camvid
camvid=(root=../shared/data/camvid split=test downscale=true)
subset=(--max-images 60)  # the first 60 of the 233 test images (CPU time of serial decoding)
train() {  # config, run folder, last sweep point ('' when the config has no sweep)
  [ -f "runs/camvid/$2/${3:+$3/}model.ckpt" ] ||
    hmcodec train "configs/camvid/$1.yaml" --out "runs/camvid/$2" --no-progress --resume
}
# The base layer (task model trained on uncompressed images, then frozen), and its λ_b sweep.
train segmentation_machine machine
train segmentation_machine_sweep machine_sweep lmbda-0.5 &
train segmentation_machine_sweep_beta0 machine_sweep_beta0 lmbda-0.5 &
train segmentation_auxiliary auxiliary lmbda-0.5 &
# Reconstruction enhancement over the base of runs/camvid/machine: experiment 3.
( for method in conditional residual conditional_grouped independent; do
    train $method $method lmbda-0.05
  done ) &
wait

# Base layer alone, all 233 test images (with the task model on uncompressed images beside it).
hmcodec eval runs/camvid/machine/model.ckpt --dataset camvid "${camvid[@]}" --layers base \
  --no-progress -o $out/segmentation_base.json --name "hmcodec base (CamVid)"
# Experiment 5a: base-layer mIoU vs bpp against classical codecs feeding the same task model.
hmcodec eval runs/camvid/machine_sweep/lmbda-*/model.ckpt --dataset camvid "${camvid[@]}" \
  "${subset[@]}" --layers base --no-progress -o $out/base_sweep.json --name "hmcodec base layer"
hmcodec eval runs/camvid/machine_sweep_beta0/lmbda-*/model.ckpt --dataset camvid "${camvid[@]}" \
  "${subset[@]}" --layers base --no-progress -o $out/base_sweep_beta0.json --name "base layer, β = 0"
# Experiment 1 on CamVid: the base task and g_a(ŷ_b) reconstruction, β = 0.1 against β = 0.
{ echo "## base task (mIoU): β = 0.1 against β = 0"
  hmcodec bdrate $out/base_sweep_beta0.json $out/base_sweep.json --metric miou || true
  echo "## direct reconstruction from the base: β = 0.1 against β = 0"
  hmcodec bdrate $out/base_sweep_beta0.json $out/base_sweep.json --metric psnr_base_direct || true
} > $out/beta_bdrate.txt 2>&1
hmcodec plot $out/base_sweep.json $out/base_sweep_beta0.json -o $out/beta_rd --anchor "base layer, β = 0" \
  --metrics miou psnr_base_direct --title "CamVid segmentation base, β = 0.1 vs β = 0 (CPU scale)"
# Experiment 4: the same base with the auxiliary recognition loss (α = 0.5) on the encoder.
hmcodec eval runs/camvid/auxiliary/lmbda-*/model.ckpt --dataset camvid "${camvid[@]}" \
  "${subset[@]}" --layers base --no-progress -o $out/base_sweep_auxiliary.json --name "auxiliary loss"
{ hmcodec bdrate $out/base_sweep.json $out/base_sweep_auxiliary.json --metric miou || true
} > $out/auxiliary_bdrate.txt 2>&1
hmcodec plot $out/base_sweep.json $out/base_sweep_auxiliary.json -o $out/auxiliary_rd \
  --anchor "hmcodec base layer" --metrics miou --title "CamVid base ± auxiliary loss"
hmcodec baselines --data camvid "${camvid[@]}" "${subset[@]}" --codecs jpeg webp avif jpegxl \
  --task-model runs/camvid/machine_sweep/lmbda-4/model.ckpt -o $out/baselines
for codec in jpeg webp avif jpegxl; do
  hmcodec bdrate $out/baselines/$codec.json $out/base_sweep.json --metric miou || true
done > $out/base_vs_codecs.txt 2>&1
hmcodec plot $out/base_sweep.json $out/baselines/{jpeg,webp,avif,jpegxl}.json -o $out/base_vs_codecs \
  --anchor JPEG --metrics miou --title "CamVid: base layer vs codecs → task model"

# Experiment 3: conditional, residual, conditional with the grouped ("enhanced") entropy model,
# independent (upper) and simulcast (lower) baselines, whole-stream bpp on the same 60 images.
for method in conditional residual conditional_grouped independent; do
  hmcodec eval runs/camvid/$method/lmbda-*/model.ckpt --dataset camvid "${camvid[@]}" \
    "${subset[@]}" --no-progress -o $out/$method.json --name $method
done
for method in conditional residual conditional_grouped; do
  hmcodec scalable-analysis --scalable $out/$method.json --standalone $out/independent.json \
    -o $out/${method}_vs_baselines.md || true
done
{ hmcodec bdrate $out/conditional.json $out/residual.json || true
  hmcodec bdrate $out/conditional.json $out/conditional_grouped.json || true
} > $out/methods_bdrate.txt 2>&1
hmcodec plot $out/{conditional,residual,conditional_grouped,independent}.json -o $out/enhancement_rd \
  --anchor independent --metrics psnr-rgb --title "CamVid enhancement (CPU scale)"

# Experiment 5b: the full decode's PSNR on Kodak (trained on CamVid only) against the codecs.
for method in conditional residual; do
  hmcodec eval runs/camvid/$method/lmbda-*/model.ckpt --dataset kodak root=../shared/data/kodak \
    --max-images 8 --no-progress -o $out/kodak_$method.json --name "hmcodec $method (CamVid-trained)"
done
hmcodec baselines ../shared/data/kodak --max-images 8 --codecs jpeg webp avif jpegxl -o $out/kodak_baselines
for codec in jpeg webp avif jpegxl; do
  for method in conditional residual; do
    hmcodec bdrate $out/kodak_baselines/$codec.json $out/kodak_$method.json || true
  done
done > $out/kodak_vs_codecs.txt 2>&1
hmcodec plot $out/kodak_{conditional,residual}.json $out/kodak_baselines/{jpeg,webp,avif,jpegxl}.json \
  -o $out/kodak_rd --anchor JPEG --metrics psnr-rgb --title "Kodak (8): CamVid-trained vs codecs"
