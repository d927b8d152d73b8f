# Shared helpers for the launch scripts (sourced, not run).
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python}"

die() {
  echo "error: $*" >&2
  exit 1
}

# Absolute form of a path that may not exist yet.
abs_path() {
  case "$1" in
    /*) echo "$1" ;;
    *) echo "$(pwd)/$1" ;;
  esac
}

require_dir() {
  [ -d "$1" ] || die "$2 '$1' is not a directory"
}

require_file() {
  [ -f "$1" ] || die "$2 '$1' does not exist"
}

# Set CONFIG_PATH to the recipe for a data-set name of the model zoo's scripts (cifar10 | imagenet2012),
# unless CONFIG is set.
config_for_dataset() {
  case "$1" in
    cifar10) CONFIG_PATH="${CONFIG:-$REPO_ROOT/configs/ghostnet_100_cifar10.yaml}" ;;
    imagenet2012) CONFIG_PATH="${CONFIG:-$REPO_ROOT/configs/ghostnet_100_imagenet.yaml}" ;;
    *) die "unknown data set '$1'; expected cifar10 or imagenet2012" ;;
  esac
  CONFIG_PATH=$(abs_path "$CONFIG_PATH")
}

# Split "$@" at "--": positional arguments go to POSITIONAL, the rest (extra train.py/eval.py options) to EXTRA.
split_args() {
  POSITIONAL=()
  EXTRA=()
  local seen=0
  for arg in "$@"; do
    if [ "$seen" = 0 ] && [ "$arg" = "--" ]; then
      seen=1
    elif [ "$seen" = 0 ]; then
      POSITIONAL+=("$arg")
    else
      EXTRA+=("$arg")
    fi
  done
}

# Run a command with its output both on the terminal and in LOG; return the command's status.
run_logged() {
  local log="$1"
  shift
  echo "log: $log"
  set +e
  "$@" 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  set -e
  return "$status"
}

# Run train.py with ARGS (an array set by the caller), an optional pretrained checkpoint ($1, may be empty) and the
# EXTRA options, writing checkpoints and the log into ./$2 of the current directory.
run_training() {
  local pretrained="$1" work_dir
  work_dir="$(pwd)/$2"
  if [ -n "$pretrained" ]; then
    pretrained=$(abs_path "$pretrained")
    require_file "$pretrained" "PRETRAINED_CKPT_PATH"
    ARGS+=(--pretrained_ckpt "$pretrained")
  fi
  mkdir -p "$work_dir"
  ARGS+=(--output_dir "$work_dir")
  run_logged "$work_dir/log" "$PYTHON" "$REPO_ROOT/train.py" "${ARGS[@]}" ${EXTRA[@]+"${EXTRA[@]}"}
}
