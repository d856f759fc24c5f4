"""An experiment in shards: which runs a shard trains, the tag its results file carries, and the
one results file merged from every shard's.

``python -m convlib.experiments run NAME --shard i/n`` trains the runs ``(variant, seed)`` whose
:func:`run_key` belongs to shard ``i/n`` (:class:`RunSelector`, with the stable assignment of
:mod:`convlib.shards`) and tags its file with the whole plan (:func:`tag_results`);
``... merge NAME DIR...`` makes one file of them (:func:`merge_results`).

A merged results file equals the unsharded one except for :data:`TIMING_KEYS` (provenance) and
:data:`RUN_TIMING_KEYS` and :data:`HISTORY_TIMING_KEYS` (each run): when and how long things
ran. Everything else (accuracies, losses, per-image answers, parameters, budget, versions, commit)
is the same, because each run is seeded on its own (:func:`convlib.train.seed_everything`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from convlib.shards import Shard, ShardError, check_complete, parse_shard

SHARD_KEY = "shard"  # provenance key of a shard's results file (absent from the merged file)
# provenance keys a merged file may have with other values than the unsharded run's
TIMING_KEYS = ("started", "updated", "wall_seconds")
RUN_TIMING_KEYS = ("seconds",)  # keys of each run that may differ, and of each lr_selection
HISTORY_TIMING_KEYS = ("epoch_seconds", "images_per_second")  # and of each run's history
_MERGED_AS = {"started": min, "updated": max}


def run_key(variant: str, seed: int) -> str:
    """The key of one experiment run, ``"variant/seed"``."""
    return f"{variant}/{seed}"


@dataclass
class RunSelector:
    """``select(variant, seed)`` for :func:`convlib.experiments.run_experiment`: true for this
    shard's runs; remembers every (variant, seed) it was asked about (the whole plan, in order)."""

    shard: Shard
    plan: list[list] = field(default_factory=list)

    def __call__(self, variant: str, seed: int) -> bool:
        if [variant, seed] not in self.plan:
            self.plan.append([variant, seed])
        return self.shard.holds(run_key(variant, seed))


def selector(text: str | Shard) -> RunSelector:
    """The :class:`RunSelector` of the shard ``"i/n"``."""
    return RunSelector(parse_shard(text))


def tag_results(results: dict, select: RunSelector) -> dict:
    """Record in a shard's results file which shard it is and the whole plan (for the merge)."""
    results["provenance"][SHARD_KEY] = {"shard": str(select.shard), "plan": select.plan}
    return results


def without_timings(results: dict) -> dict:
    """A copy of a results file without what may differ between a merged and an unsharded run
    (:data:`TIMING_KEYS`, :data:`RUN_TIMING_KEYS`, :data:`HISTORY_TIMING_KEYS`) and without the
    shard tag."""
    copy = dict(results, provenance={k: v for k, v in results["provenance"].items()
                                     if k not in TIMING_KEYS and k != SHARD_KEY})
    copy["runs"] = [
        {k: ({h: x for h, x in v.items() if h not in HISTORY_TIMING_KEYS} if k == "history" else v)
         for k, v in run.items() if k not in RUN_TIMING_KEYS}
        for run in results["runs"]]
    copy["lr_selection"] = {variant: {k: v for k, v in record.items() if k not in RUN_TIMING_KEYS}
                            for variant, record in results.get("lr_selection", {}).items()}
    return copy


def _tagged(found: list[tuple[str, dict]]) -> list[tuple[str, Shard, dict]]:
    tagged = []
    for where, results in found:
        tag = results.get("provenance", {}).get(SHARD_KEY)
        if not isinstance(tag, dict) or "shard" not in tag:
            raise ShardError(f"{where} is not a shard's results file (made without --shard)")
        tagged.append((where, parse_shard(tag["shard"]), results))
    check_complete([(where, shard) for where, shard, _ in tagged])
    return sorted(tagged, key=lambda item: item[1].index)


