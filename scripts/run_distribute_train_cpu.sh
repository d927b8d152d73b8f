#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# Data-parallel training on the CPU: WORKER_NUM processes under msrun (MindSpore's CPU collectives).
# Usage: bash scripts/run_distribute_train_cpu.sh [cifar10|imagenet2012] [WORKER_NUM] [DATASET_PATH]
#        [PRETRAINED_CKPT_PATH](optional) [-- extra train.py options]
# Environment: CONFIG overrides the recipe chosen by the data-set name; MASTER_PORT (default 8118), CLUSTER_TIME_OUT,
#              NODE_TIMEOUT, DRY_RUN=1, as in run_distribute_train_msrun.sh.
# Output: ./train_distribute_cpu/ (rank 0's ckpt/ and config.yaml, train_rank<N>.log per rank, msrun_log/, log).
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/common.sh"

usage() {
  echo "Usage: bash $0 [cifar10|imagenet2012] [WORKER_NUM] [DATASET_PATH] [PRETRAINED_CKPT_PATH](optional) [-- extra train.py options]" >&2
  exit 1
}
split_args "$@"
[ ${#POSITIONAL[@]} -ge 3 ] && [ ${#POSITIONAL[@]} -le 4 ] || usage
CONFIG_PATH=$(config_for_dataset "${POSITIONAL[0]}")
DATASET_PATH=$(existing_dir "${POSITIONAL[2]}" DATASET_PATH)
PRETRAINED=$(optional_file "${POSITIONAL[3]:-}" PRETRAINED_CKPT_PATH)
ARGS=(--config "$CONFIG_PATH" --data_path "$DATASET_PATH" --device_target CPU --distribute true)
[ -n "$PRETRAINED" ] && ARGS+=(--pretrained_ckpt "$PRETRAINED")
run_msrun_training "${POSITIONAL[1]}" train_distribute_cpu "${ARGS[@]}" ${EXTRA[@]+"${EXTRA[@]}"}
