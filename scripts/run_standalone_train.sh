#!/usr/bin/env bash
# Train on one device (Ascend, GPU or CPU: whatever MindSpore was installed for).
# Usage: bash scripts/run_standalone_train.sh [DATASET_PATH] [PRETRAINED_CKPT_PATH](optional) [-- train.py options]
# Environment: CONFIG (recipe, default configs/ghostnet_100_imagenet.yaml), DEVICE_ID (default 0).
# Output and log: ./train/ (checkpoints in ./train/ckpt, log in ./train/log).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
  echo "Usage: bash $0 [DATASET_PATH] [PRETRAINED_CKPT_PATH](optional) [-- extra train.py options]" >&2
  echo "       CONFIG=configs/X.yaml DEVICE_ID=0 select the recipe and the device" >&2
  exit 1
}
split_args "$@"
[ ${#POSITIONAL[@]} -ge 1 ] && [ ${#POSITIONAL[@]} -le 2 ] || usage
CONFIG_PATH="${CONFIG:-$REPO_ROOT/configs/ghostnet_100_imagenet.yaml}"
resolve_data_and_config "${POSITIONAL[0]}"
ARGS=(--config "$CONFIG_PATH" --data_path "$DATASET_PATH" --device_id "${DEVICE_ID:-0}")
run_training "${POSITIONAL[1]:-}" train
