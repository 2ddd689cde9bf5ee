#!/usr/bin/env bash
# The one GPU check: a single device call (at most 8 minutes) that installs the carried wheels, then runs
# `pytest -m gpu`, the training benchmark and the eval benchmark on a random full-size Ministral-3-3B shape, and the
# FP8 dequantisation check at full size on CUDA. Every figure lands in $OUT as JSON, with one log of everything.
#
# Before the call, here:   scripts/fetch_gpu_wheels.sh           # .whl/ (git-ignored), ~34 MB, Python 3.12
# The device call:         bash scripts/gpu_check.sh             # carry [".whl"], timeout_s 480
# A CPU rehearsal here:    GPU_CHECK_CPU=1 PY=/tmp/imgvenv/bin/python OUT=/tmp/gpu-check bash scripts/gpu_check.sh
#                          (a small shape on the CPU, same steps, same files: catches typos before a GPU is lent)
# Each step has its own time limit so that one slow step cannot take the others' figures with it.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the folder the figures go to}
PY=${PY:-python3}
CPU=${GPU_CHECK_CPU:-0}
SCALE=$([ "$CPU" = 1 ] && echo 3 || echo 1)  # time limits: a shared CPU rehearsal is slow, the GPU's are budgeted
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
: >"$LOG"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TOKENIZERS_PARALLELISM=false

step() {  # step NAME SECONDS COMMAND...: run, log, remember the exit status
  local name=$1 limit=$(($2 * SCALE)); shift 2
  echo "=== $name (limit ${limit}s): $*" | tee -a "$LOG"
  local started=$SECONDS
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  echo "=== $name: rc=$rc in $((SECONDS - started))s" | tee -a "$LOG"
  STATUS+=("\"$name\": $rc")
}
STATUS=()

if [ -d .whl ]; then
  step wheels 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --disable-pip-version-check --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD/src
else
  export PYTHONPATH=$PWD/src
fi

step environment 60 "$PY" -c '
import json, subprocess, sys, torch, transformers, trl, peft, datasets, accelerate, huggingface_hub, mistral_common
smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                     capture_output=True, text=True) if torch.cuda.is_available() else None
info = {"python": sys.version.split()[0], "torch": torch.__version__, "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(), "gpu": smi.stdout.strip() if smi else None,
        **{m.__name__: m.__version__ for m in (transformers, trl, peft, datasets, accelerate, huggingface_hub, mistral_common)}}
print(json.dumps(info, indent=2))
open(sys.argv[1], "w").write(json.dumps(info, indent=2) + "\n")
' "$OUT/environment.json"

if [ "$CPU" = 1 ]; then
  DEVICE=cpu; SHAPE=(--layers 1 --hidden 64); ROWS=2
  TRAIN=(--steps 1 --warmup-steps 1 --repeats 1 --set per_device_train_batch_size=2)
else
  DEVICE=cuda; SHAPE=(--layers 26 --hidden 3072); TRAIN=(--steps 20 --warmup-steps 3); ROWS=64
fi
MODEL=/tmp/ministral3-random

step pytest_gpu 150 "$PY" -m pytest -m gpu -q -p no:cacheprovider tests --junitxml="$OUT/pytest_gpu.xml"
step random_model 90 "$PY" bench/random_model.py --out "$MODEL" "${SHAPE[@]}" --device "$DEVICE"
step train_throughput 170 "$PY" bench/train_throughput.py --device "$DEVICE" --model-id "$MODEL" "${TRAIN[@]}" \
  --record --json "$OUT/train_throughput.json"
step eval_throughput 100 "$PY" bench/eval_throughput.py --model-id "$MODEL" --rows "$ROWS" --batch-size "$ROWS" \
  --record --json "$OUT/eval_throughput.json"
step fp8_dequant 100 "$PY" bench/fp8_dequant.py --model-id "$MODEL" --device "$DEVICE" --json "$OUT/fp8_dequant.json"

cp docs/BENCHMARKS.md "$OUT/BENCHMARKS.md"  # the benchmarks' own sections, as they recorded them there
(IFS=,; echo "{${STATUS[*]}}") >"$OUT/status.json"
echo "gpu_check: $(cat "$OUT/status.json")" | tee -a "$LOG"
