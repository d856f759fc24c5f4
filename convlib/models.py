"""The article's small CIFAR-10 networks.

The article compares Convnets "composed of 2 convolutions blocks and 2 dense layers" where "only
the construction of a block changes". :class:`ArticleNet` is that network:

    [stem 3x3 conv] -> block(c_0 -> w_1) -> pool -> block(w_1 -> w_2) -> pool
                    -> flatten -> Linear(w_2 * (32/4)^2 -> hidden) -> act -> Linear(hidden -> 10)

where each block comes from :func:`convlib.blocks.make_block`. The optional stem (a plain 3x3
convolution from the 3 colour channels) lets blocks that need more than 3 input channels, such as
grouped or bottleneck blocks, start from a real width. It is the article's network, kept as the
article's baseline; its flattened head grows with the last block's width.

:class:`FrameNet` is the book's comparison frame: the same stem, pooling and head for every
network of a comparison, so that only the blocks differ (chapters 3 to 9).

:class:`MLP` is the dense-only baseline of the article's overfitting argument, and
:class:`LocallyConnectedNet` the article's CNN without weight sharing.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from convlib._checks import as_choice, as_int
from convlib.blocks import BLOCK_KINDS, FRAME_KINDS, FRAME_LAYERS, make_block, make_frame_block
from convlib.dense import LocallyConnected2d

POOLS = ("max", "avg")


class ArticleNet(nn.Module):
    """Two convolution blocks and two dense layers; only the block's construction changes.

    Args:
        block_kind: one of ``convlib.blocks.BLOCK_KINDS``.
        kernel_size: the block's kernel size (for ``"stacked"``, the receptive field to match).
        widths: output channels of the two blocks.
        stem: output channels of a plain 3x3 convolution before the blocks, or None for none.
        hidden: width of the first dense layer.
        pool: ``"max"`` or ``"avg"``, 2x2 after each block.
        norm, activation: passed to every block (and the stem); see ``make_block``.
        image_size: input height and width (CIFAR-10: 32).
        **block_options: passed to ``make_block`` (``groups``, ``mid_channels``, ``repeats``...).
    """

    def __init__(self, block_kind: str, kernel_size: int = 3, *, widths: tuple[int, int] = (32, 64),
                 stem: int | None = None, hidden: int = 128, pool: str = "max",
                 norm: str | None = "batch", activation: str | None = "relu",
                 num_classes: int = 10, image_size: int = 32, **block_options) -> None:
        super().__init__()
        as_choice("block_kind", block_kind, BLOCK_KINDS)
        if not isinstance(widths, (tuple, list)) or len(widths) != 2:
            raise ValueError(f"widths must be a pair of channel counts; got {widths!r}")
        as_choice("pool", pool, POOLS)
        w1, w2 = (as_int(f"widths[{i}]", w) for i, w in enumerate(widths))
        hidden, num_classes = as_int("hidden", hidden), as_int("num_classes", num_classes)
        image_size = as_int("image_size", image_size)
        if image_size % 4:
            raise ValueError(
                f"image_size must be divisible by 4 (two 2x2 poolings); got {image_size}"
            )
        self.block_kind, self.kernel_size = block_kind, kernel_size
        pool_layer = nn.MaxPool2d if pool == "max" else nn.AvgPool2d

        layers: list[tuple[str, nn.Module]] = []
        c_in = 3
        if stem is not None:
            stem = as_int("stem", stem)
            layers.append(
                ("stem", make_block("plain", 3, stem, 3, norm=norm, activation=activation))
            )
            c_in = stem
        layers += [
            (
                "block1",
                make_block(
                    block_kind,
                    c_in,
                    w1,
                    kernel_size,
                    norm=norm,
                    activation=activation,
                    **block_options,
                ),
            ),
            ("pool1", pool_layer(2)),
            (
                "block2",
                make_block(
                    block_kind,
                    w1,
                    w2,
                    kernel_size,
                    norm=norm,
                    activation=activation,
                    **block_options,
                ),
            ),
            ("pool2", pool_layer(2)),
        ]
        self.features = nn.Sequential(OrderedDict(layers))
        side = image_size // 4
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(w2 * side * side, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))

    def block_weights(self) -> int:
        """Parameters of the two convolution blocks, their BatchNorms included (what the article
        compares); the stem and the dense layers are left out."""
        blocks = [self.features.block1, self.features.block2]
        return sum(p.numel() for block in blocks for p in block.parameters())

    def total_params(self) -> int:
        """All parameters, stem and dense layers included."""
        return sum(p.numel() for p in self.parameters())


class FrameNet(nn.Module):
    """The book's comparison frame; only the two blocks change between the networks compared:

        stem: 3x3 conv (3 -> s) + BN + ReLU
        block1 (s -> w_1) -> 2x2 max pool -> block2 (w_1 -> w_2) -> 2x2 max pool
        head: global average pooling -> Linear(w_2 -> 10)

    Why global average pooling: the head then holds ``10 w_2 + 10`` weights, a few hundred,
    where the article's flattened head holds ``64 w_2`` times its hidden width (chapter 5's
    widened 8-group network had three times the dense weights of the network it was compared
    with). Widening a block changes the blocks, not the head. Every network starts with a full
    3x3 convolution, so no block works on the 3 colour channels alone.

    Args:
        block_kind: one of ``convlib.blocks.FRAME_KINDS``.
        kernel_size: the block's kernel size (for ``"stacked"``, the receptive field to match).
        stem: the stem's output channels.
        widths: output channels of the two blocks.
        **block_options: passed to :func:`convlib.blocks.make_frame_block` (``groups``,
            ``mid_channels``, ``repeats``, ``residual``, ``inner_activation``, ``expansion``).
    """

    def __init__(self, block_kind: str, kernel_size: int = 3, *, stem: int = 32,
                 widths: tuple[int, int] = (32, 64), num_classes: int = 10,
                 **block_options) -> None:
        super().__init__()
        as_choice("block_kind", block_kind, FRAME_KINDS)
        if not isinstance(widths, (tuple, list)) or len(widths) != 2:
            raise ValueError(f"widths must be a pair of channel counts; got {widths!r}")
        w1, w2 = (as_int(f"widths[{i}]", w) for i, w in enumerate(widths))
        stem = as_int("stem", stem)
        self.block_kind, self.kernel_size = block_kind, kernel_size
        self.features = nn.Sequential(OrderedDict([
            ("stem", make_block("plain", 3, stem, 3, **FRAME_LAYERS)),
            ("block1", make_frame_block(block_kind, stem, w1, kernel_size, **block_options)),
            ("pool1", nn.MaxPool2d(2)),
            ("block2", make_frame_block(block_kind, w1, w2, kernel_size, **block_options)),
        ]))
        self.classifier = nn.Sequential(OrderedDict([
            ("pool2", nn.MaxPool2d(2)),
            ("average", nn.AdaptiveAvgPool2d(1)),
            ("flatten", nn.Flatten()),
            ("linear", nn.Linear(w2, as_int("num_classes", num_classes))),
        ]))

    def forward(self, x):
        return self.classifier(self.features(x))

    def block_weights(self) -> int:
        """Parameters of the two blocks, their BatchNorms included; stem and head left out."""
        blocks = [self.features.block1, self.features.block2]
        return sum(p.numel() for block in blocks for p in block.parameters())

    def total_params(self) -> int:
        """All parameters: stem, blocks and head (what matched comparisons match)."""
        return sum(p.numel() for p in self.parameters())


class LocallyConnectedNet(ArticleNet):
    """The article's CNN (two plain 3x3 blocks) with every convolution of its blocks replaced by
    a :class:`convlib.dense.LocallyConnected2d`: the same windows, BatchNorms, pooling and head,
    but a kernel per output pixel. Against the CNN it isolates weight sharing (chapter 1)."""

    def __init__(self, widths: tuple[int, int] = (32, 64), image_size: int = 32) -> None:
        super().__init__("plain", 3, widths=widths, image_size=image_size)
        for name, size in (("block1", image_size), ("block2", image_size // 2)):
            block = getattr(self.features, name)
            block.conv1 = LocallyConnected2d.untied(block.conv1, size)


class MLP(nn.Module):
    """A multilayer perceptron on the flattened image: the dense-only baseline.

    Weights: sum over layers of n_in * n_out + n_out.
    """

    def __init__(self, hidden: tuple[int, ...] = (512, 512), *, num_classes: int = 10,
                 image_size: int = 32, channels: int = 3) -> None:
        super().__init__()
        if not isinstance(hidden, (tuple, list)) or not hidden:
            raise ValueError(f"hidden must be a non-empty tuple of layer widths; got {hidden!r}")
        sizes = [as_int("channels", channels) * as_int("image_size", image_size) ** 2]
        sizes += [as_int(f"hidden[{i}]", h) for i, h in enumerate(hidden)]
        layers: list[nn.Module] = [nn.Flatten()]
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.ReLU(inplace=True)]
        layers.append(nn.Linear(sizes[-1], as_int("num_classes", num_classes)))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)

    def block_weights(self) -> int:
        """No convolution blocks: 0."""
        return 0

    def total_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
