"""Shards: split independent work (students, (variant, seed) runs) over machines.

A shard is written ``i/n`` (``0 <= i < n``, as a Slurm array index or a GitHub Actions matrix
value). An item belongs to shard ``int(sha256(key)) % n``: deterministic across machines, Python
versions and runs (never Python's salted ``hash()``), and an item's shard does not change when
other items are added (a late student keeps the shard of their folder name).

This module is the bottom layer (no torch, no other convlib import) so that the grader can use it:
:func:`parse_shard`, :func:`shard_of`, :func:`check_complete`. What a shard of an experiment
runs and how the shards' results files merge is :mod:`convlib.merge`; how graded shards merge is
``bookgrader.shards``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


class ShardError(ValueError):
    """Shards that do not make one whole: missing, duplicated, or of different runs."""


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, key: str) -> bool:
        """Does the item named ``key`` belong to this shard?"""
        return shard_of(key, self.count) == self.index


def parse_shard(text: object) -> Shard:
    """``"i/n"`` as a :class:`Shard`; ValueError naming ``shard`` and the allowed form otherwise."""
    if isinstance(text, Shard):
        return text
    if not isinstance(text, str):
        raise TypeError(f"shard must be a string 'i/n' (e.g. '0/3'); got {type(text).__name__}")
    index, sep, count = text.strip().partition("/")
    if not (sep and index.isdigit() and count.isdigit()):
        raise ValueError(f"shard must be 'i/n' with integers 0 <= i < n (e.g. '0/3'); got {text!r}")
    shard = Shard(int(index), int(count))
    if shard.count < 1 or shard.index >= shard.count:
        raise ValueError(f"shard must be 'i/n' with 0 <= i < n and n >= 1; got {text!r}")
    return shard


def shard_of(key: str, count: int) -> int:
    """The shard (0 .. count-1) of the item named ``key``: sha256 of its UTF-8 bytes, mod count."""
    if not isinstance(key, str):
        raise TypeError(f"key must be a string; got {type(key).__name__}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an int >= 1; got {count!r}")
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % count


def check_complete(found: list[tuple[str, Shard]]) -> int:
    """``found``: (where, shard) for each shard output. Returns n when the shards are exactly
    0/n .. n-1/n, once each; else :class:`ShardError` naming the missing or duplicated ones."""
    if not found:
        raise ShardError("no shard outputs given")
    counts = sorted({shard.count for _, shard in found})
    if len(counts) > 1:
        detail = ", ".join(f"{where} is {shard}" for where, shard in found)
        raise ShardError(f"shards of different splits ({counts}): {detail}")
    count = counts[0]
    places: dict[int, list[str]] = {}
    for where, shard in found:
        places.setdefault(shard.index, []).append(str(where))
    twice = {i: p for i, p in places.items() if len(p) > 1}
    if twice:
        detail = "; ".join(f"shard {i}/{count} in {', '.join(p)}" for i, p in sorted(twice.items()))
        raise ShardError(f"duplicated shard: {detail}")
    missing = [f"{i}/{count}" for i in range(count) if i not in places]
    if missing:
        raise ShardError(f"missing shard {', '.join(missing)} (have "
                         f"{', '.join(f'{i}/{count}' for i in sorted(places))})")
    return count
