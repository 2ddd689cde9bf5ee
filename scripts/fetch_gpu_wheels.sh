#!/usr/bin/env bash
# Download the wheels the lent GPU machine lacks into .whl/ (git-ignored through .git/info/exclude), for its
# Python (3.12, manylinux x86_64) by default. That machine has torch, transformers 5.17, peft, accelerate,
# safetensors, numpy/pandas/pyarrow/scikit-learn/matplotlib, typer/rich, pytest/hypothesis and no network; it lacks
# trl, datasets, mistral-common (and pydantic, pycountry), huggingface_hub 2.x (httpx2) and rensa. transformers, peft and
# tokenizers travel too, at the versions the test suite runs with here, so the GPU check runs the tested versions.
#
#   scripts/fetch_gpu_wheels.sh [DEST] [PYTHON_VERSION]      # defaults: .whl 3.12
#
# Versions are read from this machine's .venv (`make setup`), so the carried set is what the tests ran with.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-.whl}
PYVER=${2:-3.12}
PIP=${PIP:-.venv/bin/pip}
PACKAGES=(
  trl datasets dill multiprocess
  mistral-common jsonschema jsonschema-specifications referencing rpds-py
  pydantic pydantic-core annotated-types typing-inspection pydantic-extra-types
  huggingface_hub httpx2 httpcore2 truststore hf-xet
  pycountry transformers peft tokenizers rensa
)
grep -qxF "/$DEST/" .git/info/exclude 2>/dev/null || echo "/$DEST/" >> "$(git rev-parse --git-path info/exclude)"
rm -rf "$DEST" && mkdir -p "$DEST"
pins=()
for name in "${PACKAGES[@]}"; do
  version=$("$PIP" show "$name" 2>/dev/null | sed -n 's/^Version: //p')
  [ -n "$version" ] || { echo "fetch_gpu_wheels: $name is not installed in .venv: run make setup first" >&2; exit 1; }
  pins+=("$name==$version")
done
platforms=()
for tag in manylinux_2_39 manylinux_2_35 manylinux_2_34 manylinux_2_31 manylinux_2_28 manylinux_2_27 manylinux_2_24 \
           manylinux_2_17 manylinux2014 manylinux1; do
  platforms+=(--platform "${tag}_x86_64")
done
"$PIP" download -q --disable-pip-version-check --no-deps --only-binary=:all: --python-version "$PYVER" \
  --implementation cp "${platforms[@]}" -d "$DEST" "${pins[@]}"
echo "fetch_gpu_wheels: $(ls "$DEST" | wc -l) wheels, $(du -sh "$DEST" | cut -f1) in $DEST (Python $PYVER)"
