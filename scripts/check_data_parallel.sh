#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# Compare data-parallel training on this machine's CPU with one process over the same global batches, with BN on
# running statistics (exact equivalence expected) and on batch statistics (each rank normalises its own batch).
# Usage: bash scripts/check_data_parallel.sh [WORKER_NUM](optional, default 2) [WORK_DIR](optional, ./dp_check)
# Prints, for each BN mode, the rank agreement line and python -m src.tools.compare_checkpoints of the second
# epoch's weights (relative to the one-process run's update in that epoch). About 2 minutes per mode on 2 cores.
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/common.sh"

usage() {
  echo "Usage: bash $0 [WORKER_NUM](optional, default 2) [WORK_DIR](optional, default ./dp_check)" >&2
  exit 1
}
[ $# -le 2 ] || usage
WORKERS="${1:-2}"
require_count "$WORKERS" "WORKER_NUM"
WORK=$(abs_path "${2:-dp_check}")
mkdir -p "$WORK"
# 4 classes of 8 x WORKER_NUM images: 4 steps per epoch of 8 images per worker (8 x WORKER_NUM in one process)
(cd "$REPO_ROOT" && "$PYTHON" -c "from src.data.synthetic import ensure_synthetic_dataset as e; \
e('$WORK/data', num_classes=4, image_size=40, train_per_class=8 * $WORKERS, val_per_class=5, seed=3)")
COMMON=(--config "$REPO_ROOT/configs/quickstart.yaml" --dataset imagenet --num_classes 4 --image_size 32
        --eval_resize 32 --min_scale 1.0 --crop_ratio 1,1 --hflip 0 --drop_rate 0 --epoch_size 2 --warmup_epochs 0
        --lr_decay_mode constant --lr_max 0.01 --log_interval 0 --eval_interval 0 --save_checkpoint_epochs 1
        --num_parallel_workers 1)
for bn in true false; do
  one="$WORK/one_process_freeze_bn_$bn"
  dist="$WORK/dp_${WORKERS}_freeze_bn_$bn"
  rm -rf "$one" "$dist" "$WORK/train_distribute_cpu"
  "$PYTHON" "$REPO_ROOT/train.py" "${COMMON[@]}" --freeze_bn "$bn" --batch_size $((8 * WORKERS)) \
    --data_path "$WORK/data" --output_dir "$one" > "$one.log" 2>&1 || die "one-process run failed: $one.log"
  (cd "$WORK" && CONFIG="$REPO_ROOT/configs/quickstart.yaml" bash "$REPO_ROOT/scripts/run_distribute_train_cpu.sh" \
    imagenet2012 "$WORKERS" "$WORK/data" -- "${COMMON[@]}" --freeze_bn "$bn" --batch_size 8 > "$dist.log" 2>&1) \
    || die "distributed run failed: $dist.log"
  mv "$WORK/train_distribute_cpu" "$dist"
  echo "== freeze_bn $bn: $WORKERS workers x 8 images against one process x $((8 * WORKERS))"
  grep -h "rank agreement" "$dist/train_rank0.log" | sed 's/^[0-9-]* [0-9:,]* //'
  (cd "$REPO_ROOT" && "$PYTHON" -m src.tools.compare_checkpoints "$one/ckpt/ghostnet_050-2_4.ckpt" \
    "$dist/ckpt/ghostnet_050-2_4.ckpt" --start "$one/ckpt/ghostnet_050-1_4.ckpt")
done
