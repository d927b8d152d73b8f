#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# The MobileNetV1 model zoo's scripts/run_eval_CPU.sh: bash run_eval_CPU.sh [cifar10|imagenet2012] [DATASET_PATH]
# [CHECKPOINT_PATH] [-- eval.py options]. The shared scripts/run_eval.sh on the CPU; log ./eval/log.
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/_family.sh"
split() { [ "$#" -ge 3 ] && [ "$3" != "--" ]; }
if ! split "$@"; then
  echo "Usage: bash $0 [cifar10|imagenet2012] [DATASET_PATH] [CHECKPOINT_PATH] [-- extra eval.py options]" >&2
  exit 1
fi
CONFIG=$(mobilenet_config "$1") || exit 1
export CONFIG
DATASET="$1" DATA="$2" CKPT="$3"
shift 3
[ "${1:-}" = "--" ] && shift
exec bash "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../run_eval.sh" "$DATASET" "$DATA" "$CKPT" -- --device_target CPU "$@"
