"""Graded exercises: nbgrader-format sources, student releases, and grading that a submission
cannot fool or stop.

- :func:`check` is what the exercises' visible tests call (instant feedback with a message).
- ``python -m bookgrader release`` makes the student notebooks (nbgrader's
  ``generate_assignment``) and the website's exercise pages (``make release``).
- ``python -m bookgrader grade DIR`` grades a folder of submissions (``make grade``): each
  submission runs in a fresh bubblewrap sandbox of its own (:mod:`bookgrader.sandbox`), only
  plain JSON comes back, and the trusted grader (:mod:`bookgrader.grader`) compares it with what
  the reference solution computed.

Modules: ``values`` (plain data, check, compare), ``notebook`` (sources, probes, submissions),
``runner`` (inside the sandbox), ``sandbox`` (fails closed without bubblewrap or the filter),
``seccomp`` (the system-call filter, made with libseccomp), ``cgroups`` (memory and processes per
submission), ``mounts`` (what the sandbox's file system holds), ``pipes`` (one sandboxed
process's pipes), ``grader``, ``report``, ``release``, ``manifest`` (a graded shard's
``shard.json``), ``shards`` (grading on several machines, then one merge), ``gradescope`` (the
autograder zip). It imports only ``convlib``'s bottom layer (``io``, ``launch``, ``shards``).
Importing this package is cheap: it loads only ``values``.
"""

from bookgrader.values import check, compare, describe

__all__ = ["check", "compare", "describe"]
