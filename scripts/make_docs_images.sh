#!/usr/bin/env bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # `sh script.sh` (dash) re-runs under bash
# Regenerate the README's pictures, docs/curves.png and docs/predictions.png, from a real run of the quickstart
# recipe (about 3 minutes on 2 CPU cores): training writes OUTPUT_DIR/curves.png by itself and, because the recipe
# sets prediction_grid, OUTPUT_DIR/predictions.png; this script copies both into the docs folder.
# Usage: bash scripts/make_docs_images.sh [OUTPUT_DIR] [-- extra train.py options]
# OUTPUT_DIR: where the run goes (default: a temporary folder, removed afterwards).
# Environment: DOCS_DIR (default: the repository's docs/) receives the pictures.
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/common.sh"

split_args "$@"
[ ${#POSITIONAL[@]} -le 1 ] || { echo "Usage: bash $0 [OUTPUT_DIR] [-- extra train.py options]" >&2; exit 1; }
DOCS_DIR="${DOCS_DIR:-$REPO_ROOT/docs}"
if [ ${#POSITIONAL[@]} -eq 1 ]; then
  OUT=$(abs_path "${POSITIONAL[0]}")
else
  TMP_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/ghostzoo_docs.XXXXXX")
  trap 'rm -rf "$TMP_ROOT"' EXIT
  OUT="$TMP_ROOT/quickstart"  # the curves' title names the run folder
fi
"$PYTHON" "$REPO_ROOT/train.py" --config "$REPO_ROOT/configs/quickstart.yaml" --output_dir "$OUT" \
  ${EXTRA[@]+"${EXTRA[@]}"}
for picture in curves.png predictions.png; do
  [ -f "$OUT/$picture" ] || die "the run wrote no $OUT/$picture (does the recipe still set prediction_grid?)"
done
mkdir -p "$DOCS_DIR"
# The same pixels in a 256-colour palette: the noisy generated images make a 650 KB grid, this about 150 KB.
"$PYTHON" - "$OUT" "$DOCS_DIR" <<'PY'
import os, sys
from PIL import Image
source, target = sys.argv[1:]
for name in ("curves.png", "predictions.png"):
    Image.open(os.path.join(source, name)).convert("RGB").quantize(256).save(os.path.join(target, name), optimize=True)
PY
echo "wrote $DOCS_DIR/curves.png and $DOCS_DIR/predictions.png from the run in $OUT"
