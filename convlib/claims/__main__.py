"""python -m convlib.claims [--json] [--chapter N]: the article's claims, computed values and
verdicts."""

from __future__ import annotations

import argparse
import json
import sys

from convlib.claims import evaluate_all, short_value, verdict_counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m convlib.claims", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print every claim as JSON")
    parser.add_argument("--chapter", type=int, default=None, help="only this chapter's claims")
    args = parser.parse_args(argv)
    rows = evaluate_all(args.chapter)
    if not rows:
        print(f"no claims registered for chapter {args.chapter}")
        return 0
    if args.json:
        json.dump(rows, sys.stdout, indent=1, ensure_ascii=False)
        print()
        return 0
    width = max(len(r["id"]) for r in rows)
    for r in rows:
        print(f"{r['id']:<{width}}  ch{r['chapter']}  {r['verdict_text']:<27} article: "
              f"{short_value(r['article_value'])} | book: {short_value(r['computed_value'])}")
        print(f"{'':<{width}}  {r['explanation']}")
    print()
    for kind, counts in verdict_counts(rows).items():
        if counts:
            print(f"{kind}: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
