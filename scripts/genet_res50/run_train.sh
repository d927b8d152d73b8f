#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# The GENet_Res50 model zoo's scripts/run_train.sh: one device.
# Usage: bash run_train.sh [DATASET_PATH] [MLP] [EXTRA] [DEVICE_ID] [PRETRAINED_CKPT_PATH](optional)
#        [-- train.py options]
# MLP / EXTRA (True|False): False False GE-theta-minus, False True GE-theta, True True GE-theta-plus.
# Environment: CONFIG overrides the recipe the flags pick. Output and log: ./train_standalone/ (ckpt/, log).
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../common.sh"

usage() {
  echo "Usage: bash $0 [DATASET_PATH] [MLP] [EXTRA] [DEVICE_ID] [PRETRAINED_CKPT_PATH](optional) [-- extra train.py options]" >&2
  exit 1
}
split_args "$@"
[ ${#POSITIONAL[@]} -ge 4 ] && [ ${#POSITIONAL[@]} -le 5 ] || usage
DATASET_PATH=$(existing_dir "${POSITIONAL[0]}" DATASET_PATH)
CONFIG_PATH=$(config_for_genet "${POSITIONAL[1]}" "${POSITIONAL[2]}")
[[ "${POSITIONAL[3]}" =~ ^[0-9]+$ ]] || die "DEVICE_ID is '${POSITIONAL[3]}'; expected a non-negative integer"
PRETRAINED=$(optional_file "${POSITIONAL[4]:-}" PRETRAINED_CKPT_PATH)
ARGS=(--config "$CONFIG_PATH" --data_path "$DATASET_PATH" --device_id "${POSITIONAL[3]}")
[ -n "$PRETRAINED" ] && ARGS+=(--pretrained_ckpt "$PRETRAINED")
run_training train_standalone "${ARGS[@]}" ${EXTRA[@]+"${EXTRA[@]}"}
