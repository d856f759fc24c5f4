"""The manifest of a graded shard: ``shard.json`` in the output folder of ``grade --shard I/N``.

:func:`write_manifest` (called by ``bookgrader.grader``) records the shard, the chapters graded,
the sandbox's missing protections and every result; :func:`read_manifest` (``bookgrader.shards``,
the merge) reads it back. One module for both, so the format is written in one place; it imports
neither, so that the grader and the merge can both import it.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from convlib.io import atomic_write_json
from convlib.shards import Shard, ShardError

SHARD_FILE = "shard.json"  # in the output folder of ``grade --shard I/N``


def write_manifest(out, shard: Shard | None, chapters: list[str], results: list,
                   protections_off: list[str]) -> None:
    """``out/shard.json`` for the merge (nothing when ``shard`` is None): which shard, the chapters
    graded, the sandbox's missing protections and every result (dataclass rows, as dicts); an
    unsharded run removes a shard.json left in ``out`` by an earlier sharded one."""
    if shard is None:
        Path(out, SHARD_FILE).unlink(missing_ok=True)
        return
    manifest = {"shard": str(shard), "chapters": list(chapters),
                "protections_off": list(protections_off),
                "results": [asdict(result) for result in results]}
    atomic_write_json(Path(out) / SHARD_FILE, manifest, ensure_ascii=False)


def read_manifest(folder: Path) -> dict:
    """A shard's ``shard.json``; ShardError naming the folder when it is missing or damaged."""
    path = Path(folder) / SHARD_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ShardError(f"{folder} is not the output of grade --shard I/N (no {SHARD_FILE})"
                         ) from None
    except (OSError, ValueError) as error:
        raise ShardError(f"{path} cannot be read ({error}): grade that shard again") from None
    if not isinstance(manifest, dict) or not {"shard", "chapters", "results"} <= set(manifest):
        raise ShardError(f"{path} is not a shard manifest: grade that shard again")
    return manifest
