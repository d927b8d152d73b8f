#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# Distributed training on the GPUs of this machine with mpirun (Open MPI; NCCL collectives), as the model zoo did.
# Usage: bash scripts/run_distribute_train_gpu.sh [cifar10|imagenet2012] [CONFIG_PATH] [DATASET_PATH]
#        [PRETRAINED_CKPT_PATH](optional) [-- extra train.py options]
# Environment: DEVICE_NUM (processes, one per GPU; default: the GPUs nvidia-smi lists), DRY_RUN=1 (print the
#              mpirun command only). run_distribute_train_msrun.sh runs on GPUs too, without Open MPI.
# Output: ./train_parallel_gpu/ (rank 0's ckpt/ and config.yaml, train_rank<N>.log per rank, mpirun's output in
#         log and log_output/). mpirun stops every rank when one fails, and this script exits non-zero.
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/common.sh"

usage() {
  echo "Usage: bash $0 [cifar10|imagenet2012] [CONFIG_PATH] [DATASET_PATH] [PRETRAINED_CKPT_PATH](optional) [-- extra train.py options]" >&2
  exit 1
}
split_args "$@"
[ ${#POSITIONAL[@]} -ge 3 ] && [ ${#POSITIONAL[@]} -le 4 ] || usage
case "${POSITIONAL[0]}" in
  cifar10|imagenet2012) ;;
  *) die "unknown data set '${POSITIONAL[0]}'; expected cifar10 or imagenet2012" ;;
esac
CONFIG_PATH=$(existing_file "${POSITIONAL[1]}" CONFIG_PATH)
DATASET_PATH=$(existing_dir "${POSITIONAL[2]}" DATASET_PATH)
PRETRAINED=$(optional_file "${POSITIONAL[3]:-}" PRETRAINED_CKPT_PATH)
DATASET=imagenet
[ "${POSITIONAL[0]}" = cifar10 ] && DATASET=cifar10
if [ -z "${DEVICE_NUM:-}" ]; then
  command -v nvidia-smi > /dev/null 2>&1 || die "cannot count the GPUs (no nvidia-smi): set DEVICE_NUM"
  DEVICE_NUM=$(nvidia-smi -L | grep -c '^GPU' || true)
fi
require_count "$DEVICE_NUM" "DEVICE_NUM"
WORK_DIR="$(pwd)/train_parallel_gpu"
ARGS=(--config "$CONFIG_PATH" --dataset "$DATASET" --data_path "$DATASET_PATH" --device_target GPU --distribute true)
[ -n "$PRETRAINED" ] && ARGS+=(--pretrained_ckpt "$PRETRAINED")
CMD=(mpirun -n "$DEVICE_NUM" --output-filename "$WORK_DIR/log_output" --merge-stderr-to-stdout)
[ "$(id -u)" = 0 ] && CMD+=(--allow-run-as-root)
CMD+=("$PYTHON" "$REPO_ROOT/train.py" "${ARGS[@]}" --output_dir "$WORK_DIR" ${EXTRA[@]+"${EXTRA[@]}"})
if [ -n "${DRY_RUN:-}" ]; then
  show_command "${CMD[@]}"
  exit 0
fi
require_command mpirun "install Open MPI 4.x, or use scripts/run_distribute_train_msrun.sh"
mkdir -p "$WORK_DIR"
run_logged "$WORK_DIR/log" "${CMD[@]}"
