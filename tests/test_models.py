"""convlib.models: the article's network for every block kind, its parameter report, bad input."""

import pytest
import torch

from convlib.blocks import BLOCK_KINDS
from convlib.dense import LocallyConnected2d
from convlib.models import MLP, ArticleNet, FrameNet, LocallyConnectedNet


@pytest.mark.parametrize("kind", BLOCK_KINDS)
def test_article_net_classifies_cifar_sized_images(kind):
    options = {"groups": 2} if kind == "grouped" else {}
    model = ArticleNet(kind, 5 if kind == "stacked" else 3, stem=16, **options)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert 0 < model.block_weights() < model.total_params()
    blocks = sum(p.numel() for name, p in model.named_parameters() if ".block" in f".{name}")
    assert model.block_weights() == blocks


@pytest.mark.parametrize("kind", [k for k in BLOCK_KINDS if k != "plain"])
def test_only_the_block_changes_between_variants(kind):
    """Every parameter outside the convolution blocks (stem, classifier) has the same name and
    shape whatever the block kind, so an experiment compares blocks and nothing else."""
    options = {"groups": 2} if kind == "grouped" else {}
    plain = ArticleNet("plain", 5 if kind == "stacked" else 3, stem=16)
    other = ArticleNet(kind, 5 if kind == "stacked" else 3, stem=16, **options)

    def outside_blocks(model):
        return {n: tuple(p.shape) for n, p in model.named_parameters() if ".block" not in f".{n}"}

    assert outside_blocks(plain) == outside_blocks(other) and outside_blocks(plain)
    assert (
        plain.total_params() - plain.block_weights() == other.total_params() - other.block_weights()
    )


def test_stacking_is_lighter_only_when_the_block_keeps_its_width():
    # 25 c^2 > 2 * 9 c^2 at equal widths; but when the first 3x3 widens c -> 2c, the second one
    # works at 2c: 9 * 2c^2 + 9 * 4c^2 = 54 c^2 > 25 * 2c^2 = 50 c^2 (chapter 3 discusses this)
    equal = dict(stem=32, widths=(32, 32))
    assert (
        ArticleNet("stacked", 5, **equal).block_weights()
        < ArticleNet("plain", 5, **equal).block_weights()
    )
    widening = dict(stem=32, widths=(64, 128))
    assert (
        ArticleNet("stacked", 5, **widening).block_weights()
        > ArticleNet("plain", 5, **widening).block_weights()
    )


def test_mlp_weight_formula():
    mlp = MLP(hidden=(512, 512))
    assert mlp.total_params() == 3072 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10
    assert mlp(torch.zeros(1, 3, 32, 32)).shape == (1, 10) and mlp.block_weights() == 0


@pytest.mark.parametrize("kwargs,name", [({"block_kind": "huge"}, "block_kind"),
                                         ({"block_kind": "plain", "pool": "min"}, "pool"),
                                         ({"block_kind": "plain", "widths": (32,)}, "widths"),
                                         ({"block_kind": "plain", "hidden": 0}, "hidden"),
                                         ({"block_kind": "plain", "image_size": 30}, "image_size")])
def test_bad_arguments_name_themselves(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        ArticleNet(**kwargs)


def test_the_two_weight_counts_have_two_names():
    """ArticleNet.block_weights: the two blocks with their BatchNorms; census.conv2d_weights: every
    Conv2d (the stem too), no BatchNorm."""
    from convlib import census

    net = ArticleNet("plain", 3, stem=16, norm="batch")
    batchnorms = sum(p.numel() for name, p in net.features.named_parameters()
                     if ".bn" in name and not name.startswith("stem"))
    stem_conv = sum(p.numel() for p in net.features.stem.conv1.parameters())
    assert census.conv2d_weights(net) == net.block_weights() - batchnorms + stem_conv


# --------------------------------------------------------------------------- the comparison frame

@pytest.mark.parametrize(
    "kind, k, options",
    [
        ("plain", 5, {}),
        ("stacked", 5, {}),
        ("separable", 3, {"repeats": 2, "inner_activation": True}),
        ("bottleneck", 3, {"residual": True, "groups": 4, "mid_channels": 32}),
        ("convnext", 7, {}),
        ("plain-1x1", 5, {}),
    ],
)
def test_the_frame_keeps_stem_pooling_and_head_whatever_the_block(kind, k, options):
    model = FrameNet(kind, k, stem=32, widths=(32, 64), **options)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert isinstance(model.classifier.average, torch.nn.AdaptiveAvgPool2d)
    assert model.classifier.linear.in_features == 64
    blocks = sum(p.numel() for name in ("block1", "block2")
                 for p in getattr(model.features, name).parameters())
    assert model.block_weights() == blocks
    stem_and_head = (3 * 32 * 9 + 2 * 32) + (64 * 10 + 10)  # conv and BatchNorm; Linear
    assert model.total_params() == blocks + stem_and_head


def test_widening_a_block_does_not_grow_the_head_beyond_one_linear():
    narrow, wide = FrameNet("stacked", 5, widths=(32, 64)), FrameNet("stacked", 5, widths=(64, 128))
    head = [sum(p.numel() for p in m.classifier.parameters()) for m in (narrow, wide)]
    assert head == [650, 1290]  # 10 w + 10
    article = ArticleNet("stacked", 5, widths=(64, 128))
    assert sum(p.numel() for p in article.classifier.parameters()) > 1_000_000  # the flattened head


def test_the_locally_connected_net_is_the_cnn_with_untied_weights():
    torch.manual_seed(0)
    lcn = LocallyConnectedNet()
    torch.manual_seed(0)
    cnn = ArticleNet("plain", 3)
    assert isinstance(lcn.features.block1.conv1, LocallyConnected2d)
    x = torch.randn(2, 3, 32, 32)
    lcn.eval()
    cnn.eval()
    # built from the same seed, the untied copy starts as the same function
    torch.testing.assert_close(lcn(x), cnn(x), rtol=1e-4, atol=1e-5)
    conv1, conv2 = 3 * 9 * 32, 32 * 9 * 64  # no biases: BatchNorm follows
    blocks = 32 * 32 * conv1 + 16 * 16 * conv2  # one kernel per output pixel
    assert lcn.total_params() - cnn.total_params() == blocks - conv1 - conv2
