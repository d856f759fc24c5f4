"""convlib.plots: ``glue``, which checks every glued figure against the book's figure rules (no
switch to forget: a figure glued before or without ``use_book_style`` is checked too)."""

from __future__ import annotations

import builtins

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from convlib.plots import glue, use_book_style


def test_glue_without_myst_nb_shows_the_value_only_when_asked(monkeypatch, capsys):
    real_import = builtins.__import__

    def no_myst_nb(name, *args, **kwargs):
        if name == "myst_nb":
            raise ImportError("no myst_nb on this hosted service")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_myst_nb)
    glue("hidden", 41, display=False)
    glue("shown", 42)
    assert capsys.readouterr().out == "42\n"


def _wide_figure():
    """A 13-inch figure: scaled down to the content column, its text is below 9 pt."""
    fig, ax = plt.subplots(figsize=(13, 4))
    ax.plot([1, 2], [3, 4])
    ax.set(title="too wide", xlabel="epoch (passes)", ylabel="accuracy (%)")
    return fig


def test_glue_refuses_a_figure_that_breaks_the_figure_rules():
    use_book_style()
    fig = _wide_figure()
    with pytest.raises(ValueError, match="'wide' breaks the book's figure rules: .*< 9 pt"):
        glue("wide", fig, display=False)
    fig.set_size_inches(6.4, 4)
    glue("narrow", fig, display=False)  # the same figure at page width passes
    plt.close(fig)


def test_glue_checks_a_figure_in_a_fresh_process_without_the_book_style():
    """No global switch: glue checks a figure whether or not ``use_book_style`` ran before."""
    import subprocess
    import sys

    code = ("import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt\n"
            "from convlib.plots import glue\n"
            "fig, ax = plt.subplots(figsize=(13, 4)); ax.plot([1, 2], [3, 4])\n"
            "glue('wide', fig, display=False)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 1 and "'wide' breaks the book's figure rules" in done.stderr


def test_a_survey_of_the_figures_reports_instead_of_raising(monkeypatch, capsys):
    use_book_style()
    fig = _wide_figure()
    monkeypatch.setenv("CONVLIB_FIGURE_RULES", "report")
    glue("wide", fig, display=False)
    assert "'wide' breaks the book's figure rules" in capsys.readouterr().err
    plt.close(fig)
