#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# The GENet_Res50 model zoo's scripts/run_distribute_train.sh:
#   bash run_distribute_train.sh [RANK_TABLE_FILE] [DATASET_PATH] [MLP] [EXTRA] [PRETRAINED_CKPT_PATH](optional)
# MLP / EXTRA (True|False) pick GE-theta-minus, -theta or -theta-plus; the shared scripts/run_distribute_train.sh
# does the rest (one train.py per device of the table, ./train_parallel<RANK_ID>/).
exec bash "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../run_distribute_train.sh" "$@"
