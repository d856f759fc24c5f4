#!/bin/bash
# The CPU reference set on one small machine, from a clean worktree of ONE pinned commit (a set
# is one commit: tests/test_results.py). LANES one-thread processes take experiments from one
# queue, so that no core idles while the other lane still has hours of work; each experiment's
# epoch sweep comes after its base (the sweep reuses the base's learning rates). In the cpu and
# full profiles a lane then runs `extend` on the experiment it just finished (seeds 3-4 where the
# rule asks), so that no core idles while the other extends; the epoch sweeps (NAME_short,
# NAME_long) keep their 3 seeds: they ask whether a ranking moves with the budget, and their
# t-based intervals are valid at 3 seeds, only wider. Resumable: OUT keeps every finished
# run and learning-rate choice, and is seeded from PENDING (only a run or a grid in progress is
# lost). With COMMIT_EVERY=S, every S seconds the files are copied into PENDING and that folder,
# alone, is committed: a machine that stops keeps what it finished.
#
#   recipes/cpu/reference.sh COMMIT
#
# Environment: PROFILE (default cpu), PYTHON (default .venv/bin/python of this checkout),
# WORKTREE (default ../ref-COMMIT), OUT (default results/reference-PROFILE), PENDING (default
# book/results/pending/PROFILE), EXPERIMENTS (default QUEUE below), LANES (default 2),
# COMMIT_EVERY (default 0: never), TCMALLOC (the allocator's library, or none), CONVLIB_DATA.
# Logs: OUT/lane-N.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"

# Every experiment, each sweep after its base, the costliest first (one thread, with its grid and
# extension: grouped about 3 hours, large_kernel and the deep network's 8-epoch sweep 2 each, down
# to stacking_short's 10 minutes), so that the last experiment of one lane ends near the other's
# and no core idles for hours at the end (stacking and stacking_matched first: 1160485's set began
# with them, and stacking is complete there). A sweep, and an experiment that shares a network with
# an earlier one (g1, the plain 3x3), stands at least two places after it, so that the earlier has
# chosen the learning rate or trained the network by then: otherwise two lanes do the same work
# (the results stay right). tests/test_recipes.py checks it against the registry.
QUEUE="stacking stacking_matched grouped large_kernel bottleneck_deep overfitting
bottleneck_deep_long grouped_wide bottleneck separable_wide stacking_long bottleneck_deep_short
dense_vs_conv separable stacking_short"

COMMIT="${1:-}"
if [[ -z "$COMMIT" ]] || ! git rev-parse -q --verify "$COMMIT^{commit}" > /dev/null; then
    echo "COMMIT must name a commit of this repository (the set's pinned commit); got '$COMMIT'" >&2
    exit 2
fi
COMMIT="$(git rev-parse "$COMMIT^{commit}")"
LANES="${LANES:-2}"
if ! [[ "$LANES" =~ ^[1-9][0-9]*$ ]]; then
    echo "LANES must be a positive integer; got '$LANES'" >&2
    exit 2
fi
PROFILE="${PROFILE:-cpu}"
PY="$(realpath -s "${PYTHON:-.venv/bin/python}")"  # -s: a venv's python is a link
if [[ ! -x "$PY" ]]; then
    echo "PYTHON must be the project's Python (make install makes .venv); got '$PY'" >&2
    exit 2
fi
# tcmalloc: glibc's malloc hands the large activation buffers of each training step back to the
# kernel and faults them in again (up to a fifth of a run in system time); tcmalloc keeps them.
# 1.1-1.4x more images per second, bit-identical results (README, "Reference results";
# tests/test_train.py). The training processes alone preload it, once it is seen loaded in this
# Python; TCMALLOC=none runs without.
TCMALLOC="${TCMALLOC:-$(scripts/find-tcmalloc 2> /dev/null || true)}"
PRELOAD="${LD_PRELOAD:-}"
if [[ "$TCMALLOC" != none ]]; then
    TCMALLOC="$(realpath -m "${TCMALLOC:-missing}")"
    if ! LD_PRELOAD="$TCMALLOC" "$PY" -c \
            'import sys; sys.exit("libtcmalloc" not in open("/proc/self/maps").read())' \
            2> /dev/null; then
        echo "tcmalloc (libtcmalloc_minimal.so.4) not found or not loadable ('$TCMALLOC'): run" \
            "scripts/install-system-deps as root, point TCMALLOC at the library, or set" \
            "TCMALLOC=none (about 1.3x slower)" >&2
        exit 2
    fi
    PRELOAD="$TCMALLOC${PRELOAD:+:$PRELOAD}"
