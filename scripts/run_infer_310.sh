#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# Ascend 310 inference of a MINDIR over an image folder, then accuracy.
# Usage: bash scripts/run_infer_310.sh [MINDIR_PATH] [DATA_PATH] [DEVICE_ID](optional, default 0) [--reference]
#        [-- infer options, e.g. --image_size 224 --resize_size 256]
# Stages (each stops the script on failure and names its log, all in the current directory):
#   build (build.log: ascend310_infer/build.sh), infer (infer.log: result_Files/, time_Result/),
#   label json (label.log: imagenet_label.json), postprocess (acc.log).
# Without an Ascend 310 toolchain the C++ harness does not build; --reference runs the Python reference runner
# (python -m src.tools.infer_mindir: the same preprocessing and output files) instead.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
  echo "Usage: bash $0 [MINDIR_PATH] [DATA_PATH] [DEVICE_ID](optional) [--reference] [-- infer options]" >&2
  exit 1
}
REFERENCE=0
ARGS_IN=()
for arg in "$@"; do
  if [ "$arg" = "--reference" ]; then REFERENCE=1; else ARGS_IN+=("$arg"); fi
done
split_args ${ARGS_IN[@]+"${ARGS_IN[@]}"}
[ ${#POSITIONAL[@]} -ge 2 ] && [ ${#POSITIONAL[@]} -le 3 ] || usage
MINDIR_PATH=$(existing_file "${POSITIONAL[0]}" MINDIR_PATH)
DATA_PATH=$(existing_dir "${POSITIONAL[1]}" DATA_PATH)
DEVICE_ID="${POSITIONAL[2]:-0}"
[[ "$DEVICE_ID" =~ ^[0-9]+$ ]] || die "DEVICE_ID must be a non-negative integer, got '$DEVICE_ID'"
WORK_DIR="$(pwd)"

stage() {  # stage NAME LOG COMMAND...: run, log, stop with the log named on failure
  local name="$1" log="$2"
  shift 2
  echo "== $name (log: $WORK_DIR/$log)"
  if ! "$@" > "$WORK_DIR/$log" 2>&1; then
    tail -n 5 "$WORK_DIR/$log" >&2 || true
    die "$name failed; see $WORK_DIR/$log"
  fi
}

rm -rf "$WORK_DIR/result_Files" "$WORK_DIR/time_Result"
if [ "$REFERENCE" = 1 ]; then
  echo "using the Python reference runner (--reference)"
  stage "infer" infer.log env PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m src.tools.infer_mindir --model_path "$MINDIR_PATH" --dataset_path "$DATA_PATH" \
    --output_dir "$WORK_DIR" ${EXTRA[@]+"${EXTRA[@]}"}
else
  stage "build" build.log bash "$REPO_ROOT/ascend310_infer/build.sh"
  echo "using the C++ harness ascend310_infer/out/main"
  stage "infer" infer.log "$REPO_ROOT/ascend310_infer/out/main" --mindir_path="$MINDIR_PATH" \
    --dataset_path="$DATA_PATH" --device_id="$DEVICE_ID" --output_dir="$WORK_DIR" ${EXTRA[@]+"${EXTRA[@]}"}
fi
stage "label json" label.log "$PYTHON" "$REPO_ROOT/create_imagenet2012_label.py" --img_path "$DATA_PATH" \
  --output "$WORK_DIR/imagenet_label.json"
stage "postprocess" acc.log "$PYTHON" "$REPO_ROOT/postprocess.py" --result_path "$WORK_DIR/result_Files" \
  --label_path "$WORK_DIR/imagenet_label.json"
cat "$WORK_DIR/acc.log"
