"""The book's figure style, the plotting helpers the chapters share, and ``glue``.

:func:`glue` is how every value and figure of a chapter reaches its page; a glued figure is always
checked against the book's figure rules (:func:`convlib.plots.style.figure_problems`).

Every figure must stay readable in grayscale: each series gets a colour, a line style and a
marker, so that lines can be told apart without colour. Topic-specific figures live in the
submodules of this package (one per chapter topic); :mod:`convlib.plots.style` holds the style
map (one colour and hatch per construction, across the book) and the legibility check of every
figure, :mod:`convlib.plots.shapes` the shape drawings of blocks.
"""

from __future__ import annotations

import os
import sys
import warnings
from itertools import cycle
from typing import Any

from convlib.plots.style import figure_problems

# Okabe-Ito colours (colour-blind safe), with line styles and markers for grayscale print.
COLORS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def series_styles(n: int) -> list[dict[str, Any]]:
    """``n`` distinct (color, linestyle, marker) styles, distinguishable in grayscale."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int; got {n!r}")
    styles = cycle(zip(COLORS, cycle(LINESTYLES), MARKERS))
    return [dict(color=c, linestyle=ls, marker=m) for _, (c, ls, m) in zip(range(n), styles)]


def fit_to_page(fig: Any, width_in: float = 7.2) -> Any:
    """Shrink ``fig`` (keeping its aspect ratio and every font size) until its tight bounding box is
    at most ``width_in`` inches wide, about the content column (:data:`convlib.plots.style.
    CONTENT_WIDTH_PX`), so the page shows it at natural size and no text is scaled below 9 pt.
    Returns ``fig``."""
    for _ in range(6):
        with warnings.catch_warnings():  # a layout that cannot shrink further is what we measure
            warnings.simplefilter("ignore", UserWarning)
            fig.tight_layout()
        tight = fig.get_tightbbox(fig.canvas.get_renderer()).width
        if tight <= width_in:
            break
        w, h = fig.get_size_inches()
        fig.set_size_inches(w * width_in / tight * 0.98, h * width_in / tight * 0.98)
    return fig


def glue(name: str, value: object, display: bool = True) -> None:
    """``myst_nb.glue`` where MyST-NB is installed (the website's build reads the glued value);
    elsewhere (Colab, Binder, a downloaded notebook) the value is shown if ``display``, as
    MyST-NB would, so a chapter runs without the website's toolchain.

    A glued matplotlib figure is first checked against the book's figure rules
    (:func:`convlib.plots.style.figure_problems`: text of 9 pt or more at page width and 8 CSS px
    or more on a phone, no text over another text or another axes, none clipped, titles, axis
    labels with units, legends); one that breaks a rule is a ``ValueError`` naming it, so no
    chapter publishes one. Every figure of a chapter is glued (``tests/test_book.py`` checks it),
    so nbval's re-execution checks every figure. ``CONVLIB_FIGURE_RULES=report`` prints the
    breaks to stderr instead, for an author's survey of every figure at once."""
    if hasattr(value, "savefig") and hasattr(value, "axes"):  # a figure, without matplotlib
        problems = figure_problems(value)
        if problems:
            message = f"figure {name!r} breaks the book's figure rules: " + "; ".join(problems)
            if os.environ.get("CONVLIB_FIGURE_RULES", "").strip() != "report":
                raise ValueError(message)
            print(message, file=sys.stderr)
    try:
        from myst_nb import glue as myst_glue  # deferred: only the website's toolchain has it
    except ImportError:
        if display:
            from IPython.display import display as show  # deferred: only in a kernel

            show(value)
        return
    myst_glue(name, value, display=display)


def use_book_style() -> None:
    """Matplotlib settings for every figure of the book: the sizes of its text are those the
    figure rules that :func:`glue` checks (:func:`convlib.plots.style.figure_problems`) expect.

    In a notebook, figures are also saved as 2x PNGs shown at their natural size (IPython's
    ``retina`` format), sharp on HiDPI screens and phones."""
    import matplotlib as mpl  # deferred: matplotlib is heavy (ARCHITECTURE.md)
    from cycler import cycler  # deferred: matplotlib is heavy (ARCHITECTURE.md)

    mpl.rcParams.update({
        "figure.figsize": (6.4, 4.0), "figure.dpi": 100, "savefig.dpi": 150,
        "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
        # Text sizes: shown at 9 pt or more at page width for figures up to about 7 inches wide,
        # and at 8 CSS px or more on a phone (convlib.plots.style states the rules and
        # figure_problems checks them).
        "font.size": 10, "xtick.labelsize": 10, "ytick.labelsize": 10,
        "axes.titlesize": 12, "axes.labelsize": 11, "legend.fontsize": 10,
        "legend.title_fontsize": 10, "legend.frameon": False,
        "axes.prop_cycle": cycler(color=list(COLORS[:4])) + cycler(linestyle=list(LINESTYLES))
        + cycler(marker=list(MARKERS[:4])),
        "lines.markersize": 5, "lines.linewidth": 1.8,
    })
    _use_retina_png()


def _use_retina_png() -> None:
    """In an IPython kernel, save inline (and glued) figures as 2x PNGs whose stored width and
    height are those of a 1x PNG, so the page shows them at the same size, twice as sharp."""
    try:  # deferred: IPython and matplotlib-inline exist only where a notebook runs
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:
        return
    if get_ipython() is not None:
        set_matplotlib_formats("retina")


def plot_curves(ax, curves: dict[str, dict[str, list[float]]], labels: dict[str, str] | None = None,
                *, scale: float = 100.0,
                styles: dict[str, dict[str, Any]] | None = None) -> None:
    """Mean curve per variant with a band: its 95 % interval when ``curves`` has one (``low`` and
    ``high``, for accuracies), else one standard deviation over seeds.

    ``curves`` is what :func:`convlib.results.curves` returns; ``scale`` turns accuracies into %.
    ``styles`` maps a variant to its ``color``/``linestyle``/``marker`` (e.g.
    :func:`convlib.plots.style.line_style`); other variants take the book's series styles.
    """
    labels = labels or {}
    chosen = styles or {}
    for (variant, curve), default in zip(curves.items(), series_styles(len(curves))):
        style = {key: chosen.get(variant, {}).get(key, default[key]) for key in default}
        epochs = list(range(1, len(curve["mean"]) + 1))
        mean = [scale * v for v in curve["mean"]]
        if "low" in curve:
            low, high = [scale * v for v in curve["low"]], [scale * v for v in curve["high"]]
        else:
            low = [scale * (m - s) for m, s in zip(curve["mean"], curve["std"])]
            high = [scale * (m + s) for m, s in zip(curve["mean"], curve["std"])]
        seeds = curve["seeds"]
        label = f"{labels.get(variant, variant)} ({seeds} seed{'s' if seeds != 1 else ''})"
        ax.plot(epochs, mean, label=label, **style)
        ax.fill_between(epochs, low, high, color=style["color"], alpha=0.15, linewidth=0)
