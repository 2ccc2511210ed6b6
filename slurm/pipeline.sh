#!/usr/bin/env bash
# Submit the four RATE phases as a chain of SLURM jobs, each starting only if the previous one
# succeeded (afterok; --kill-on-invalid-dep=yes cancels the rest when one fails, instead of leaving
# them pending forever). With SHARDS > 1, scoring is an array job of SHARDS tasks plus a merge job.
#
#   slurm/pipeline.sh CONFIG [--section.key=value ...]
#
# Environment (Make exports these): PARTITION, SHARDS, SBATCH_<phase> resources, SCORE_GPU_FLAGS,
# SHARD_ARG (the override that picks a shard; `%a` becomes the array task id) and MERGE_ARG.
#
# Every phase gets the same `--run` id, so each one's `latest` is the output the phase before it wrote
# in this chain, whatever else lands in PROJECT_DIR meanwhile (RUN_ID sets it; default: time and pid).
set -euo pipefail
config="${1:?usage: pipeline.sh CONFIG [ARGS...]}"
shift
here="$(cd "$(dirname "$0")" && pwd)"
shards="${SHARDS:-1}"
set -- "$@" "--run=${RUN_ID:-$(date +%Y%m%d_%H%M%S)-$$}"

submit() {  # PHASE DEPENDENCY SBATCH_FLAGS [ARGS...]
  local phase="$1" dependency="$2" flags="$3"
  shift 3
  DEPENDENCY="$dependency" SBATCH_FLAGS="$flags" "$here/submit.sh" "$phase" "$config" "$@"
}

job=$(submit create_dataset "" "${SBATCH_create_dataset:-}" "$@")
echo "create_dataset: job $job"
if [ "$shards" -gt 1 ]; then
  job=$(ARRAY="0-$((shards - 1))" submit score_dataset "$job" "${SBATCH_score_dataset:-} ${SCORE_GPU_FLAGS:-}" "$@" "${SHARD_ARG//%n/$shards}")
  echo "score_dataset: array job $job ($shards shards)"
  job=$(submit score_dataset "$job" "${SBATCH_merge:-}" "$@" "${MERGE_ARG//%n/$shards}")
  echo "score_dataset merge: job $job"
else
  job=$(submit score_dataset "$job" "${SBATCH_score_dataset:-} ${SCORE_GPU_FLAGS:-}" "$@")
  echo "score_dataset: job $job"
fi
job=$(submit treatment_effects "$job" "${SBATCH_treatment_effects:-}" "$@")
echo "treatment_effects: job $job"
job=$(submit visualize "$job" "${SBATCH_visualize:-}" "$@")
echo "visualize: job $job"