def _check_same(tagged: list[tuple[str, Shard, dict]]) -> None:
    """Same experiment, same plan, same budget and environment in every shard."""
    first_where, _, first = tagged[0]
    skip = set(TIMING_KEYS) | {SHARD_KEY, "seeds"}
    for where, _, results in tagged[1:]:
        for key in ("format", "experiment"):
            if results.get(key) != first.get(key):
                raise ShardError(f"{where} has {key}={results.get(key)!r} but {first_where} has "
                                 f"{key}={first.get(key)!r}: shards of different experiments")
        if results["provenance"][SHARD_KEY]["plan"] != first["provenance"][SHARD_KEY]["plan"]:
            raise ShardError(f"{where} and {first_where} planned different (variant, seed) runs "
                             "(other --seeds or profile): run every shard with the same options")
        for key, value in results["provenance"].items():
            if key not in skip and key in first["provenance"] and first["provenance"][key] != value:
                raise ShardError(f"{where} has {key}={value!r} but {first_where} has {key}="
                                 f"{first['provenance'][key]!r}: shards must run the same budget, "
                                 "code and environment")


def _runs_in_plan_order(tagged: list[tuple[str, Shard, dict]]) -> list[dict]:
    plan = [tuple(pair) for pair in tagged[0][2]["provenance"][SHARD_KEY]["plan"]]
    runs: dict[tuple, dict] = {}
    for where, shard, results in tagged:
        for run in results["runs"]:
            pair = (run["variant"], run["seed"])
            if pair not in plan or not shard.holds(run_key(*pair)):
                raise ShardError(f"{where} (shard {shard}) holds run {run_key(*pair)}, which is "
                                 "not one of its planned runs")
            if pair in runs:
                raise ShardError(f"run {run_key(*pair)} appears twice (again in {where})")
            runs[pair] = run
        missing = [run_key(*p) for p in plan if shard.holds(run_key(*p)) and p not in runs]
        if missing:
            raise ShardError(f"shard {shard} ({where}) is incomplete: no run for "
                             f"{', '.join(missing)}; run it again to resume")
    return [runs[pair] for pair in plan]


def merge_results(found: list[tuple[str, dict]]) -> dict:
    """One results file from every shard's (``found``: (where, results) pairs): the runs in the
    unsharded order, the provenance of the whole. ``comparisons`` are left to the caller
    (:func:`convlib.experiments.check_claims`). ShardError for missing, duplicated, incomplete
    or mismatched shards."""
    tagged = _tagged(found)
    _check_same(tagged)
    runs = _runs_in_plan_order(tagged)
    merged = {key: value for key, value in tagged[0][2].items()}
    provenance = {k: v for k, v in tagged[0][2]["provenance"].items() if k != SHARD_KEY}
    with_runs = [results["provenance"] for _, _, results in tagged if results["runs"]]
    for key in ("device", "torch", "git_commit"):
        if with_runs and key in with_runs[0]:
            provenance[key] = with_runs[0][key]
    provenance["seeds"] = sorted({run["seed"] for run in runs})
    for key, pick in _MERGED_AS.items():
        values = [p[key] for p in with_runs if key in p]
        if values:
            provenance[key] = pick(values)
    provenance["wall_seconds"] = round(sum(p["wall_seconds"] for p in with_runs), 1)
    variants = {}
    for name in dict.fromkeys(run["variant"] for run in runs):
        variants[name] = next(r["variants"][name] for _, _, r in tagged if name in r["variants"])
    merged.update(provenance=provenance, variants=variants, runs=runs,
                  lr_selection=_merged_lr_selection(tagged, list(variants)))
    return merged


def _merged_lr_selection(tagged: list[tuple[str, Shard, dict]], variants: list[str]) -> dict:
    """Each variant's learning-rate choice, made by every shard that ran the variant (the same
    computation): the first shard's record, after checking that all of them chose the same rate."""
    merged: dict[str, dict] = {}
    for where, _, results in tagged:
        for name, record in results.get("lr_selection", {}).items():
            first = merged.setdefault(name, record)
            if first["lr"] != record["lr"]:
                raise ShardError(f"{where} chose lr {record['lr']} for {name}, another shard "
                                 f"{first['lr']}: shards must run the same code and environment")
    return {name: merged[name] for name in variants if name in merged}