fi
WORKTREE="${WORKTREE:-../ref-${COMMIT:0:7}}"
OUT="$(realpath -m "${OUT:-results/reference-$PROFILE}")"
PENDING="${PENDING:-book/results/pending/$PROFILE}"
EXPERIMENTS="${EXPERIMENTS:-$QUEUE}"
COMMIT_EVERY="${COMMIT_EVERY:-0}"

[[ -d "$WORKTREE" ]] || git worktree add -q --detach "$WORKTREE" "$COMMIT"
if [[ "$(git -C "$WORKTREE" rev-parse HEAD)" != "$COMMIT" ]] \
        || [[ -n "$(git -C "$WORKTREE" status --porcelain)" ]]; then
    echo "WORKTREE $WORKTREE must be a clean checkout of $COMMIT" >&2
    exit 2
fi
mkdir -p "$OUT"
for file in "$PENDING"/*.json; do  # resume from what an earlier machine committed
    [[ -f "$file" && ! -f "$OUT/$(basename "$file")" ]] && cp "$file" "$OUT/"
done
echo "$EXPERIMENTS" | tr -s ' \n' '\n' | sed '/^$/d' > "$OUT/.queue"

save() {  # copy the set into PENDING and commit that folder alone, if anything changed
    mkdir -p "$ROOT/$PENDING"
    cp "$OUT"/*.json "$ROOT/$PENDING/" 2> /dev/null || return 0
    git -C "$ROOT" add -- "$PENDING"
    git -C "$ROOT" diff --cached --quiet -- "$PENDING" || git -C "$ROOT" commit -q -m \
        "$PROFILE reference set from $COMMIT, in progress: $(ls "$OUT"/*.json | wc -l) files" \
        -- "$PENDING"
}
next() { (flock 9; head -n 1 "$OUT/.queue"; sed -i 1d "$OUT/.queue") 9> "$OUT/.queue.lock"; }
lane() {
    local name
    while name="$(next)" && [[ -n "$name" ]]; do
        echo "$(date -u +%FT%TZ) start $name"
        (cd "$WORKTREE" && LD_PRELOAD="$PRELOAD" "$PY" -m convlib.experiments run "$name" \
            --profile "$PROFILE" --out "$OUT")
        if [[ "$PROFILE" == cpu || "$PROFILE" == full ]] && [[ "$name" != *_short ]] \
                && [[ "$name" != *_long ]]; then
            echo "$(date -u +%FT%TZ) extend $name"
            (cd "$WORKTREE" && LD_PRELOAD="$PRELOAD" "$PY" -m convlib.experiments extend \
                "$name" --profile "$PROFILE" --out "$OUT")
        fi
        echo "$(date -u +%FT%TZ) done $name"
    done
}

export OMP_NUM_THREADS=1 CONVLIB_PROGRESS=0 PYTHONHASHSEED=0 MPLBACKEND=Agg
if [[ "$COMMIT_EVERY" != 0 ]]; then
    (while sleep "$COMMIT_EVERY"; do save; done) &
    saver=$!
    trap 'kill "$saver" 2> /dev/null || true' EXIT
fi
started=$(date +%s)
pids=()
for ((i = 1; i <= LANES; i++)); do
    lane > "$OUT/lane-$i.log" 2>&1 &
    pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
if ((failed)); then
    echo "a lane failed: see $OUT/lane-*.log" >&2
    exit 1
fi
[[ "$COMMIT_EVERY" != 0 ]] && save
echo "reference set '$PROFILE' from $COMMIT in $OUT: $(($(date +%s) - started)) s wall," \
    "$LANES lanes"
