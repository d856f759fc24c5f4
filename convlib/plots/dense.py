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

__all__ = ["weight_index_colors", "weight_index_array", "plot_weight_index", "plot_sliding_window",
           "plot_train_test"]

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
    import matplotlib as mpl  # deferred: matplotlib is heavy (ARCHITECTURE.md)

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


def plot_sliding_window(ax, *, in_size: int = 6, kernel_size: int = 3,
                        positions: tuple[tuple[int, int], ...] = ((0, 0), (2, 3)),
                        prefix: str = "w"):
    """The sliding window of a ``kernel_size x kernel_size`` convolution (stride 1, no padding)
    on an ``in_size x in_size`` input (left) and its output (right), on ``ax``.

    At each of ``positions`` (the output pixel's row and column) the window is outlined on the
    input with the labels of the weights it applies (``w0``, ``w1``, ...: the *same* labels at
    every position, the weight sharing), and an arrow joins it to the output pixel it computes.
    Returns the output size. Title and caption are the caller's.
    """
    out = _sliding_window_size(in_size, kernel_size, positions)
    gap = 2.5  # space between the input and the output grids
    colors = weight_index_colors(kernel_size * kernel_size)
    outline = ("#D55E00", "#0072B2", "#009E73", "#CC79A7")
    _blank_grid(ax, in_size, 0, 0)
    x0 = in_size + gap
    top = -(in_size - out) / 2
    _blank_grid(ax, out, x0, top)
    for n, (row, col) in enumerate(positions):
        _draw_window(ax, row, col, kernel_size, colors, prefix)
        _link_window(ax, row, col, kernel_size, (x0, top), outline[n % len(outline)])
    ax.text(in_size / 2, 0.4, f"input {in_size}x{in_size}", ha="center", fontsize=10)
    ax.text(x0 + out / 2, top + 0.4, f"output {out}x{out}", ha="center", fontsize=10)
    ax.set_xlim(-0.3, x0 + out + 0.3)
    ax.set_ylim(-in_size - 0.3, 1.2)
    ax.set_aspect("equal")
    ax.axis("off")
    return out


def _sliding_window_size(in_size: int, kernel_size: int,
                         positions: tuple[tuple[int, int], ...]) -> int:
    """The output size of the window, after checking the sizes and that ``positions`` lie in it."""
    for name, value in (("in_size", in_size), ("kernel_size", kernel_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an int >= 1; got {value!r}")
    out = in_size - kernel_size + 1
    if out < 1:
        raise ValueError(f"kernel_size ({kernel_size}) must not exceed in_size ({in_size})")
    for row, col in positions:
        if not (0 <= row < out and 0 <= col < out):
            raise ValueError(f"positions must lie in the {out}x{out} output; got {(row, col)}")
    return out


def _blank_grid(ax, size: int, x0: float, top: float) -> None:
    """A ``size x size`` grid of white cells whose top-left corner is at ``(x0, top)``."""
    from matplotlib.patches import Rectangle  # deferred: matplotlib is heavy

    for r in range(size):
        for c in range(size):
            ax.add_patch(Rectangle((x0 + c, top - r - 1), 1, 1, facecolor="white",
                                   edgecolor="0.6"))


def _draw_window(ax, row: int, col: int, kernel_size: int, colors: list, prefix: str) -> None:
    """The window of output pixel ``(row, col)`` on the input: its cells, coloured and labelled."""
    from matplotlib.patches import Rectangle  # deferred: matplotlib is heavy

    for i in range(kernel_size):
        for j in range(kernel_size):
            index = i * kernel_size + j
            ax.add_patch(Rectangle((col + j, -row - i - 1), 1, 1,
                                   facecolor=colors[index], edgecolor="0.6"))
            ax.text(col + j + 0.5, -row - i - 0.5, f"{prefix}{index}", ha="center",
                    va="center", fontsize=9)


def _link_window(ax, row: int, col: int, kernel_size: int, origin: tuple[float, float],
                 color: str) -> None:
    """Outline the window of ``(row, col)``, arrowed to its output pixel (grid at ``origin``)."""
    from matplotlib.patches import FancyArrowPatch, Rectangle  # deferred: matplotlib is heavy

    x0, top = origin
    ax.add_patch(Rectangle((col, -row - kernel_size), kernel_size, kernel_size,
                           fill=False, edgecolor=color, linewidth=2.5))
    ax.add_patch(Rectangle((x0 + col, top - row - 1), 1, 1, facecolor=color, alpha=0.6,
                           edgecolor=color, linewidth=2))
    ax.add_patch(FancyArrowPatch((col + kernel_size, -row - kernel_size / 2),
                                 (x0 + col, top - row - 0.5), arrowstyle="-|>",
                                 mutation_scale=14, color=color, linewidth=1.5,
                                 connectionstyle="arc3,rad=-0.15"))


def plot_train_test(axes, train: dict, test: dict, labels: dict[str, str],
                    styles: dict[str, dict]) -> None:
    """One panel of ``axes`` per variant of ``labels``: its training and test accuracy (in %)
    after each epoch, the mean over seeds with its band (``low``/``high`` of
    :func:`convlib.results.curves`), both in the variant's colour (``styles``, e.g.
    :func:`convlib.plots.style.line_style`), training solid and test dashed, so that the gap
    between them shows as the space between the two lines."""
    if set(labels) != set(styles) or not set(labels) <= set(train) & set(test):
        raise ValueError(f"labels and styles must name the same variants of train and test; "
                         f"got {sorted(labels)}, {sorted(styles)}, {sorted(train)}")
    for ax, (variant, label) in zip(axes, labels.items(), strict=True):
        color, marker = styles[variant]["color"], styles[variant]["marker"]
        for curve, name, line in ((train[variant], "training", "-"),
                                  (test[variant], "test", "--")):
            epochs = range(1, len(curve["mean"]) + 1)
            ax.plot(epochs, [100 * v for v in curve["mean"]], color=color, linestyle=line,
                    marker=marker, markevery=max(1, len(epochs) // 8),
                    label=f"{name} ({curve['seeds']} seeds)")
            ax.fill_between(epochs, [100 * v for v in curve["low"]],
                            [100 * v for v in curve["high"]], color=color, alpha=0.15,
                            linewidth=0)
        ax.set(title=label, xlabel="epoch (passes over the training images)")
        ax.legend(loc="lower right", fontsize=9)
    axes[0].set_ylabel("accuracy (%)")
