#!/usr/bin/env bash
# Issue 13: the CamVid reference model on the CamVid test set (60 images, both layers) and on
# all 24 Kodak images (both layers), against JPEG and WebP on Kodak (results/classical/kodak,
# `hmcodec baselines`). One thread; finished evaluations are skipped. Run from the repository
# root after results/models/train_camvid.sh:  bash results/models/evaluate_camvid.sh
set -euo pipefail
export OMP_NUM_THREADS=1
out=results/models
model=runs/reference/camvid/model.ckpt
[ -f $out/camvid_test.json ] || hmcodec eval $model --dataset camvid root=../shared/data/camvid \
  split=test downscale=true pad_multiple=16 --max-images 60 --no-progress \
  -o $out/camvid_test.json --name "camvid-segmentation, CamVid test"
# four of the seven anchors on Kodak (serial-context decoding of 24 photos of 768×512 is slow)
[ -f $out/camvid_kodak.json ] || hmcodec eval $model --dataset kodak root=../shared/data/kodak \
  --qualities 0,0.3333,0.6667,1 --no-progress -o $out/camvid_kodak.json \
  --name "camvid-segmentation, Kodak"
{
  echo "## Kodak: the camvid-segmentation image layer against JPEG"
  hmcodec bdrate results/classical/kodak/jpeg.json $out/camvid_kodak.json || true
  echo "## Kodak: against WebP"
  hmcodec bdrate results/classical/kodak/webp.json $out/camvid_kodak.json || true
} > $out/camvid_kodak_bdrate.txt 2>&1
hmcodec plot results/classical/kodak/jpeg.json results/classical/kodak/webp.json \
  $out/camvid_kodak.json -o $out/camvid_kodak_rd --metrics psnr-rgb \
  --title "Kodak (24 images): the camvid-segmentation image layer against JPEG and WebP"
