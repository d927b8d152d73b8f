#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# Distributed training under msrun (MindSpore's launcher; Ascend, GPU or CPU, whichever MindSpore is installed for).
# Usage: bash scripts/run_distribute_train_msrun.sh [WORKER_NUM] [DATASET_PATH] [PRETRAINED_CKPT_PATH](optional)
#        [-- extra train.py options]
# Environment: CONFIG (recipe, default configs/ghostnet_100_imagenet.yaml), BIND_CORE (True binds each worker to
#              its cores), CLUSTER_TIME_OUT (seconds to wait for all workers, default 600), NODE_TIMEOUT (seconds
#              before a silent worker is given up, MindSpore's default 30), DRY_RUN=1 (print the msrun command only).
# Across machines: run it on every machine with the same WORKER_NUM (the total), LOCAL_WORKER_NUM (workers on
# this machine), MASTER_ADDR and MASTER_PORT (the NODE_RANK 0 machine's address and a free port) and
# NODE_RANK=0, 1, ...
# Output: ./train_distribute/ (rank 0's ckpt/ and config.yaml, train_rank<N>.log per rank, msrun_log/, log).
# When a worker fails, msrun stops the others and this script exits non-zero.
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/common.sh"

usage() {
  echo "Usage: bash $0 [WORKER_NUM] [DATASET_PATH] [PRETRAINED_CKPT_PATH](optional) [-- extra train.py options]" >&2
  echo "       LOCAL_WORKER_NUM, MASTER_ADDR, MASTER_PORT, NODE_RANK: for a job across machines" >&2
  exit 1
}
split_args "$@"
[ ${#POSITIONAL[@]} -ge 2 ] && [ ${#POSITIONAL[@]} -le 3 ] || usage
CONFIG_PATH=$(existing_file "${CONFIG:-$REPO_ROOT/configs/ghostnet_100_imagenet.yaml}" CONFIG)
DATASET_PATH=$(existing_dir "${POSITIONAL[1]}" DATASET_PATH)
PRETRAINED=$(optional_file "${POSITIONAL[2]:-}" PRETRAINED_CKPT_PATH)
ARGS=(--config "$CONFIG_PATH" --data_path "$DATASET_PATH" --distribute true)
[ -n "$PRETRAINED" ] && ARGS+=(--pretrained_ckpt "$PRETRAINED")
run_msrun_training "${POSITIONAL[0]}" train_distribute "${ARGS[@]}" ${EXTRA[@]+"${EXTRA[@]}"}
