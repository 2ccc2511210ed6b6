#!/bin/bash
# The scoring engine on a GPU (bench/gpu_scoring.py): an 8B-shaped Llama reward model built from
# config with random weights (Llama-3-8B's configuration, all 32 layers, bf16), 2,000 texts with
# long-tailed lengths (51-1,493 tokens), and in the same run the engine with and without its
# tokenising thread, one text per forward pass and transformers' pipeline (the slow two on a
# subsample). Prints tokens/s, model FLOP utilisation, padding, peak GPU memory and the ratios.
# Targets: MFU >= 40 %, >= 1.5x the pipeline. Needs no network; capped at 8 minutes in all.
#
#   bash bench/gpu_scoring.sh                # PYTHON=... for another interpreter than .venv/bin/python
#   bash bench/gpu_scoring.sh --layers 8     # fewer layers (the report says how many)
#   bash bench/gpu_scoring.sh --cpu-smoke    # a tiny model on the CPU: checks the script, measures nothing
#   GPU_PEAK_TFLOPS=989 bash bench/gpu_scoring.sh   # the peak for MFU when the device is not in the table
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
[ -x "$python" ] || python=python3
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec timeout --kill-after=10 470 "$python" bench/gpu_scoring.py "$@" \
  2> >(grep --line-buffered -v "Loading weights\|Writing model\|scoring with\|tokenising for" >&2)
