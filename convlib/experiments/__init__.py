"""The book's CIFAR-10 comparisons, in modules read in this order:

- :mod:`~convlib.experiments.registry`: every experiment (its variants, the claims they test and
  its budget at a profile, from which each run's training configuration comes in one call);
- :mod:`~convlib.experiments.files`: a results file's place, format and reading (one converter
  for keys renamed since the committed files were written);
- :mod:`~convlib.experiments.verdicts`: each comparison's interval and verdict, recomputed from
  the runs (also what :mod:`convlib.results` and the claims call);
- :mod:`~convlib.experiments.runner`: the resumable runner that trains the runs and writes the
  file;
- :mod:`~convlib.experiments.progress`: what a set holds and still needs, with the hours spent
  and an estimate of those to go; and :mod:`~convlib.experiments.cli`, the command line,
  ``python -m convlib.experiments list | run | merge | extend | recompare | status``.

The package re-exports what a chapter or an exercise calls, and nothing else: the registry
(:data:`EXPERIMENTS`, :func:`get_experiment`) and the runner's entry point
(:func:`run_experiment`). Library code imports every name from the module that defines it.
"""

from convlib.experiments.registry import EXPERIMENTS, get_experiment
from convlib.experiments.runner import run_experiment

__all__ = ["EXPERIMENTS", "get_experiment", "run_experiment"]
