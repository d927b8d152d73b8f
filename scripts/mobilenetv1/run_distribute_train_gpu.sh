#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# The MobileNetV1 model zoo's scripts/run_distribute_train_gpu.sh (mpirun over the GPUs):
#   bash run_distribute_train_gpu.sh [cifar10|imagenet2012] [CONFIG_PATH] [DATASET_PATH] [PRETRAINED_CKPT_PATH](optional)
# The shared scripts/run_distribute_train_gpu.sh; CONFIG_PATH is a recipe (e.g.
# configs/mobilenet_v1_100_imagenet.yaml). Output: ./train_parallel_gpu/.
exec bash "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../run_distribute_train_gpu.sh" "$@"
