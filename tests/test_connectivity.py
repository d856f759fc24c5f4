"""convlib.connectivity: connection matrices measured by autograd, checked against a forward probe
of the real layer, against zeroed weights and against the closed form (hypothesis)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convlib import connectivity as C

SETTINGS = settings(max_examples=40, deadline=None)


def forward_probe(conv: nn.Conv2d) -> torch.Tensor:
    """Independent of connection_matrix: feed the real layer (positive weights, no bias) an input
    that is non-zero in channel i only, and see which output channels move."""
    probe = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                      conv.padding, conv.dilation, conv.groups, bias=False).double()
    with torch.no_grad():
        probe.weight.copy_(conv.weight.detach().abs().double() + 1.0)
    size = max(d * (k - 1) for d, k in zip(conv.dilation, conv.kernel_size)) + 3
    columns = []
    for i in range(conv.in_channels):
        x = torch.zeros(1, conv.in_channels, size, size, dtype=torch.float64)
        x[:, i] = 1.0
        with torch.no_grad():
            columns.append(probe(x).abs().sum(dim=(0, 2, 3)) > 0)
    return torch.stack(columns, dim=1)


conv_specs = st.tuples(st.sampled_from([1, 2, 3, 4]), st.integers(1, 3), st.integers(1, 3),
                       st.sampled_from([1, 2, 3, 5]), st.integers(1, 2), st.integers(0, 2),
                       st.integers(1, 2), st.booleans(), st.integers(0, 10**6))


def build(spec) -> nn.Conv2d:
    g, a, b, k, stride, padding, dilation, bias, seed = spec
    torch.manual_seed(seed)
    return nn.Conv2d(g * a, g * b, k, stride, padding, dilation, groups=g, bias=bias)


@SETTINGS
@given(conv_specs)
def test_measured_matrix_matches_forward_probe_and_closed_form(spec):
    conv = build(spec)
    measured = C.connection_matrix(conv)
    assert measured.dtype == torch.bool and measured.shape == (conv.out_channels, conv.in_channels)
    assert torch.equal(measured, forward_probe(conv))
    c_in, c_out, g = conv.in_channels, conv.out_channels, conv.groups
    assert torch.equal(measured, C.grouped_connections(c_in, c_out, g))
    assert int(measured.sum()) == c_in * c_out // g == C.connection_count(c_in, c_out, g)


@SETTINGS
@given(st.integers(1, 4), st.integers(1, 4), st.sampled_from([(1, 1), (3, 3), (1, 3), (3, 1)]),
       st.integers(0, 10**6), st.data())
def test_zeroed_weights_disconnect_only_with_nonzero_only(c_in, c_out, kernel, seed, data):
    torch.manual_seed(seed)
    conv = nn.Conv2d(c_in, c_out, kernel, padding=(kernel[0] // 2, kernel[1] // 2))
    o = data.draw(st.integers(0, c_out - 1))
    i = data.draw(st.integers(0, c_in - 1))
    with torch.no_grad():
        conv.weight[o, i] = 0.0
    structure = C.connection_matrix(conv)
    nonzero = C.connection_matrix(conv, nonzero_only=True)
    assert bool(structure.all())
    assert not bool(nonzero[o, i])
    assert int(nonzero.sum()) == c_in * c_out - 1
    # The layer itself is untouched, and a zeroed pair really does not reach the output.
    assert conv.weight.requires_grad and float(conv.weight[o, i].detach().abs().sum()) == 0.0
    x = torch.zeros(1, c_in, 5, 5)
    x[:, i] = 1.0
    bias_only = conv.bias.view(1, -1, 1, 1).expand(1, c_out, 5, 5)
    with torch.no_grad():
        assert torch.allclose(conv(x)[:, o], bias_only[:, o])


def test_weights_cancelling_inside_a_kernel_still_count_with_nonzero_only():
    conv = nn.Conv2d(1, 1, 3, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[1.0, -1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]]))
    assert bool(C.connection_matrix(conv, nonzero_only=True)[0, 0])


@pytest.mark.parametrize("groups, expected", [(1, 64), (2, 32), (4, 16), (8, 8)])
def test_eight_channels_connections_fall_as_one_over_groups(groups, expected):
    matrix = C.connection_matrix(nn.Conv2d(8, 8, 3, padding=1, groups=groups))
    assert int(matrix.sum()) == expected == 8 * 8 // groups
    if groups == 8:  # depthwise: the identity pattern
        assert torch.equal(matrix, torch.eye(8, dtype=torch.bool))


def test_meta_device_layer_is_measured_from_its_structure():
    conv = nn.Conv2d(8, 4, 3, groups=2, device="meta")
    assert torch.equal(C.connection_matrix(conv), C.grouped_connections(8, 4, 2))
    with pytest.raises(ValueError, match="meta"):
        C.connection_matrix(conv, nonzero_only=True)


def sequential_probe(convs: list[nn.Conv2d]) -> torch.Tensor:
    """Autograd through the real chain (weights made positive so nothing cancels)."""
    chain = nn.Sequential(*convs).double()
    with torch.no_grad():
        for conv in chain:
            conv.weight.abs_().add_(1.0)
            if conv.bias is not None:
                conv.bias.zero_()
    x = torch.ones(1, convs[0].in_channels, 9, 9, dtype=torch.float64, requires_grad=True)
    y = chain(x)
    rows = [torch.autograd.grad(y[:, o].sum(), x, retain_graph=True)[0].abs().sum(dim=(0, 2, 3)) > 0
            for o in range(y.shape[1])]
    return torch.stack(rows)


@SETTINGS
@given(st.lists(st.sampled_from([1, 2, 4]), min_size=1, max_size=3), st.integers(1, 2),
       st.integers(0, 10**6))
def test_compose_is_the_connectivity_of_the_chain(groups, width, seed):
    torch.manual_seed(seed)
    c = 4 * width
    convs = [nn.Conv2d(c, c, 3, padding=1, groups=g) for g in groups]
    composed = C.compose(*[C.connection_matrix(conv) for conv in convs])
    assert torch.equal(composed, sequential_probe(convs))


def test_resnext_like_chain_is_fully_connected_and_stacked_groups_stay_separate():
    dense_in, grouped, dense_out = C.grouped_connections(8, 16), C.grouped_connections(16, 16, 4), \
        C.grouped_connections(16, 8)
    assert bool(C.compose(dense_in, grouped, dense_out).all())
    assert torch.equal(C.compose(grouped, grouped), grouped)


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="conv"):
        C.connection_matrix(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="nonzero_only"):
        C.connection_matrix(nn.Conv2d(2, 2, 1), nonzero_only=1)
    with pytest.raises(ValueError, match="groups"):
        C.grouped_connections(6, 4, 4)
    with pytest.raises(TypeError, match="c_in"):
        C.grouped_connections(True, 4)
    with pytest.raises(ValueError, match="c_out"):
        C.grouped_connections(4, 0)
    with pytest.raises(ValueError, match="matrices"):
        C.compose()
    with pytest.raises(TypeError, match=r"matrices\[1\]"):
        C.compose(C.grouped_connections(2, 2), torch.ones(2, 2))
    with pytest.raises(ValueError, match=r"matrices\[1\]"):
        C.compose(C.grouped_connections(2, 3), C.grouped_connections(2, 2))


def test_connection_panels_draw_every_matrix():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from convlib.plots.channels import connection_panels

    matrices = {f"g = {g}": C.grouped_connections(8, 8, g) for g in (1, 2, 4, 8)}
    fig = connection_panels(matrices, suptitle="test")
    try:
        assert len(fig.axes) == 4
        for ax, matrix in zip(fig.axes, matrices.values()):
            image = ax.get_images()[0].get_array()
            assert image.shape == (8, 8) and int(image.sum()) == int(matrix.sum())
            assert f"{int(matrix.sum())} connections" in ax.get_xlabel()
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="matrices"):
        connection_panels({})
    with pytest.raises(TypeError, match="matrix"):
        connection_panels({"x": torch.ones(2, 2)})


def test_connection_panels_in_rows():
    import matplotlib.pyplot as plt

    from convlib.plots.channels import connection_panels

    matrices = {f"g = {g}": C.grouped_connections(8, 8, g) for g in (1, 2, 4)}
    fig = connection_panels(matrices, ncols=2)
    try:
        assert len(fig.axes) == 4 and not fig.axes[3].axison  # 2 x 2, the spare panel off
        assert [ax.get_title() for ax in fig.axes[:3]] == list(matrices)
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="ncols"):
        connection_panels(matrices, ncols=0)
