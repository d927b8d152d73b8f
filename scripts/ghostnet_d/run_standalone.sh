#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# The GhostNet-D model zoo's scripts/run_standalone.sh: train ghostnet_d_101 on one device.
# Usage: bash run_standalone.sh [DATASET_PATH](optional) [-- train.py options]
# The model zoo read the data path from its src/ghostnet_d.yml; here it is DATASET_PATH or the recipe's data_path
# (CONFIG, default configs/ghostnet_d_101_imagenet.yaml). Output and log: ./train_standalone/ (ckpt/, log).
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../common.sh"

usage() {
  echo "Usage: bash $0 [DATASET_PATH](optional) [-- extra train.py options]" >&2
  exit 1
}
split_args "$@"
[ ${#POSITIONAL[@]} -le 1 ] || usage
CONFIG_PATH=$(existing_file "${CONFIG:-$REPO_ROOT/configs/ghostnet_d_101_imagenet.yaml}" CONFIG)
ARGS=(--config "$CONFIG_PATH" --device_id "${DEVICE_ID:-0}")
if [ ${#POSITIONAL[@]} -eq 1 ]; then
  ARGS+=(--data_path "$(existing_dir "${POSITIONAL[0]}" DATASET_PATH)")
fi
run_training train_standalone "${ARGS[@]}" ${EXTRA[@]+"${EXTRA[@]}"}
