"""What the process around a training step costs on this CPU: the memory allocator and the thread
layout, each option a process of its own (an allocator is chosen when a process starts).

- allocator: glibc's malloc against tcmalloc preloaded (``LD_PRELOAD``, what
  ``recipes/cpu/reference.sh`` does), one thread each; also the system time of each run, where
  glibc's page faults show;
- layout: one run on two threads against two one-thread runs side by side (the recipe's lanes),
  images per second of both cores together. Run it on an idle machine.

Each figure is :func:`harness_options.rate` (the harness's own ``train``, the second of two epochs)
on the same random images, in interleaved rounds; the ratios, not the absolute rates, are the
result.

    python benchmarks/harness_environment.py [--images 2048] [--rounds 2] [--tcmalloc PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import torch
from harness_options import NETWORKS, rate

from convlib.experiments import get_experiment


def child(experiment: str, name: str, images: int, threads: int) -> None:
    """Print one run's images per second and system seconds as JSON (in the child process)."""
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (images, 3, 32, 32), dtype=torch.uint8, generator=g)
    build = next(v.build for v in get_experiment(experiment).variants if v.name == name)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_stime
    per_second = rate(build, x, torch.arange(images) % 10, {})
    print(json.dumps({"rate": per_second,
                      "system": resource.getrusage(resource.RUSAGE_SELF).ru_stime - before}))


def runs(network: tuple[str, str], images: int, threads: int, preload: str,
         side_by_side: int = 1) -> list[dict]:
    """``side_by_side`` child processes at once, each with ``threads`` threads and ``preload``."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), LD_PRELOAD=preload)
    command = [sys.executable, __file__, "--child", *network, str(images), str(threads)]
    children = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
                for _ in range(side_by_side)]
    return [json.loads(c.communicate()[0].splitlines()[-1]) for c in children]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tcmalloc", default=None,
                        help="the library (default: what scripts/find-tcmalloc finds)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        experiment, name, images, threads = args.child
        return child(experiment, name, int(images), int(threads))
    if args.tcmalloc is None:
        found = subprocess.run([str(Path(__file__).parents[1] / "scripts" / "find-tcmalloc")],
                               capture_output=True, text=True)
        args.tcmalloc = found.stdout.strip() or sys.exit(found.stderr.strip())
    if not Path(args.tcmalloc).is_file():
        sys.exit(f"no tcmalloc at {args.tcmalloc}: scripts/install-system-deps installs it")
    for network in NETWORKS:
        print(f"{network[0]}/{network[1]}:")
        for round_ in range(1, args.rounds + 1):
            glibc, = runs(network, args.images, 1, "")
            tcmalloc, = runs(network, args.images, 1, args.tcmalloc)
            two_threads, = runs(network, args.images, 2, args.tcmalloc)
            lanes = runs(network, args.images, 1, args.tcmalloc, side_by_side=2)
            print(f"  round {round_}: glibc {glibc['rate']:.0f} images/s "
                  f"({glibc['system']:.1f} s system), tcmalloc {tcmalloc['rate']:.0f} "
                  f"({tcmalloc['system']:.1f} s): {tcmalloc['rate'] / glibc['rate']:.2f}x; "
                  f"one run on 2 threads {two_threads['rate']:.0f}, two one-thread runs "
                  f"{sum(r['rate'] for r in lanes):.0f} images/s")
    return None


if __name__ == "__main__":
    main()
