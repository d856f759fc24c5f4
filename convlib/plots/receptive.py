"""Figures of chapter 3: receptive-field footprints and kernels drawn as annotated pixel maps.

A *map* is a 2-D array of values on a pixel grid: the input-gradient footprint of one output pixel
(:func:`convlib.receptive.empirical_receptive_field`), or a convolution kernel. :func:`plot_map`
draws one as a grayscale image whose axes count pixels of the original grid, writes each value
in its cell (so the figure is readable without colour, and in print) and adds a labelled colour
bar. :func:`support_box` finds the part worth drawing: the rows and columns that hold a nonzero
value, plus a margin.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = ["plot_map", "support_box"]


def _as_map(values: Any, name: str = "values") -> np.ndarray:
    """``values`` (a 2-D torch tensor, NumPy array or nested list of real numbers) as float64."""
    if hasattr(values, "detach"):  # a torch.Tensor: leave the autograd graph, come to the CPU
        values = values.detach().cpu().numpy()
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a 2-D array of real numbers; "
                        f"got {type(values).__name__}") from None
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"{name} must be a non-empty 2-D array; got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must hold finite numbers only")
    return array


def support_box(values: Any, margin: int = 0) -> tuple[int, int, int, int]:
    """``(row_start, row_stop, col_start, col_stop)``: the smallest box holding every nonzero entry
    of the 2-D map ``values``, widened by ``margin`` pixels on each side and clipped to the map.

    Use it as ``values[row_start:row_stop, col_start:col_stop]``. An all-zero map has no support:
    the box is then the whole map.
    """
    array = _as_map(values)
    if isinstance(margin, bool) or not isinstance(margin, numbers.Integral):
        raise TypeError(f"margin must be an int >= 0; got {type(margin).__name__}")
    if margin < 0:
        raise ValueError(f"margin must be an int >= 0; got {margin}")
    rows = np.flatnonzero(np.any(array != 0, axis=1))
    cols = np.flatnonzero(np.any(array != 0, axis=0))
    if rows.size == 0:
        return 0, array.shape[0], 0, array.shape[1]
    margin = int(margin)
    return (max(0, int(rows[0]) - margin), min(array.shape[0], int(rows[-1]) + 1 + margin),
            max(0, int(cols[0]) - margin), min(array.shape[1], int(cols[-1]) + 1 + margin))


def plot_map(ax, values: Any, *, title: str, colorbar_label: str,
             xlabel: str = "column (pixels)", ylabel: str = "row (pixels)",
             origin: tuple[int, int] = (0, 0), fmt: str = "{:.3f}", annotate: bool = True,
             vmin: float | None = None, vmax: float | None = None, cmap: str = "gray_r",
             fontsize: float = 9):
    """Draw the 2-D map ``values`` on ``ax`` as a grayscale image with a labelled colour bar.

    Pixel ``(i, j)`` of ``values`` is drawn at row ``origin[0] + i``, column ``origin[1] + j``, so a
    crop (see :func:`support_box`) keeps the coordinates of the full grid. With ``annotate``, each
    cell shows its value (``fmt``; exact zeros as ``0``), in white on dark cells and black on light ones. ``vmin`` and
    ``vmax`` fix the colour scale (give two panels the same one to compare them); by default it
    spans the map's values. ``fontsize`` (points) sizes the cell values: 9 points stay legible at
    page width (:func:`convlib.plots.style.figure_problems`) when each cell is wide enough for
    the text, so crop the map (:func:`support_box`) rather than shrink the text. Returns the
    ``AxesImage``.
    """
    array = _as_map(values)
    if not isinstance(title, str) or not isinstance(colorbar_label, str):
        raise TypeError("title and colorbar_label must be strings")
    if (not isinstance(origin, (tuple, list)) or len(origin) != 2
            or any(isinstance(o, bool) or not isinstance(o, numbers.Integral) for o in origin)):
        raise TypeError(f"origin must be a pair of ints (row, column); got {origin!r}")
    if not isinstance(fmt, str):
        raise TypeError(f"fmt must be a format string such as '{{:.3f}}'; got {type(fmt).__name__}")
    low = float(array.min()) if vmin is None else float(vmin)
    high = float(array.max()) if vmax is None else float(vmax)
    if high < low:
        raise ValueError(f"vmax ({high}) must be >= vmin ({low})")
    if high == low:  # a constant map: give the colour scale some room
        low, high = low - 0.5, high + 0.5
    r0, c0 = int(origin[0]), int(origin[1])
    h, w = array.shape
    image = ax.imshow(array, cmap=cmap, vmin=low, vmax=high, interpolation="nearest",
                      extent=(c0 - 0.5, c0 + w - 0.5, r0 + h - 0.5, r0 - 0.5))
    ax.set_xticks(range(c0, c0 + w))
    ax.set_yticks(range(r0, r0 + h))
    ax.grid(False)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if annotate:
        threshold = low + 0.55 * (high - low)
        for i in range(h):
            for j in range(w):
                dark = _darkens(cmap, array[i, j] >= threshold)
                ax.text(c0 + j, r0 + i, _cell_text(fmt, array[i, j]), ha="center", va="center",
                        fontsize=fontsize, color="white" if dark else "black")
    ax.figure.colorbar(image, ax=ax, label=colorbar_label, shrink=0.85)
    return image


def _cell_text(fmt: str, value: float) -> str:
    """``value`` written with ``fmt``; an exact zero as ``"0"`` (outside a footprint's support),
    and no minus sign on a value that rounds to zero (``"-0.0"`` becomes ``"0.0"``)."""
    if value == 0:
        return "0"
    text = fmt.format(value)
    try:
        if text.startswith("-") and float(text) == 0:
            return text[1:]
    except ValueError:  # a format with units or words: leave it as it is
        pass
    return text


def _darkens(cmap: str, high_value: bool) -> bool:
    """Whether a cell is drawn dark: high values are dark in reversed maps (``*_r``) such as
    ``gray_r``, low values in the others."""
    return high_value if cmap.endswith("_r") else not high_value
