#!/bin/bash
# A whole reference set on ONE machine with one GPU, many runs at a time: every experiment's
# (variant, seed) runs are split into shards (`run NAME --shard I/N`), JOBS shard processes train
# side by side on the one GPU (small networks leave most of an H100 idle when trained one at a
# time), then `merge` writes one results file per experiment into OUT. Resumable: a shard's
# folder keeps its finished runs, and an experiment already in OUT is skipped.
#
#   recipes/gpu/reference.sh [JOBS]        JOBS processes at a time (default 12)
#
# Environment: PROFILE (default full), PYTHON (default .venv/bin/python), OUT (default
# book/results/$PROFILE), SHARD_DIR (default results/shards-$PROFILE), EXPERIMENTS (default all),
# CONVLIB_DATA. Prints the wall time; README "Reference results" says how the set is checked.
set -euo pipefail

JOBS="${1:-12}"
if ! [[ "$JOBS" =~ ^[1-9][0-9]*$ ]]; then
    echo "JOBS must be a positive integer, got '$JOBS'" >&2
    exit 2
fi
PROFILE="${PROFILE:-full}"
PY="${PYTHON:-.venv/bin/python}"
OUT="${OUT:-book/results/$PROFILE}"
SHARD_DIR="${SHARD_DIR:-results/shards-$PROFILE}"
EXPERIMENTS="${EXPERIMENTS:-$("$PY" -c 'from convlib.experiments import EXPERIMENTS; print(*EXPERIMENTS)')}"
# One shard per run of the largest experiment: the processes share the GPU, the CPU threads too.
SHARDS="$("$PY" -c "
from convlib.experiments import EXPERIMENTS; from convlib.profiles import PROFILES
print(max(len(e.variants) for e in EXPERIMENTS.values()) * len(PROFILES['$PROFILE'].seeds))")"
threads=$(( $(nproc) / JOBS > 0 ? $(nproc) / JOBS : 1 ))
export OMP_NUM_THREADS="$threads" CONVLIB_PROGRESS=0
mkdir -p "$SHARD_DIR" "$OUT"
started=$(date +%s)

tasks() {  # one line "EXPERIMENT SHARD" per shard still to train
    for e in $EXPERIMENTS; do
        [[ -f "$OUT/$e.json" ]] && continue
        for ((i = 0; i < SHARDS; i++)); do echo "$e $i"; done
    done
}
train_shard() {
    mkdir -p "$SHARD_DIR/$1/$2"
    "$PY" -m convlib.experiments run "$1" --profile "$PROFILE" --shard "$2/$SHARDS" \
        --out "$SHARD_DIR/$1/$2" > "$SHARD_DIR/$1/$2.log" 2>&1 \
        || { echo "shard $2/$SHARDS of $1 failed: see $SHARD_DIR/$1/$2.log" >&2; return 1; }
}
export -f train_shard
export PY PROFILE SHARDS SHARD_DIR
tasks | xargs -P "$JOBS" -L 1 bash -c 'train_shard "$0" "$1"'

for e in $EXPERIMENTS; do
    [[ -f "$OUT/$e.json" ]] && continue
    "$PY" -m convlib.experiments merge "$e" "$SHARD_DIR/$e"/*/ --out "$OUT"
done
echo "reference set '$PROFILE' in $OUT: $(( $(date +%s) - started )) s wall, $JOBS processes at a time"
