#!/usr/bin/env bash
# Authoring helper: convert jupytext percent scripts (*.py) into notebooks/NN_name.ipynb, then sync.
#   bash tools/build_notebook.sh path/to/03_first_cnn.py [...]
# Edit an existing notebook as a script with: jupytext --to py:percent notebooks/03_first_cnn.ipynb
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
for src in "$@"; do
  jupytext --quiet --to ipynb -o "$here/notebooks/$(basename "${src%.py}").ipynb" "$src"
done
cd "$here" && python -m tools.sync_notebooks
