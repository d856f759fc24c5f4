"""One gradebook from the outputs of ``grade --shard I/N`` (``python -m bookgrader merge``).

Each shard's output folder holds ``shard.json`` (:mod:`bookgrader.manifest`): its shard, the
chapters graded (the same for every shard: they are chosen from all students), the sandbox's
missing protections and every result. :func:`merge` checks that the shards make one whole (each
of 0/n .. n-1/n once, every student in the shard its name hashes to, in one shard only, the same
chapters and sandbox), then writes the gradebook, grades and feedback with the same code as an
unsharded run, from the same results in the same order: byte for byte the same files.
"""

from __future__ import annotations

import os
from pathlib import Path

from bookgrader.grader import Result
from bookgrader.manifest import read_manifest
from bookgrader.report import atomic_write, write_outputs
from convlib.shards import ShardError, check_complete, parse_shard


def _same(manifests: list[tuple[str, dict]], key: str) -> object:
    first_where, first = manifests[0]
    for where, manifest in manifests[1:]:
        if manifest.get(key) != first.get(key):
            raise ShardError(f"{where} has {key} {manifest.get(key)!r} but {first_where} has "
                             f"{first.get(key)!r}: grade every shard with the same options, "
                             "submissions and sandbox")
    return first.get(key)


def _results(manifests: list[tuple[str, dict]]) -> list[Result]:
    owner: dict[str, str] = {}
    results = []
    for where, manifest in manifests:
        shard = parse_shard(manifest["shard"])
        for row in manifest["results"]:
            result = Result(**row)
            if not shard.holds(result.student):
                raise ShardError(f"{where} (shard {shard}) graded {result.student!r}, who belongs "
                                 "to another shard")
            if owner.setdefault(result.student, where) != where:
                raise ShardError(f"student {result.student!r} was graded in two shards: "
                                 f"{owner[result.student]} and {where}")
            results.append(result)
    # each shard's rows are in the grader's order (student, chapter, exercise); a stable sort by
    # student interleaves the shards into the unsharded order
    return sorted(results, key=lambda r: r.student)


def merge(out: Path, shard_dirs: list[Path]) -> list[Result]:
    """Write the gradebook, grades, feedback and a combined log of all shards into ``out``."""
    out = Path(out)
    if any(os.path.realpath(d) == os.path.realpath(out) for d in shard_dirs):
        raise ShardError(f"the merged output {out} must be another folder than the shards'")
    manifests = [(str(d), read_manifest(Path(d))) for d in shard_dirs]
    check_complete([(where, parse_shard(m["shard"])) for where, m in manifests])
    manifests.sort(key=lambda item: parse_shard(item[1]["shard"]).index)
    _same(manifests, "chapters")
    off = _same(manifests, "protections_off") or []
    results = _results(manifests)
    out.mkdir(parents=True, exist_ok=True)
    write_outputs(out, results, list(off))
    logs = []
    for where, manifest in manifests:
        log = Path(where) / "grading.log"
        text = log.read_text(encoding="utf-8") if log.exists() else "(no grading.log)\n"
        logs.append(f"== shard {manifest['shard']} ({where})\n{text}")
    atomic_write(out / "grading.log", "".join(logs))
    return results
