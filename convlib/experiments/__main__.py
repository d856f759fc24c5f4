"""``python -m convlib.experiments``: the command line of :mod:`convlib.experiments.cli`."""

import sys

from convlib.experiments.cli import main

sys.exit(main())
