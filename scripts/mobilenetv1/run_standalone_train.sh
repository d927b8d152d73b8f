#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# The MobileNetV1 model zoo's scripts/run_standalone_train.sh: one Ascend device (whatever MindSpore was installed for).
# Usage: bash run_standalone_train.sh [cifar10|imagenet2012] [DATASET_PATH] [PRETRAINED_CKPT_PATH](optional)
#        [-- train.py options]
# Environment: CONFIG overrides the recipe, DEVICE_ID (default 0). Output and log: ./train/ (ckpt/, log).
# run_standalone_train_gpu.sh is this script with _MOBILENET_TARGET=GPU (output in ./train_gpu/).
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../common.sh"
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/_family.sh"

usage() {
  echo "Usage: bash ${_MOBILENET_SCRIPT:-$0} [cifar10|imagenet2012] [DATASET_PATH] [PRETRAINED_CKPT_PATH](optional) [-- extra train.py options]" >&2
  exit 1
}
split_args "$@"
[ ${#POSITIONAL[@]} -ge 2 ] && [ ${#POSITIONAL[@]} -le 3 ] || usage
CONFIG_PATH=$(existing_file "$(mobilenet_config "${POSITIONAL[0]}")" CONFIG)
DATASET_PATH=$(existing_dir "${POSITIONAL[1]}" DATASET_PATH)
PRETRAINED=$(optional_file "${POSITIONAL[2]:-}" PRETRAINED_CKPT_PATH)
ARGS=(--config "$CONFIG_PATH" --data_path "$DATASET_PATH" --device_id "${DEVICE_ID:-0}")
RUN_DIR=train
if [ "${_MOBILENET_TARGET:-}" = GPU ]; then
  ARGS+=(--device_target GPU)
  RUN_DIR=train_gpu
fi
[ -n "$PRETRAINED" ] && ARGS+=(--pretrained_ckpt "$PRETRAINED")
run_training "$RUN_DIR" "${ARGS[@]}" ${EXTRA[@]+"${EXTRA[@]}"}
