#!/bin/bash
# Submit an experiment as a Slurm job array of SHARDS shards, then its merge as a dependent job.
#
#   recipes/slurm/submit.sh EXPERIMENT SHARDS [sbatch options for the shards, e.g. --partition=gpu]
#
# Environment passed on to the jobs: CONVLIB_PROFILE (smoke, quick, full), CONVLIB_DATA, SEEDS,
# PYTHON, OUT (shard folders, default results/shards/EXPERIMENT), MERGED (default results).
set -euo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 EXPERIMENT SHARDS [sbatch options]" >&2
    exit 2
fi
EXPERIMENT="$1"
SHARDS="$2"
shift 2
if ! [[ "$SHARDS" =~ ^[1-9][0-9]*$ ]]; then
    echo "SHARDS must be a positive integer, got '$SHARDS'" >&2
    exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
export EXPERIMENT SHARDS
array=$(sbatch --parsable --export=ALL --array="0-$((SHARDS - 1))" "$@" "$here/experiments.sbatch")
array="${array%%;*}"  # --parsable prints JOBID[;CLUSTER]
merge=$(sbatch --parsable --export=ALL --dependency="afterok:$array" "$here/merge.sbatch")
echo "submitted shards as job array $array (tasks 0-$((SHARDS - 1))), merge as job ${merge%%;*}"
