#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# The GhostNet model zoo's scripts/run_infer_310.sh: bash run_infer_310.sh [MINDIR_PATH] [DATA_PATH] [DEVICE_ID](optional)
# The shared scripts/run_infer_310.sh with the GhostNet recipe (configs/ghostnet_100_imagenet.yaml unless CONFIG is set).
export CONFIG="${CONFIG:-$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)/configs/ghostnet_100_imagenet.yaml}"
exec bash "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../run_infer_310.sh" "$@"
