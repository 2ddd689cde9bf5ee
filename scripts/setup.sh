#!/usr/bin/env bash
# Create .venv and install hiddenparams with its test extras, at the versions of constraints/job.txt (the versions the
# jobs run and the tests are run with).
# Without CUDA, install the CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
# With CUDA (nvidia-smi answers), torch comes from the normal index with the rest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
PINS=constraints/job.txt
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -qq --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
if ! python -c "import torch" >/dev/null 2>&1; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    python -m pip install -qq --disable-pip-version-check -c "$PINS" torch
  else
    torch_version=$(sed -n 's/^torch==\([^ ]*\).*/\1/p' "$PINS")
    python -m pip install -qq --disable-pip-version-check --retries 0 --extra-index-url https://download.pytorch.org/whl/cpu -c "$PINS" \
      "torch==${torch_version}+cpu"
  fi
fi
python -m pip install -qq --disable-pip-version-check -c "$PINS" -e ".[test]"
