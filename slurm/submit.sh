#!/usr/bin/env bash
# Submit one RATE phase to SLURM and print its job id (the Make targets call this).
#
#   slurm/submit.sh PHASE CONFIG [--section.key=value ...]
#
# Environment: PARTITION (required), SBATCH_FLAGS (the phase's resources), DEPENDENCY (a job id this
# job waits for, with afterok), ARRAY (e.g. 0-3: an array job; each task gets SLURM_ARRAY_TASK_ID).
# A refused submission exits 1 with sbatch's reason, and says so plainly when the cause is a GPU
# request on a partition without GPUs.
set -euo pipefail
phase="${1:?usage: submit.sh PHASE CONFIG [ARGS...]}"
config="${2:?usage: submit.sh PHASE CONFIG [ARGS...]}"
shift 2
: "${PARTITION:?PARTITION is not set}"
cd "$(dirname "$0")/.."
mkdir -p logs

flags=(--parsable --partition="$PARTITION" --job-name="rate-$phase")
if [ -n "${ARRAY:-}" ]; then
  flags+=(--array="$ARRAY" --output="logs/%x_%A_%a.out" --error="logs/%x_%A_%a.err")
else
  flags+=(--output="logs/%x_%j.out" --error="logs/%x_%j.err")
fi
if [ -n "${DEPENDENCY:-}" ]; then
  flags+=(--dependency="afterok:$DEPENDENCY" --kill-on-invalid-dep=yes)
fi
# SBATCH_FLAGS is a list of words on purpose (e.g. "--mem=8G --time=01:00:00").
# shellcheck disable=SC2206
flags+=(${SBATCH_FLAGS:-})

if ! output="$(sbatch "${flags[@]}" slurm/phase.sbatch "$phase" "$config" "$@" 2>&1)"; then
  if grep -qi "gres" <<<"$output"; then
    echo "error: partition '$PARTITION' rejected the GPU request of $phase ($(grep -o -- '--gres=[^ ]*' <<<"${flags[*]}")):" \
         "it has no GPUs of that kind. Use GPUS=0 to score on CPU, or a GPU partition." >&2
  else
    echo "error: sbatch refused $phase: $(tr '\n' ' ' <<<"$output")" >&2
  fi
  exit 1
fi
# sbatch may print warnings before the id; the id is the last line (cluster;id on federations)
tail -n 1 <<<"$output" | cut -d ';' -f 1
