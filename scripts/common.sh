# Shared helpers for the launch scripts (sourced, not run).
# shellcheck shell=bash
#
# Functions take their inputs as arguments and print their results (VAR=$(fn ...)); under `set -e` a failing
# check stops the script with its message. The exceptions are bash's own limits: split_args fills the arrays
# POSITIONAL and EXTRA (bash functions cannot return arrays), and the rank launcher keeps its process table
# (PIDS, RANK_OF, LOG_OF) to itself: start_rank adds to it, watch_ranks and stop_ranks read it.

REPO_ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
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

# existing_dir PATH NAME / existing_file PATH NAME: the absolute path, or die naming NAME.
existing_dir() {
  [ -d "$1" ] || die "$2 '$1' is not a directory"
  abs_path "$1"
}

existing_file() {
  [ -f "$1" ] || die "$2 '$1' does not exist"
  abs_path "$1"
}

# The recipe for a data-set name of the model zoo's scripts (cifar10 | imagenet2012) of a family (default
# ghostnet): $CONFIG when set, else configs/<family's model>_<cifar10|imagenet>.yaml.
config_for_dataset() {
  local dataset="$1" model="${2:-ghostnet_100}"
  case "$dataset" in
    cifar10) existing_file "${CONFIG:-$REPO_ROOT/configs/${model}_cifar10.yaml}" CONFIG ;;
    imagenet2012) existing_file "${CONFIG:-$REPO_ROOT/configs/${model}_imagenet.yaml}" CONFIG ;;
    *) die "unknown data set '$dataset'; expected cifar10 or imagenet2012" ;;
  esac
}

# The GENet-Res50 variant of the model zoo's [MLP] [EXTRA] flags.
genet_model() {
  local mlp extra
  mlp=$(echo "$1" | tr '[:upper:]' '[:lower:]')
  extra=$(echo "$2" | tr '[:upper:]' '[:lower:]')
  case "$mlp/$extra" in
    false/false) echo genet_res50_theta_minus ;;
    false/true) echo genet_res50_theta ;;
    true/true) echo genet_res50_theta_plus ;;
    true/false) die "MLP True needs EXTRA True (GE-theta-plus); GE-theta-minus (EXTRA False) has no MLP" ;;
    *) die "MLP and EXTRA are '$1' and '$2'; expected True or False" ;;
  esac
}

# The GENet recipe for the model zoo's [MLP] [EXTRA] flags ($CONFIG when set).
config_for_genet() {
  local model
  model=$(genet_model "$1" "$2")
  existing_file "${CONFIG:-$REPO_ROOT/configs/${model}_imagenet.yaml}" CONFIG
}

is_bool() {
  case "$1" in True|False|true|false) return 0 ;; *) return 1 ;; esac
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

# run_training DIR ARG...: train.py with ARGs, checkpoints and the log in ./DIR of the current directory (an
# --output_dir among the ARGs wins).
run_training() {
  local work_dir
  work_dir="$(pwd)/$1"
  shift
  mkdir -p "$work_dir"
  run_logged "$work_dir/log" "$PYTHON" "$REPO_ROOT/train.py" --output_dir "$work_dir" "$@"
}

# A positive integer or die naming it.
require_count() {
  case "$1" in
    ''|*[!0-9]*|0) die "$2 is '$1'; expected a positive integer" ;;
  esac
}

require_command() {
  command -v "$1" > /dev/null 2>&1 || die "$1 not found on PATH: $2"
}

# Print a command, shell-quoted, on one line.
show_command() {
  printf '%q ' "$@"
  echo
}

