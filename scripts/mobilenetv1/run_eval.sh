#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# The MobileNetV1 model zoo's scripts/run_eval.sh: bash run_eval.sh [cifar10|imagenet2012] [DATASET_PATH] [CHECKPOINT_PATH] [DEVICE_ID]
# The shared scripts/run_eval.sh with the MobileNetV1 recipe of the data set (configs/mobilenet_v1_100_<cifar10|imagenet>.yaml
# unless CONFIG is set).
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/_family.sh"
[ $# -ge 1 ] || exec bash "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../run_eval.sh"  # prints the usage
CONFIG=$(mobilenet_config "$1") || exit 1
export CONFIG
exec bash "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../run_eval.sh" "$@"
