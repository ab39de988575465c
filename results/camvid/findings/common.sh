# Shared by the CamVid findings campaigns (beta.sh, auxiliary.sh): folders, the test set (the
# first 60 CamVid test images, 2× downscaled as in training) and resumable train / evaluate.
set -euo pipefail
export OMP_NUM_THREADS=1
out=results/camvid/findings
runs=runs/camvid-findings
cfg=configs/camvid
test_set=(--dataset camvid root=../shared/data/camvid split=test downscale=true pad_multiple=16
  --max-images 60)
train() {  # config name, run folder, extra arguments; skipped once the run has its model
  local config=$1 run=$2; shift 2
  [ -f $run/model.ckpt ] || hmcodec train $cfg/$config.yaml --out $run --resume --no-progress "$@"
}
evaluate() {  # run folder, results name, extra eval arguments; skipped once written
  local run=$1 name=$2; shift 2
  [ -f $out/$name.json ] || hmcodec eval $run/model.ckpt "${test_set[@]}" --no-progress \
    -o $out/$name.json --name "$name" "$@"
}
