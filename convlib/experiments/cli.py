"""The command line of the experiments: ``python -m convlib.experiments``.

::

    python -m convlib.experiments list
    python -m convlib.experiments run NAME [--profile P] [--seeds 0 1 2] [--out DIR] [--shard I/N]
    python -m convlib.experiments merge NAME SHARD_DIR... [--out DIR]
    python -m convlib.experiments extend NAME [--profile P] [--out DIR]
    python -m convlib.experiments recompare NAME [--out DIR]
    python -m convlib.experiments status [--profile P] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import sys

from convlib import store
from convlib.experiments.files import ResultsFileError, load_results, results_path
from convlib.experiments.progress import set_progress
from convlib.experiments.registry import EXPERIMENTS
from convlib.experiments.runner import EXTRA_SEEDS, extend_inconclusive, run_experiment
from convlib.experiments.verdicts import check_claims
from convlib.io import atomic_write_json
from convlib.merge import merge_results, selector, tag_results
from convlib.profiles import PROFILE_NAMES, active_profile_name

DESCRIPTION = ("The book's CIFAR-10 comparisons: list, run, merge, extend, recompare, and the "
               "status of a set.")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "list":
        _print_experiments()
        return 0
    if args.command == "status":
        try:
            _print_status(args.profile or active_profile_name(), _profile_out(args))
        except ResultsFileError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return 0
    if args.name not in EXPERIMENTS:
        parser.error(f"unknown experiment {args.name!r}; choose one of: {', '.join(EXPERIMENTS)}")
    if args.command == "extend":
        return _extend_command(args)
    if args.command in ("recompare", "merge"):
        return _rewrite_command(args)
    return _run_command(args)


def _parser() -> argparse.ArgumentParser:
    """The command line: one sub-command per action (list, run, merge, extend, recompare,
    status)."""
    parser = argparse.ArgumentParser(prog="python -m convlib.experiments", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    names = f"one of: {', '.join(EXPERIMENTS)}"
    default = f"results folder (default {store.reference_dir()})"
    sub.add_parser("list", help="list the experiments and their variants")
    run = sub.add_parser("run", help="run (or resume) one experiment")
    run.add_argument("name", help=names)
    run.add_argument("--profile", choices=PROFILE_NAMES, default=None,
                     help="budget; default $CONVLIB_PROFILE, else quick")
    run.add_argument("--seeds", type=int, nargs="+", default=None,
                     help="default: the profile's seeds")
    run.add_argument("--out", default=None, help=f"results folder (default: the profile's "
                     f"reference set, {store.reference_dir()} for quick, a sub-folder named "
                     "after any other profile)")
    run.add_argument("--device", default=None)
    run.add_argument("--shard", default=None, help="I/N: only this shard's (variant, seed) runs")
    merge = sub.add_parser("merge", help="one results file from the shards' (run --shard I/N)")
    merge.add_argument("name", help=names)
    merge.add_argument("shard_dirs", nargs="+", help="the shards' --out folders")
    merge.add_argument("--out", default=None, help=default)
    extend = sub.add_parser("extend", help=f"seeds {list(EXTRA_SEEDS)} for the variants of every "
                            "comparison still inconclusive at the profile's seeds")
    extend.add_argument("name", help=names)
    extend.add_argument("--profile", choices=PROFILE_NAMES, default=None)
    extend.add_argument("--out", default=None,
                        help="results folder (default: the profile's reference set)")
    recompare = sub.add_parser("recompare", help="recompute the stored comparisons of a results "
                               "file from its runs (no training), e.g. after a change of method")
    recompare.add_argument("name", help=names)
    recompare.add_argument("--out", default=None, help=default)
    status = sub.add_parser("status", help="what a set holds and still needs, with the hours "
                            "spent and an estimate of those to go")
    status.add_argument("--profile", choices=PROFILE_NAMES, default=None)
    status.add_argument("--out", default=None,
                        help="results folder (default: the profile's reference set)")
    return parser


def _print_experiments() -> None:
    """``list``: every experiment and its variants."""
    for experiment in EXPERIMENTS.values():
        print(f"{experiment.name}: {experiment.description}")
        for variant in experiment.variants:
            print(f"    {variant.name:12s} {variant.label}")


def _print_status(profile: str, out: str | os.PathLike) -> None:
    """``status``: one line per experiment (runs done, to run, grids to run, hours spent and an
    estimate of those to go; ``+``: the extension is not known yet, ``?``: no run in the set to
    price a network with)."""
    rows = set_progress(profile, out)
    print(f"{'experiment':22s} {'runs':>5s} {'to run':>7s} {'grids':>6s} {'spent h':>8s} "
          f"{'to go h':>8s}")
    for row in rows:
        to_go = row["seconds_to_go"]
        print(f"{row['experiment']:22s} {row['done']:5d} "
              f"{str(row['to_run']) + ('' if row['extension_known'] else '+'):>7s} "
              f"{row['grids_to_run']:6d} {row['seconds'] / 3600:8.2f} "
              f"{'?' if to_go is None else f'{to_go / 3600:.2f}':>8s}")
    known = [row["seconds_to_go"] for row in rows if row["seconds_to_go"] is not None]
    unknown = [row["experiment"] for row in rows if row["seconds_to_go"] is None]
    open_ended = [row["experiment"] for row in rows if not row["extension_known"]]
    print(f"spent {sum(row['seconds'] for row in rows) / 3600:.2f} one-thread hours; to go "
          f"about {sum(known) / 3600:.2f}" + (f", plus {', '.join(unknown)} (not priced: a "
                                              "network with no run yet)" if unknown else "")
          + (f"; extension not known yet: {', '.join(open_ended)}" if open_ended else ""))


def _print_verdicts(results: dict) -> None:
    """One line per stored comparison: the claim and its verdict."""
    for comparison in results["comparisons"]:
        print(f"{comparison['statement']}: {comparison['verdict']}")


def _profile_out(args: argparse.Namespace) -> str | os.PathLike:
    """``--out``, or by default the reference set of the chosen (or active) profile."""
    return args.out if args.out is not None else store.set_folder(
        args.profile or active_profile_name())


def _extend_command(args: argparse.Namespace) -> int:
    """``extend``: seeds EXTRA_SEEDS for the comparisons still inconclusive."""
    extended = extend_inconclusive(args.name, args.profile, _profile_out(args))
    print(f"{args.name}: " + (f"seeds {list(EXTRA_SEEDS)} added for {', '.join(extended)}"
                              if extended else "every comparison decided, nothing to add"))
    return 0


def _rewrite_command(args: argparse.Namespace) -> int:
    """``recompare``: a results file's comparisons recomputed; ``merge``: the shards' files."""
    path = results_path(args.name, args.out)
    try:
        results = (load_results(path) if args.command == "recompare" else merge_results(
            [(str(d), load_results(results_path(args.name, d))) for d in args.shard_dirs]))
    except (ResultsFileError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    results["comparisons"] = check_claims(results)
    atomic_write_json(path, results)
    _print_verdicts(results)
    return 0


def _run_command(args: argparse.Namespace) -> int:
    """``run``: the experiment (or one shard of it), then its verdicts."""
    try:
        select = selector(args.shard) if args.shard else None
        out = _profile_out(args)
        results = run_experiment(args.name, args.profile, args.seeds, out, device=args.device,
                                 select=select)
        if select:
            atomic_write_json(results_path(args.name, out), tag_results(results, select))
    except (ResultsFileError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _print_verdicts(results)
    return 0
