"""Figures of chapter 1: the dense matrix a convolution is, drawn entry by entry.

:func:`plot_weight_index` draws the ``weight_index`` matrix of
:func:`convlib.dense.dense_structure`: entry ``(o, i)`` holds the flat index of the kernel weight
that the dense weight linking input ``i`` to output ``o`` copies (an *equality* constraint), or
``-1`` where the output never sees that input (a *nullity* constraint, a structural zero).
Tied entries are coloured by the weight they copy and, so that the figure reads in grayscale,
annotated with its name ``w0``, ``w1``, ...; structural zeros are left blank (white).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["weight_index_colors", "weight_index_array", "plot_weight_index"]

# Qualitative palettes light enough for black annotations, by the number of colours they hold.
_PALETTES = (("Pastel1", 9), ("Set3", 12), ("tab20", 20))


def weight_index_colors(n: int) -> list[tuple[float, float, float, float]]:
    """``n`` distinct RGBA colours, one per kernel weight.

    Up to 9 weights (a 3x3 kernel): matplotlib's ``Pastel1``; up to 12: ``Set3``; up to 20:
    ``tab20``; beyond, ``n`` evenly spaced samples of ``viridis`` (then only the annotations tell
    weights apart reliably).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative int; got {n!r}")
    import matplotlib as mpl

    for name, size in _PALETTES:
        if n <= size:
            colors = mpl.colormaps[name].colors
            return [tuple(float(c) for c in mpl.colors.to_rgba(colors[i])) for i in range(n)]
    cmap = mpl.colormaps["viridis"]
    return [tuple(float(c) for c in cmap(i / (n - 1))) for i in range(n)]


def weight_index_array(weight_index: Any) -> np.ndarray:
    """``weight_index`` (a torch tensor, NumPy array or nested list) as a 2-D int64 NumPy array,
    checked: integers, every entry ``-1`` (structural zero) or a weight index ``>= 0``."""
    if hasattr(weight_index, "detach"):  # a torch tensor
        weight_index = weight_index.detach().cpu().numpy()
    array = np.asarray(weight_index)
    if array.ndim != 2:
        raise ValueError(f"weight_index must be a 2-D matrix (outputs x inputs); "
                         f"got {array.ndim} dimension(s)")
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"weight_index must hold integers (weight indices, -1 for structural "
                        f"zeros); got dtype {array.dtype}")
    if array.size and array.min() < -1:
        raise ValueError(f"weight_index entries must be -1 (structural zero) or >= 0; "
                         f"got {int(array.min())}")
    return array.astype(np.int64)


def plot_weight_index(ax, weight_index: Any, *, n_weights: int | None = None,
                      annotate: bool = True, prefix: str = "w", fontsize: float | None = None):
    """Draw a ``weight_index`` matrix on ``ax``: one square cell per dense entry.

    Cell ``(o, i)`` (row o = output, column i = input) is coloured by the weight it copies, with
    the label ``f"{prefix}{index}"`` when ``annotate``; structural zeros (``-1``) stay white.
    ``n_weights`` fixes the number of colours (default: largest index + 1), so that several
    panels of the same kernel share colours. Thin lines separate the cells. Returns the
    ``AxesImage``. The axes get integer ticks on both axes; titles and axis labels are the
    caller's.
    """
    index = weight_index_array(weight_index)
    if not isinstance(annotate, bool):
        raise TypeError(f"annotate must be True or False; got {annotate!r}")
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str; got {type(prefix).__name__}")
    largest = int(index.max()) if index.size else -1
    if n_weights is None:
        n_weights = largest + 1
    elif isinstance(n_weights, bool) or not isinstance(n_weights, (int, np.integer)) \
            or n_weights <= largest:
        raise ValueError(f"n_weights must be an int larger than the largest index ({largest}); "
                         f"got {n_weights!r}")
    colors = np.array(weight_index_colors(int(n_weights)) + [(1.0, 1.0, 1.0, 1.0)])
    image = ax.imshow(colors[index], interpolation="nearest", aspect="equal")  # -1 -> white
    rows, cols = index.shape
    ax.set_xticks(range(cols))
    ax.set_yticks(range(rows))
    ax.set_xticks(np.arange(-0.5, cols, 1.0), minor=True)
    ax.set_yticks(np.arange(-0.5, rows, 1.0), minor=True)
    ax.grid(False)
    ax.grid(which="minor", color="0.6", linewidth=0.6)
    ax.tick_params(which="minor", length=0)
    if annotate:
        size = fontsize if fontsize is not None else (9 if max(rows, cols) <= 16 else 7)
        for o, i in zip(*np.nonzero(index >= 0)):
            ax.text(i, o, f"{prefix}{index[o, i]}", ha="center", va="center", fontsize=size,
                    color="black")
    return image
