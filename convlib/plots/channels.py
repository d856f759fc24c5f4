"""Figures of channel connectivity: which input channels feed which output channels.

The matrices come from :func:`convlib.connectivity.connection_matrix` (measured on real layers);
these helpers only draw them. A connected (input, output) pair is a filled (black) cell, an
unconnected one an empty (white) cell, so the figures read the same in grayscale.
"""

from __future__ import annotations

from typing import Any

import torch


def _as_matrix(matrix: Any) -> torch.Tensor:
    if not isinstance(matrix, torch.Tensor) or matrix.dtype != torch.bool or matrix.ndim != 2:
        raise TypeError("matrix must be a 2-D boolean torch.Tensor (c_out, c_in), e.g. "
                        "convlib.connectivity.connection_matrix(conv)")
    return matrix


def plot_connection_matrix(ax, matrix: torch.Tensor, title: str | None = None) -> None:
    """Draw one ``(c_out, c_in)`` connection matrix on ``ax``: inputs along x, outputs down y,
    a filled cell per connection, thin lines between cells, and the count in the x label."""
    matrix = _as_matrix(matrix)
    c_out, c_in = matrix.shape
    ax.imshow(matrix.numpy().astype(float), cmap="Greys", vmin=0.0, vmax=1.0,
              interpolation="nearest", aspect="equal")
    ax.set_xticks(range(c_in))
    ax.set_yticks(range(c_out))
    ax.set_xticks([x - 0.5 for x in range(1, c_in)], minor=True)
    ax.set_yticks([y - 0.5 for y in range(1, c_out)], minor=True)
    ax.grid(False)
    ax.grid(True, which="minor", color="0.6", linewidth=0.5, alpha=1.0)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel(f"input channel (index)\n{int(matrix.sum())} connections")
    ax.set_ylabel("output channel (index)")
    if title is not None:
        ax.set_title(title)


def connection_panels(matrices: dict[str, torch.Tensor], *, suptitle: str | None = None,
                      panel_size: float = 2.6, ncols: int | None = None):
    """One panel per ``{title: matrix}`` entry, ``ncols`` to a row (default: all in one row);
    returns the matplotlib Figure."""
    import matplotlib.pyplot as plt  # deferred: matplotlib is heavy (ARCHITECTURE.md)

    if not isinstance(matrices, dict) or not matrices:
        raise ValueError("matrices must be a non-empty dict {panel title: connection matrix}")
    ncols = len(matrices) if ncols is None else ncols
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive int; got {ncols!r}")
    nrows = -(-len(matrices) // ncols)
    size = (panel_size * ncols, (panel_size + 1.1) * nrows)
    fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False)
    for ax, (title, matrix) in zip(axes.flat, matrices.items()):
        plot_connection_matrix(ax, matrix, title)
    for ax in axes.flat[len(matrices):]:
        ax.set_axis_off()
    for row in axes:
        for ax in row[1:]:
            ax.set_ylabel("")
    if suptitle is not None:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
