#!/usr/bin/env bash
# Set up ./.venv with mmcurate installed (editable).
#   bash scripts/bootstrap.sh        the curation toolkit (text pipeline; no torch)
#   bash scripts/bootstrap.sh test   everything the test suite needs (image, train and bench extras too)
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [ "${1:-}" = "test" ]; then
  .venv/bin/python -m pip install -q -e '.[test,image,train,bench]'
else
  .venv/bin/python -m pip install -q -e .
fi
