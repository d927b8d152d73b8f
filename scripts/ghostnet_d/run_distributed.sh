#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# The GhostNet-D model zoo's scripts/run_distributed.sh: ghostnet_d_101 on the devices of an HCCL rank table.
# Usage: bash run_distributed.sh [RANK_TABLE_FILE] [DATASET_PATH] [PRETRAINED_CKPT_PATH](optional)
#        [-- train.py options]
# The model zoo read the data path from its src/ghostnet_d.yml; here it is an argument. The shared
# scripts/run_distribute_train.sh with configs/ghostnet_d_101_imagenet.yaml (unless CONFIG is set) does the rest
# (./train_parallel<RANK_ID>/ per rank).
export CONFIG="${CONFIG:-$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)/configs/ghostnet_d_101_imagenet.yaml}"
exec bash "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../run_distribute_train.sh" "$@"
