"""Figure of chapter 9: what a dense k x k costs against a depthwise k x k followed by a 1x1.

The weights come from :mod:`convlib.params` (no biases, as the article counts them): a dense
k x k from c to c channels holds k²c², a depthwise k x k + 1x1 holds k²c + c², and their ratio
k²/(k²/c + 1) grows with k and never exceeds c.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from convlib.params import conv2d_params, depthwise_separable_params
from convlib.plots.style import construction_style

__all__ = ["dense_over_separable", "plot_kernel_costs"]


def dense_over_separable(c: int, k: int) -> float:
    """How many times more weights a dense k x k (c -> c) holds than a depthwise k x k + 1x1."""
    return conv2d_params(c, c, k, bias=False) / depthwise_separable_params(c, c, k, bias=False)


def plot_kernel_costs(axes: Sequence[Any], kernels: Sequence[int], widths: Sequence[int],
                      c: int) -> None:
    """Two panels: on ``axes[0]`` the weights (millions, log scale) of one dense k x k and of one
    depthwise k x k + 1x1 at ``c`` channels, for each k of ``kernels``, in the book's colours
    for the two constructions; on ``axes[1]`` the ratio :func:`dense_over_separable` for each
    width of ``widths``."""
    if len(axes) != 2:
        raise ValueError(f"axes must be two panels; got {len(axes)}")
    kernels = list(kernels)
    left, right = axes
    for kind, label, weights in (("plain", "dense k x k", conv2d_params),
                                 ("separable", "depthwise k x k + 1x1",
                                  depthwise_separable_params)):
        style = construction_style(kind)
        left.plot(kernels, [weights(c, c, k, bias=False) / 1e6 for k in kernels],
                  color=style["color"], marker=style["marker"], linestyle=style["linestyle"],
                  label=label)
    left.set_yscale("log")
    left.set(title=f"Weights of one layer, c = {c}", xlabel="kernel size k (pixels)",
             ylabel="weights (millions, log scale)")
    left.legend(loc="center right")
    for width in widths:
        right.plot(kernels, [dense_over_separable(width, k) for k in kernels], marker="o",
                   markersize=4, label=f"c = {width}")
    right.set(title="Dense over depthwise + 1x1", xlabel="kernel size k (pixels)",
              ylabel="ratio of weights (x)")
    right.legend(title="width", loc="upper left")
