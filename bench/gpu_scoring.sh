#!/bin/bash
# bench/bench_scoring.py on a GPU: the engine vs one text per forward vs fixed batches of 32, with
# the same ~5 M-parameter Llama-style reward model, in fp32 (rewards must agree to 1e-4 between the
# ways) and in bf16 (the default dtype on a GPU). Target: the engine >= 10x the per-text loop.
# Needs no network; finishes in under 5 minutes (each run is capped at 140 s).
#
#   bash bench/gpu_scoring.sh            # PYTHON=... to use another interpreter than .venv/bin/python
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
[ -x "$python" ] || python=python3
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
"$python" - <<'PY'
import torch
assert torch.cuda.is_available(), "gpu_scoring.sh: no CUDA device visible to torch"
print("device:", torch.cuda.get_device_name(0), f"{torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB")
PY
for dtype in float32 bfloat16; do
  echo "== dtype $dtype =="
  timeout 140 "$python" bench/bench_scoring.py --device cuda --dtype "$dtype" --texts 2000 \
    --max-batch-tokens 65536 --batch-size 256 2> >(grep -v "Loading weights\|Writing model\|scoring with" >&2)
done
