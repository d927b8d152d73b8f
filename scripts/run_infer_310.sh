#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# Ascend 310 inference of a MINDIR over an image folder or CIFAR-10's test batch, then accuracy.
# Usage: bash scripts/run_infer_310.sh [MINDIR_PATH] [DATA_PATH] [DEVICE_ID](optional, default 0) [--reference]
#        [-- infer options, e.g. --image_size 224 --resize_size 256]
# The preprocessing (crop, resize, mean, std) comes from the model record inside the MINDIR (export.py writes it);
# infer options override it. DATA_PATH holds class folders of images, or CIFAR-10 binary batches (test_batch.bin,
# e.g. cifar-10-verify-bin), which are first written as preprocessed tensors (python -m src.tools.cifar_to_tensors).
# Stages (each stops the script on failure and names its log, all in the current directory):
#   build (build.log: ascend310_infer/build.sh), [tensors (tensors.log: cifar_inputs/)], infer (infer.log:
#   result_Files/, time_Result/), label json (label.log: imagenet_label.json or cifar_label.json), postprocess
#   (acc.log).
# Environment: ACC_STYLE=mobilenetv1 writes acc.log as the MobileNetV1 model zoo did ('top1 acc': ...); the default
#   is GhostNet's `Total data: N, top1 accuracy: a, top5 accuracy: b.`
# Without an Ascend 310 toolchain the C++ harness does not build; --reference runs the Python reference runner
# (python -m src.tools.infer_mindir: the same preprocessing and output files) instead.
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/common.sh"

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
case "${ACC_STYLE:-ghostnet}" in ghostnet|mobilenetv1) ;; *) die "ACC_STYLE is '$ACC_STYLE'; expected ghostnet or mobilenetv1" ;; esac
WORK_DIR="$(pwd)"
PY=(env PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON")

stage() {  # stage NAME LOG COMMAND...: run, log, stop with the log named on failure
  local name="$1" log="$2"
  shift 2
  echo "== $name (log: $WORK_DIR/$log)"
  if ! "$@" > "$WORK_DIR/$log" 2>&1; then
    tail -n 5 "$WORK_DIR/$log" >&2 || true
    die "$name failed; see $WORK_DIR/$log"
  fi
}

# The preprocessing recorded in the MINDIR, as the harness's flags (the infer options after them win).
read -r -a RECORDED < <("${PY[@]}" -m src.tools.model_record "$MINDIR_PATH" --harness_args) \
  || die "cannot read the model record of '$MINDIR_PATH'"
[ ${#RECORDED[@]} -gt 0 ] || die "cannot read the model record of '$MINDIR_PATH'"
if [ "$REFERENCE" = 0 ]; then
  stage "build" build.log bash "$REPO_ROOT/ascend310_infer/build.sh"
fi
# A previous run's results go only now that the build worked (a failed build keeps them, and its acc.log, intact);
# its acc.log goes with them, so that a later failure cannot leave an accuracy that no longer matches the results.
rm -rf "$WORK_DIR/result_Files" "$WORK_DIR/time_Result" "$WORK_DIR/acc.log"
if [ -f "$DATA_PATH/test_batch.bin" ] || [ -f "$DATA_PATH/cifar-10-batches-bin/test_batch.bin" ]; then
  INPUTS="$WORK_DIR/cifar_inputs"
  LABELS="$WORK_DIR/cifar_label.json"
  FORMAT=tensor
  rm -rf "$INPUTS"
  stage "tensors" tensors.log "${PY[@]}" -m src.tools.cifar_to_tensors --data_path "$DATA_PATH" \
    --output_dir "$INPUTS" --model_path "$MINDIR_PATH" --label_file "$LABELS"
else
  INPUTS="$DATA_PATH"
  LABELS="$WORK_DIR/imagenet_label.json"
  FORMAT=image
fi
if [ "$REFERENCE" = 1 ]; then
  echo "using the Python reference runner (--reference)"
  stage "infer" infer.log "${PY[@]}" -m src.tools.infer_mindir --model_path "$MINDIR_PATH" --dataset_path "$INPUTS" \
    --output_dir "$WORK_DIR" --input_format "$FORMAT" ${EXTRA[@]+"${EXTRA[@]}"}
else
  echo "using the C++ harness ascend310_infer/out/main"
  stage "infer" infer.log "$REPO_ROOT/ascend310_infer/out/main" --mindir_path="$MINDIR_PATH" \
    --dataset_path="$INPUTS" --device_id="$DEVICE_ID" --output_dir="$WORK_DIR" --input_format="$FORMAT" \
    "${RECORDED[@]}" ${EXTRA[@]+"${EXTRA[@]}"}
fi
if [ "$FORMAT" = image ]; then
  stage "label json" label.log "$PYTHON" "$REPO_ROOT/create_imagenet2012_label.py" --img_path "$DATA_PATH" \
    --output "$LABELS"
fi
stage "postprocess" acc.log "$PYTHON" "$REPO_ROOT/postprocess.py" --result_path "$WORK_DIR/result_Files" \
  --label_path "$LABELS" --style "${ACC_STYLE:-ghostnet}"
cat "$WORK_DIR/acc.log"
