#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# Distributed training on Ascend with an HCCL rank table: one train.py per device of this server.
# Usage (the model zoo's three forms):
#   bash scripts/run_distribute_train.sh [RANK_TABLE_FILE] [DATASET_PATH] [PRETRAINED_CKPT_PATH](optional)
#   bash scripts/run_distribute_train.sh [cifar10|imagenet2012] [RANK_TABLE_FILE] [DATASET_PATH]
#        [PRETRAINED_CKPT_PATH](optional)
#   bash scripts/run_distribute_train.sh [RANK_TABLE_FILE] [DATASET_PATH] [MLP] [EXTRA] [PRETRAINED_CKPT_PATH](optional)
#   (GENet-Res50: MLP/EXTRA True|False pick GE-theta-minus, -theta or -theta-plus)
#   Extra train.py options follow a "--".
# The device count comes from the table (write one with python -m src.tools.rank_table write ...). For a table
# over several servers, run this on each server; SERVER_ID (the table's server_id or its index) says which one
# this is when its addresses do not.
# Environment: CONFIG (recipe; default configs/ghostnet_100_imagenet.yaml or by data-set name / GENet flags),
#              SERVER_ID, DRY_RUN=1 (print each rank's environment and command, start nothing).
# Output: ./train_parallel<RANK_ID>/ per rank: `log` (the rank's output) and train_rank<RANK_ID>.log; rank 0's
#         folder also holds ckpt/ and config.yaml. When a rank fails, the others are stopped and the script exits 1.
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/common.sh"

usage() {
  echo "Usage: bash $0 [RANK_TABLE_FILE] [DATASET_PATH] [PRETRAINED_CKPT_PATH](optional) [-- extra train.py options]" >&2
  echo "       bash $0 [cifar10|imagenet2012] [RANK_TABLE_FILE] [DATASET_PATH] [PRETRAINED_CKPT_PATH](optional)" >&2
  echo "       bash $0 [RANK_TABLE_FILE] [DATASET_PATH] [MLP] [EXTRA] [PRETRAINED_CKPT_PATH](optional)   (GENet)" >&2
  exit 1
}
split_args "$@"
N=${#POSITIONAL[@]}
case "${POSITIONAL[0]:-}" in
  cifar10|imagenet2012)
    [ "$N" -ge 3 ] && [ "$N" -le 4 ] || usage
    CONFIG_PATH=$(config_for_dataset "${POSITIONAL[0]}")
    TABLE="${POSITIONAL[1]}"; DATASET_PATH="${POSITIONAL[2]}"; PRETRAINED="${POSITIONAL[3]:-}"
    ;;
  *)
    [ "$N" -ge 2 ] && [ "$N" -le 5 ] || usage
    TABLE="${POSITIONAL[0]}"; DATASET_PATH="${POSITIONAL[1]}"
    if [ "$N" -ge 4 ] && is_bool "${POSITIONAL[2]}" && is_bool "${POSITIONAL[3]}"; then
      CONFIG_PATH=$(config_for_genet "${POSITIONAL[2]}" "${POSITIONAL[3]}")
      PRETRAINED="${POSITIONAL[4]:-}"
    else
      [ "$N" -le 3 ] || usage
      CONFIG_PATH=$(existing_file "${CONFIG:-$REPO_ROOT/configs/ghostnet_100_imagenet.yaml}" CONFIG)
      PRETRAINED="${POSITIONAL[2]:-}"
    fi
    ;;
esac
TABLE=$(existing_file "$TABLE" RANK_TABLE_FILE)
DATASET_PATH=$(existing_dir "$DATASET_PATH" DATASET_PATH)
PRETRAINED=$(optional_file "$PRETRAINED" PRETRAINED_CKPT_PATH)
# The table must parse and name this server; its size is RANK_SIZE.
PLAN=$(cd "$REPO_ROOT" && "$PYTHON" -m src.tools.rank_table plan "$TABLE" --server "${SERVER_ID:-}") || exit 1
RANK_SIZE="${PLAN%%$'\n'*}"
RANK_SIZE="${RANK_SIZE#RANK_SIZE=}"
ARGS=(--config "$CONFIG_PATH" --data_path "$DATASET_PATH" --device_target Ascend)
[ -n "$PRETRAINED" ] && ARGS+=(--pretrained_ckpt "$PRETRAINED")
# Ctrl-C or a TERM stops every rank (background processes of a script ignore Ctrl-C themselves).
trap 'echo "interrupted" >&2; stop_ranks; exit 130' INT TERM
while read -r RANK DEVICE; do
  WORK_DIR="$(pwd)/train_parallel$RANK"
  ENV=(DEVICE_ID="$DEVICE" RANK_ID="$RANK" RANK_SIZE="$RANK_SIZE" RANK_TABLE_FILE="$TABLE")
  CMD=("$PYTHON" "$REPO_ROOT/train.py" "${ARGS[@]}" --output_dir "$WORK_DIR" ${EXTRA[@]+"${EXTRA[@]}"})
  if [ -n "${DRY_RUN:-}" ]; then
    show_command env "${ENV[@]}" "${CMD[@]}"
    continue
  fi
  start_rank "$RANK" "$WORK_DIR/log" "$WORK_DIR" "${ENV[@]}" -- "${CMD[@]}"
  echo "rank $RANK on device $DEVICE: pid ${PIDS[-1]}, log $WORK_DIR/log"
done < <(echo "$PLAN" | tail -n +2)
[ -n "${DRY_RUN:-}" ] && exit 0
watch_ranks
echo "all ${#RANK_OF[@]} ranks of this server finished; checkpoints in ./train_parallel0/ckpt (on rank 0's server)"
