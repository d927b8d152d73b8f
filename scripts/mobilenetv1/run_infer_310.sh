#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# The MobileNetV1 model zoo's scripts/run_infer_310.sh: bash run_infer_310.sh [MINDIR_PATH] [DATASET_PATH]
# [DEVICE_ID](optional) — DATASET_PATH an image folder or CIFAR-10's cifar-10-verify-bin. The shared
# scripts/run_infer_310.sh, with acc.log written as the MobileNetV1 model zoo did ('top1 acc': ..., 'top5 acc': ...).
export ACC_STYLE="${ACC_STYLE:-mobilenetv1}"
exec bash "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../run_infer_310.sh" "$@"
