#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# Train on the CPU.
# Usage: bash scripts/run_train_cpu.sh [cifar10|imagenet2012] [DATASET_PATH] [PRETRAINED_CKPT_PATH](optional)
#        [-- train.py options]
# Environment: CONFIG overrides the recipe chosen by the data-set name.
# Output and log: ./train_cpu/ (checkpoints in ./train_cpu/ckpt, log in ./train_cpu/log).
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/common.sh"

usage() {
  echo "Usage: bash $0 [cifar10|imagenet2012] [DATASET_PATH] [PRETRAINED_CKPT_PATH](optional) [-- extra train.py options]" >&2
  exit 1
}
split_args "$@"
[ ${#POSITIONAL[@]} -ge 2 ] && [ ${#POSITIONAL[@]} -le 3 ] || usage
CONFIG_PATH=$(config_for_dataset "${POSITIONAL[0]}")
DATASET_PATH=$(existing_dir "${POSITIONAL[1]}" DATASET_PATH)
PRETRAINED=$(optional_file "${POSITIONAL[2]:-}" PRETRAINED_CKPT_PATH)
ARGS=(--config "$CONFIG_PATH" --data_path "$DATASET_PATH" --device_target CPU)
[ -n "$PRETRAINED" ] && ARGS+=(--pretrained_ckpt "$PRETRAINED")
run_training train_cpu "${ARGS[@]}" ${EXTRA[@]+"${EXTRA[@]}"}
