"""convlib.plots.style: one look per construction, read from a variant's builder spec."""

from __future__ import annotations

import pytest

from convlib.experiments import get_experiment
from convlib.plots.style import (
    CONVNEXT_KERNEL_COLORS,
    PLAIN_KERNEL_COLORS,
    construction_of,
    construction_style,
    variant_styles,
)


def test_variant_styles_follow_the_style_map():
    styles = variant_styles(get_experiment("stacking").variants)
    assert styles["5x5"]["color"] == construction_style("plain", 5)["color"]
    stacked = construction_style("stacked")["color"]
    assert styles["2x3x3"]["color"] == stacked != styles["5x5"]["color"]
    assert set(styles["7x7"]) == {"color", "linestyle", "marker"}


def test_convnext_blocks_get_their_own_colour_shaded_by_kernel_size():
    styles = variant_styles(get_experiment("large_kernel").variants)
    assert styles["convnext7"]["color"] == CONVNEXT_KERNEL_COLORS[7]
    assert styles["convnext13"]["color"] == CONVNEXT_KERNEL_COLORS[13]
    assert styles["convnext7"]["marker"] != styles["convnext13"]["marker"]  # also in grayscale
    assert styles["2x3x3"]["color"] == construction_style("stacked")["color"]
    assert construction_style("convnext", 7)["label"] == "ConvNeXt 7x7"
    taken = {construction_style(kind)["color"] for kind in ("plain", "stacked", "bottleneck",
                                                            "grouped", "separable", "spatial")}
    assert not taken & {*CONVNEXT_KERNEL_COLORS.values(), *PLAIN_KERNEL_COLORS.values()} - {
        construction_style("plain")["color"]}


def test_construction_of_reads_both_frames_and_falls_back_for_other_kinds():
    assert construction_of(("ArticleNet", "plain", 5, ())) == ("plain", 5)
    assert construction_of(("FrameNet", "plain-1x1", 5, ())) == ("plain", 5)
    assert construction_of(("FrameNet", "grouped", 3, (("groups", 4),))) == ("grouped", None)
    assert construction_of(("FrameNet", "convnext", 7, ())) == ("convnext", 7)
    resnext = ("FrameNet", "bottleneck", 3, (("groups", 8), ("residual", True)))
    assert construction_of(resnext) == ("grouped", None)
    assert construction_of(("FrameNet", "bottleneck", 3, (("groups", 1),))) == ("bottleneck", None)
    assert construction_of(("FrameNet", "inverted", 3, ())) == ("cnn", None)  # not in the map
    assert construction_of(("MLP", ())) == ("cnn", None)


@pytest.mark.parametrize("bad", [0, 2.5, True, "7"])
def test_a_bad_kernel_size_is_named(bad):
    with pytest.raises(ValueError, match="kernel_size must be an int >= 1"):
        construction_style("convnext", bad)


def test_every_construction_has_its_own_colour():
    from convlib.plots.style import CONSTRUCTIONS

    colours = [construction_style(kind)["color"] for kind in CONSTRUCTIONS]
    assert len(set(colours)) == len(colours)
    assert construction_style("local")["label"] == "locally connected (no weight sharing)"
