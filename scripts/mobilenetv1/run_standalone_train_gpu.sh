#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# The MobileNetV1 model zoo's scripts/run_standalone_train_gpu.sh: one GPU.
# Usage: bash run_standalone_train_gpu.sh [cifar10|imagenet2012] [DATASET_PATH] [PRETRAINED_CKPT_PATH](optional)
#        [-- train.py options]
# Environment: CONFIG overrides the recipe, DEVICE_ID (default 0). Output and log: ./train_gpu/ (ckpt/, log).
# run_standalone_train.sh does the work, with --device_target GPU.
_MOBILENET_TARGET=GPU _MOBILENET_SCRIPT="$0" exec bash "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/run_standalone_train.sh" "$@"
