"""The FLOPs of each block kind in closed form, shared by tests/test_bench.py and
tests/test_latency.py: what convlib.flops must count for them."""

from __future__ import annotations

from convlib.flops import conv2d_flops


def closed_form_flops(kind: str, c_in: int, c_out: int, k: int, size: int, batch: int,
                      groups: int = 1) -> int:
    """Sum of conv2d_flops over the block's convolutions (stride 1, same padding), times batch."""
    hw = (size, size)
    if kind == "plain":
        convs = [conv2d_flops(c_in, c_out, k, hw)]
    elif kind == "grouped":
        convs = [conv2d_flops(c_in, c_out, k, hw, groups)]
    elif kind == "stacked":
        n = (k - 1) // 2
        convs = [conv2d_flops(c_in, c_out, 3, hw)] + [conv2d_flops(c_out, c_out, 3, hw)] * (n - 1)
    elif kind == "bottleneck":
        m = max(1, c_out // 4)
        convs = [conv2d_flops(c_in, m, 1, hw), conv2d_flops(m, m, k, hw, groups),
                 conv2d_flops(m, c_out, 1, hw)]
    elif kind == "separable":
        convs = [conv2d_flops(c_in, c_in, k, hw, c_in), conv2d_flops(c_in, c_out, 1, hw)]
    else:  # spatial
        convs = [conv2d_flops(c_in, c_out, (k, 1), hw), conv2d_flops(c_out, c_out, (1, k), hw)]
    return batch * sum(convs)