# run_msrun_training WORKER_NUM DIR ARG...: train.py with ARGs under msrun, output in ./DIR.
# Environment: LOCAL_WORKER_NUM (default: all on this machine), MASTER_ADDR (127.0.0.1), MASTER_PORT (8118),
# NODE_RANK (needed when the workers span machines), CLUSTER_TIME_OUT (600 s), BIND_CORE (True: pin cores),
# NODE_TIMEOUT (seconds of silence after which msrun's scheduler gives a worker up; MindSpore's default is 30), DRY_RUN.
# msrun kills the other workers when one fails and exits non-zero.
run_msrun_training() {
  local workers="$1" work_dir local_workers node_rank
  work_dir="$(pwd)/$2"
  shift 2
  require_count "$workers" "WORKER_NUM"
  local_workers="${LOCAL_WORKER_NUM:-$workers}"
  require_count "$local_workers" "LOCAL_WORKER_NUM"
  [ "$local_workers" -le "$workers" ] || die "LOCAL_WORKER_NUM ($local_workers) exceeds WORKER_NUM ($workers)"
  node_rank="${NODE_RANK:-}"
  if [ "$local_workers" -lt "$workers" ]; then
    [ -n "$node_rank" ] || die "the $workers workers span machines ($local_workers here): set NODE_RANK (0 on the " \
      "machine at MASTER_ADDR, then 1, 2, ...) and the same MASTER_ADDR and MASTER_PORT on every machine"
    [ -n "${MASTER_ADDR:-}" ] || die "a job across machines needs MASTER_ADDR: the address of the NODE_RANK 0 machine"
  fi
  local cmd=(msrun --worker_num "$workers" --local_worker_num "$local_workers"
             --master_addr "${MASTER_ADDR:-127.0.0.1}" --master_port "${MASTER_PORT:-8118}"
             --log_dir "$work_dir/msrun_log" --join True --cluster_time_out "${CLUSTER_TIME_OUT:-600}")
  [ -n "${BIND_CORE:-}" ] && cmd+=(--bind_core "$BIND_CORE")
  [ -n "$node_rank" ] && cmd+=(--node_rank "$node_rank")
  cmd+=("$REPO_ROOT/train.py" --output_dir "$work_dir" "$@")
  if [ -n "${NODE_TIMEOUT:-}" ]; then
    require_count "$NODE_TIMEOUT" "NODE_TIMEOUT"
    export MS_NODE_TIMEOUT="$NODE_TIMEOUT"
  fi
  if [ -n "${DRY_RUN:-}" ]; then
    show_command "${cmd[@]}"
    return 0
  fi
  require_command msrun "it comes with MindSpore 2.3 and later (pip install -r requirements.txt)"
  mkdir -p "$work_dir"
  echo "per-rank logs: $work_dir/train_rank<N>.log, msrun's: $work_dir/msrun_log/worker_<N>.log"
  if ! run_logged "$work_dir/log" "${cmd[@]}"; then
    echo "error: the distributed job failed; the workers' errors:" >&2
    grep -h -E "error: |Error: " "$work_dir"/msrun_log/worker_*.log 2> /dev/null | sort -u | head -n 5 >&2 || true
    return 1
  fi
}

# optional_file PATH NAME: the absolute path of an optional file argument (nothing when PATH is empty).
optional_file() {
  [ -n "$1" ] || return 0
  existing_file "$1" "$2"
}

# --- the rank launcher's process table --------------------------------------------------------------------------
declare -A RANK_OF=() LOG_OF=()
PIDS=()

# start_rank RANK LOG WORK_DIR ENV... -- CMD...: run CMD with the environment ENV in WORK_DIR, output to LOG.
start_rank() {
  local rank="$1" log="$2" work_dir="$3"
  shift 3
  local env=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    env+=("$1")
    shift
  done
  shift
  mkdir -p "$work_dir"
  (cd "$work_dir" && exec env "${env[@]}" "$@") > "$log" 2>&1 &
  RANK_OF[$!]=$rank
  LOG_OF[$!]="$log"
  PIDS+=($!)
}

# Stop the ranks still running: TERM, then KILL after KILL_GRACE seconds (default 10).
stop_ranks() {
  [ ${#PIDS[@]} -gt 0 ] || return 0
  echo "stopping the ranks still running (pids ${PIDS[*]})" >&2
  kill -TERM "${PIDS[@]}" 2> /dev/null || true
  local waited=0
  while [ "$waited" -lt "${KILL_GRACE:-10}" ] && any_alive "${PIDS[@]}"; do
    sleep 1
    waited=$((waited + 1))
  done
  kill -KILL "${PIDS[@]}" 2> /dev/null || true
  wait "${PIDS[@]}" 2> /dev/null || true
  PIDS=()
}

any_alive() {
  local pid
  for pid in "$@"; do
    kill -0 "$pid" 2> /dev/null && return 0
  done
  return 1
}

# Wait for the started ranks; when one fails, stop the others and return non-zero instead of leaving them blocked
# in a collective. Polls, so that bash 4 (no `wait -n -p`) works.
watch_ranks() {
  local pid status running failed="" failed_pid=""
  while [ ${#PIDS[@]} -gt 0 ]; do
    running=()
    for pid in "${PIDS[@]}"; do
      if kill -0 "$pid" 2> /dev/null; then
        running+=("$pid")
        continue
      fi
      set +e
      wait "$pid"
      status=$?
      set -e
      if [ "$status" -ne 0 ] && [ -z "$failed" ]; then
        failed="rank ${RANK_OF[$pid]} (pid $pid) exited with status $status"
        failed_pid="$pid"
      elif [ "$status" -eq 0 ]; then
        echo "rank ${RANK_OF[$pid]} finished"
      fi
    done
    PIDS=(${running[@]+"${running[@]}"})
    [ -n "$failed" ] && break
    [ ${#PIDS[@]} -gt 0 ] && sleep "${POLL_SECONDS:-1}"
  done
  [ -z "$failed" ] && return 0
  echo "error: $failed; its log: ${LOG_OF[$failed_pid]}" >&2
  tail -n 5 "${LOG_OF[$failed_pid]}" >&2 || true
  stop_ranks
  return 1
}
