#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# The GENet_Res50 model zoo's scripts/run_eval.sh.
# Usage: bash run_eval.sh [DATASET_PATH] [CHECKPOINT_PATH] [MLP] [EXTRA] [DEVICE_ID] [-- eval.py options]
#        bash run_eval.sh [Ascend|GPU|CPU] [DATASET_PATH] [CHECKPOINT_PATH] [MLP] [EXTRA] [DEVICE_ID]  (the seed's
#        example puts the device target first)
# MLP / EXTRA name the variant; a checkpoint of another one is refused. Log: ./eval/log.
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../common.sh"

usage() {
  echo "Usage: bash $0 [DATASET_PATH] [CHECKPOINT_PATH] [MLP] [EXTRA] [DEVICE_ID] [-- extra eval.py options]" >&2
  echo "       bash $0 [Ascend|GPU|CPU] [DATASET_PATH] [CHECKPOINT_PATH] [MLP] [EXTRA] [DEVICE_ID]" >&2
  exit 1
}
split_args "$@"
TARGET=()
case "${POSITIONAL[0]:-}" in
  Ascend|GPU|CPU) TARGET=(--device_target "${POSITIONAL[0]}"); POSITIONAL=("${POSITIONAL[@]:1}") ;;
esac
[ ${#POSITIONAL[@]} -eq 5 ] || usage
DATASET_PATH=$(existing_dir "${POSITIONAL[0]}" DATASET_PATH)
CHECKPOINT_PATH=$(existing_file "${POSITIONAL[1]}" CHECKPOINT_PATH)
CONFIG_PATH=$(config_for_genet "${POSITIONAL[2]}" "${POSITIONAL[3]}")
[[ "${POSITIONAL[4]}" =~ ^[0-9]+$ ]] || die "DEVICE_ID is '${POSITIONAL[4]}'; expected a non-negative integer"
MODEL=$(genet_model "${POSITIONAL[2]}" "${POSITIONAL[3]}")
WORK_DIR="$(pwd)/eval"
mkdir -p "$WORK_DIR"
run_logged "$WORK_DIR/log" "$PYTHON" "$REPO_ROOT/eval.py" --config "$CONFIG_PATH" --model "$MODEL" \
  --data_path "$DATASET_PATH" --checkpoint_path "$CHECKPOINT_PATH" --device_id "${POSITIONAL[4]}" \
  ${TARGET[@]+"${TARGET[@]}"} ${EXTRA[@]+"${EXTRA[@]}"}
