#!/usr/bin/env bash
# Issue 13: the β experiment (experiment 1 of docs/reproduction.md) at paper scale on one GPU:
# ShapesWorld 256×256, paper-size transforms, one variable-rate depth base per arm (β = 0.1
# relative, β = 0; configs/shapesworld/depth_base_paper_scale{,_beta0}.yaml), evaluated on real
# streams of 64 held-back images, the BD-rates and the plot written to OUT.
#   bash benchmarks/device/paper_scale.sh OUT          # the GPU run (about 10 minutes on an H200)
#   bash benchmarks/device/paper_scale.sh OUT smoke    # a handful of steps, on CPU (CI)
# Needs only this repository and its Python dependencies (run as `python -m hmcodec` from src/
# where hmcodec is not installed; wheels of missing packages in .whl/ are installed first).
set -euo pipefail
out=${1:?usage: paper_scale.sh OUT_FOLDER [smoke]}
mode=${2:-full}
root=$(cd "$(dirname "$0")/../.." && pwd)
python=${PYTHON:-python3}
if ! $python -c "import compressai, bjontegaard" 2>/dev/null && [ -d "$root/.whl" ]; then
  $python -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$root"/.whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$root/src${PYTHONPATH:+:$PYTHONPATH}
hm() { $python -m hmcodec "$@"; }
mkdir -p "$out"
runs=$out/runs images=64 steps=()
if [ "$mode" = smoke ]; then
  export OMP_NUM_THREADS=1
  images=2
  steps=(--set stages.0.max_steps=2 --set stages.1.max_steps=2 --set stages.2.max_steps=2
         --set trainer.val_check_interval=2 --set trainer.limit_val_batches=1
         --set data.batch_size=2 --set data.num_workers=0 --set data.val.num_samples=2
         --set data.train.image_size=64 --set data.val.image_size=64)
fi
started=$(date +%s)
cfg=$root/configs/shapesworld
hm train $cfg/depth_base_paper_scale.yaml --out $runs/beta0.1 --resume --no-progress "${steps[@]}"
if [ ! -d $runs/beta0/stage1-base ]; then  # the shared task model and image-codec start
  mkdir -p $runs/beta0 && cp -r $runs/beta0.1/stage0-task $runs/beta0.1/stage1-base $runs/beta0/
fi
hm train $cfg/depth_base_paper_scale_beta0.yaml --out $runs/beta0 --resume --no-progress "${steps[@]}"
trained=$(date +%s)
size=256; [ "$mode" = smoke ] && size=64
for beta in 0.1 0; do
  hm eval $runs/beta$beta/model.ckpt --dataset shapesworld split=test image_size=$size \
    num_samples=$images --layers base --no-progress -o $out/base_beta$beta.json \
    --name "paper-scale depth base, β = $beta"
done
{
  echo "## Base task (depth RMSE): β = 0.1 against β = 0"
  hm bdrate $out/base_beta0.json $out/base_beta0.1.json --metric rmse --json $out/bdrate_task.json || true
  echo "## Reconstruction from the base, g_a(ŷ_b): β = 0.1 against β = 0"
  hm bdrate $out/base_beta0.json $out/base_beta0.1.json --metric psnr_base_direct \
    --json $out/bdrate_reconstruction.json || true
} > $out/bdrate.txt 2>&1
hm plot $out/base_beta0.1.json $out/base_beta0.json -o $out/base_rd --metrics rmse psnr_base_direct \
  --title "ShapesWorld 256×256, paper-size transforms: depth base, β = 0.1 vs β = 0"
ended=$(date +%s)
$python - "$out" "$mode" $((trained - started)) $((ended - trained)) <<'PY'
import json, sys, platform
out, mode, train_s, eval_s = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
import torch
device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor() or "cpu"
summary = {"mode": mode, "device": device, "training_seconds": train_s, "evaluation_seconds": eval_s}
json.dump(summary, open(f"{out}/summary.json", "w"), indent=2)
print(json.dumps(summary))
PY
cat $out/bdrate.txt
