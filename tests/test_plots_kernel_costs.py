"""convlib.plots.kernel_costs: chapter 9's dense against depthwise + 1x1 figure, against the
weights of the real PyTorch layers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from torch import nn  # noqa: E402

from convlib.plots.kernel_costs import dense_over_separable, plot_kernel_costs  # noqa: E402
from convlib.plots.style import figure_problems  # noqa: E402


def _weights(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(("c", "k"), [(16, 3), (96, 7), (8, 31)])
def test_the_ratio_is_that_of_the_real_layers_and_never_exceeds_the_width(c, k):
    dense = nn.Conv2d(c, c, k, bias=False)
    separable = nn.Sequential(nn.Conv2d(c, c, k, groups=c, bias=False),
                              nn.Conv2d(c, c, 1, bias=False))
    assert dense_over_separable(c, k) == _weights(dense) / _weights(separable)
    assert dense_over_separable(c, k) < min(k * k, c)


def test_the_figure_draws_both_constructions_and_one_ratio_line_per_width():
    fig, axes = plt.subplots(1, 2, figsize=(7.0, 3.8))
    kernels, widths = range(3, 32, 2), (96, 192, 384, 768)
    plot_kernel_costs(axes, kernels, widths, c=384)
    fig.tight_layout()
    dense, separable = axes[0].get_lines()
    assert list(dense.get_ydata()) == [k * k * 384 * 384 / 1e6 for k in kernels]
    assert separable.get_ydata()[0] == (9 * 384 + 384 * 384) / 1e6
    assert [line.get_label() for line in axes[1].get_lines()] == [f"c = {w}" for w in widths]
    assert figure_problems(fig) == []
    plt.close(fig)
    with pytest.raises(ValueError, match="axes must be two panels"):
        plot_kernel_costs([axes[0]], kernels, widths, c=384)
