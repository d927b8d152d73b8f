#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# Evaluate a checkpoint on the validation split (every image scored once).
# Usage: bash scripts/run_eval.sh [DATASET_PATH] [CHECKPOINT_PATH] [-- eval.py options]
#        bash scripts/run_eval.sh [cifar10|imagenet2012] [DATASET_PATH] [CHECKPOINT_PATH] [DEVICE_ID] [-- ...]
# Environment: CONFIG (recipe; default from the data-set name, else configs/ghostnet_100_imagenet.yaml),
#              DEVICE_ID (default 0).
# Log: ./eval/log, which ends with the line `result: {'top_1_accuracy': ..., 'top_5_accuracy': ...} ckpt=...`.
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/common.sh"

usage() {
  echo "Usage: bash $0 [DATASET_PATH] [CHECKPOINT_PATH] [-- extra eval.py options]" >&2
  echo "       bash $0 [cifar10|imagenet2012] [DATASET_PATH] [CHECKPOINT_PATH] [DEVICE_ID](optional) [-- ...]" >&2
  exit 1
}
split_args "$@"
DEVICE="${DEVICE_ID:-0}"
case "${POSITIONAL[0]:-}" in
  cifar10|imagenet2012)
    [ ${#POSITIONAL[@]} -ge 3 ] && [ ${#POSITIONAL[@]} -le 4 ] || usage
    CONFIG_PATH=$(config_for_dataset "${POSITIONAL[0]}")
    DATASET_PATH="${POSITIONAL[1]}"
    CHECKPOINT_PATH="${POSITIONAL[2]}"
    DEVICE="${POSITIONAL[3]:-$DEVICE}"
    ;;
  *)
    [ ${#POSITIONAL[@]} -eq 2 ] || usage
    CONFIG_PATH=$(existing_file "${CONFIG:-$REPO_ROOT/configs/ghostnet_100_imagenet.yaml}" CONFIG)
    DATASET_PATH="${POSITIONAL[0]}"
    CHECKPOINT_PATH="${POSITIONAL[1]}"
    ;;
esac
DATASET_PATH=$(existing_dir "$DATASET_PATH" DATASET_PATH)
CHECKPOINT_PATH=$(existing_file "$CHECKPOINT_PATH" CHECKPOINT_PATH)
WORK_DIR="$(pwd)/eval"
mkdir -p "$WORK_DIR"
run_logged "$WORK_DIR/log" "$PYTHON" "$REPO_ROOT/eval.py" --config "$CONFIG_PATH" --data_path "$DATASET_PATH" \
  --checkpoint_path "$CHECKPOINT_PATH" --device_id "$DEVICE" ${EXTRA[@]+"${EXTRA[@]}"}
