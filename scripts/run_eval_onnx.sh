#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# Score an ONNX file over an image folder with onnxruntime (same preprocessing and result line as eval.py).
# Usage: bash scripts/run_eval_onnx.sh [ONNX_PATH] [DATASET_PATH] [DEVICE_TARGET](CPU|GPU, default CPU)
#        [-- eval_onnx.py options]
# Environment: CONFIG (recipe giving the eval preprocessing; default configs/ghostnet_100_imagenet.yaml).
# Log: ./eval_onnx/log.
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/common.sh"

usage() {
  echo "Usage: bash $0 [ONNX_PATH] [DATASET_PATH] [DEVICE_TARGET](optional: CPU|GPU) [-- extra eval_onnx.py options]" >&2
  exit 1
}
split_args "$@"
[ ${#POSITIONAL[@]} -ge 2 ] && [ ${#POSITIONAL[@]} -le 3 ] || usage
ONNX_PATH=$(existing_file "${POSITIONAL[0]}" ONNX_PATH)
DATASET_PATH=$(existing_dir "${POSITIONAL[1]}" DATASET_PATH)
DEVICE_TARGET="${POSITIONAL[2]:-CPU}"
case "$DEVICE_TARGET" in CPU|GPU) ;; *) die "unknown DEVICE_TARGET '$DEVICE_TARGET'; expected CPU or GPU" ;; esac
CONFIG_PATH=$(existing_file "${CONFIG:-$REPO_ROOT/configs/ghostnet_100_imagenet.yaml}" CONFIG)
WORK_DIR="$(pwd)/eval_onnx"
mkdir -p "$WORK_DIR"
run_logged "$WORK_DIR/log" "$PYTHON" "$REPO_ROOT/eval_onnx.py" --onnx_path "$ONNX_PATH" --data_path "$DATASET_PATH" \
  --config "$CONFIG_PATH" --device_target "$DEVICE_TARGET" ${EXTRA[@]+"${EXTRA[@]}"}
