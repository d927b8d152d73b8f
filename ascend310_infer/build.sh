#!/bin/bash
# Builds the MindIR inference harness into ascend310_infer/out/main (CMake build folder: ascend310_infer/build).
#
#   bash ascend310_infer/build.sh
#   MINDSPORE_PATH=/path/to/mindspore bash ascend310_infer/build.sh
#
# The MindSpore C++ inference package (a folder with include/api/model.h and lib/libmindspore.so) is looked for in:
#   1. $MINDSPORE_PATH (used as given: an error if it is not such a package);
#   2. the installed `mindspore` Python package's folder ($PYTHON, python3 or python), when it has include/api;
#   3. $ASCEND_HOME and $ASCEND_TOOLKIT_HOME: mindspore, mindspore/runtime, mindspore-lite/runtime, latest/mindspore.
# Other settings: BUILD_TYPE (CMake build type, default Release), JOBS (parallel jobs, default: number of CPUs).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD_DIR="${HERE}/build"
OUT_DIR="${HERE}/out"

# A MindSpore C++ inference package: the C++ API headers and the runtime library (libmindspore-lite.so in a
# MindSpore Lite runtime folder).
is_package() {
  [[ -n "$1" && -f "$1/include/api/model.h" && ( -f "$1/lib/libmindspore.so" || -f "$1/lib/libmindspore-lite.so" ) ]]
}

not_found() {
  {
    echo "error: MindSpore C++ inference package not found."
    echo "  The harness needs a MindSpore install with the C++ API headers (include/api/model.h) and the library"
    echo "  lib/libmindspore.so; the MindSpore pip wheel does not ship them. Searched:"
    if [[ ${#searched[@]} -eq 0 ]]; then
      echo "    nothing (no MINDSPORE_PATH, no mindspore Python package, no ASCEND_HOME / ASCEND_TOOLKIT_HOME)"
    else
      printf '    %s\n' "${searched[@]}"
    fi
    echo "  Point at the package with: MINDSPORE_PATH=/path/to/mindspore bash ${BASH_SOURCE[0]}"
  } >&2
  exit 1
}

searched=()
ms_path=""
if [[ -n "${MINDSPORE_PATH:-}" ]]; then
  if ! is_package "${MINDSPORE_PATH}"; then
    echo "error: MINDSPORE_PATH='${MINDSPORE_PATH}' is not a MindSpore C++ inference package: it needs" \
         "include/api/model.h and lib/libmindspore.so" >&2
    exit 1
  fi
  ms_path="${MINDSPORE_PATH}"
else
  # The Python package's folder, located without importing it (find_spec is instant; `import mindspore` is slow).
  for py in "${PYTHON:-}" python3 python; do
    [[ -n "${py}" ]] && command -v "${py}" >/dev/null 2>&1 || continue
    py_dir="$("${py}" -c 'import importlib.util, os
spec = importlib.util.find_spec("mindspore")
print(os.path.dirname(spec.origin) if spec is not None and spec.origin else "")' 2>/dev/null || true)"
    if [[ -n "${py_dir}" ]]; then
      searched+=("${py_dir} (the mindspore Python package of ${py})")
      if is_package "${py_dir}"; then
        ms_path="${py_dir}"
      fi
      break
    fi
  done
  if [[ -z "${ms_path}" ]]; then
    for root in "${ASCEND_HOME:-}" "${ASCEND_TOOLKIT_HOME:-}"; do
      [[ -n "${root}" ]] || continue
      for sub in mindspore mindspore/runtime mindspore-lite/runtime latest/mindspore; do
        searched+=("${root}/${sub}")
        if [[ -z "${ms_path}" ]] && is_package "${root}/${sub}"; then
          ms_path="${root}/${sub}"
        fi
      done
    done
  fi
fi
[[ -n "${ms_path}" ]] || not_found

if ! command -v cmake >/dev/null 2>&1; then
  echo "error: cmake is not installed (version 3.14 or later is needed)" >&2
  exit 1
fi

echo "MindSpore C++ package: ${ms_path}"
if ! cmake -S "${HERE}" -B "${BUILD_DIR}" -DMINDSPORE_PATH="${ms_path}" \
     -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" -DCMAKE_RUNTIME_OUTPUT_DIRECTORY="${OUT_DIR}"; then
  echo "error: cmake configuration failed (see the messages above)" >&2
  exit 1
fi
jobs="${JOBS:-$(nproc 2>/dev/null || echo 4)}"
if ! cmake --build "${BUILD_DIR}" --parallel "${jobs}"; then
  echo "error: the build failed (see the compiler messages above)" >&2
  exit 1
fi
if [[ ! -x "${OUT_DIR}/main" ]]; then
  echo "error: the build finished but ${OUT_DIR}/main was not produced" >&2
  exit 1
fi
echo "built ${OUT_DIR}/main"
