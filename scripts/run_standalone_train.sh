#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# Train on one device (Ascend, GPU or CPU: whatever MindSpore was installed for).
# Usage: bash scripts/run_standalone_train.sh [DATASET_PATH] [PRETRAINED_CKPT_PATH](optional) [-- train.py options]
# Environment: CONFIG (recipe, default configs/ghostnet_100_imagenet.yaml), DEVICE_ID (default 0).
# Output and log: ./train/ (checkpoints in ./train/ckpt, log in ./train/log).
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/common.sh"

usage() {
  echo "Usage: bash $0 [DATASET_PATH] [PRETRAINED_CKPT_PATH](optional) [-- extra train.py options]" >&2
  echo "       CONFIG=configs/X.yaml DEVICE_ID=0 select the recipe and the device" >&2
  exit 1
}
split_args "$@"
[ ${#POSITIONAL[@]} -ge 1 ] && [ ${#POSITIONAL[@]} -le 2 ] || usage
CONFIG_PATH=$(existing_file "${CONFIG:-$REPO_ROOT/configs/ghostnet_100_imagenet.yaml}" CONFIG)
DATASET_PATH=$(existing_dir "${POSITIONAL[0]}" DATASET_PATH)
PRETRAINED=$(optional_file "${POSITIONAL[1]:-}" PRETRAINED_CKPT_PATH)
ARGS=(--config "$CONFIG_PATH" --data_path "$DATASET_PATH" --device_id "${DEVICE_ID:-0}")
[ -n "$PRETRAINED" ] && ARGS+=(--pretrained_ckpt "$PRETRAINED")
run_training train "${ARGS[@]}" ${EXTRA[@]+"${EXTRA[@]}"}
