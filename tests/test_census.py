"""convlib.census and convlib.zoo: kernel censuses of the article's architectures.

Models are built once per session, on the meta device (shapes only: no memory, no init), which
is all a census needs; one test builds a real one to cover the default path.
"""

from __future__ import annotations

import functools
import subprocess
import sys

import pandas as pd
import pytest
import torch
from torch import nn

from convlib.census import (
    ARTICLE_MODELS,
    ConvRow,
    KernelCount,
    build_model,
    census_summary,
    conv2d_weights,
    first_conv,
    kernel_census,
    largest_kernel,
    to_frame,
)
from convlib.zoo import ZFNet, zfnet

ARTICLE_NAMES = ("alexnet", "zfnet", "googlenet", "vgg16", "inception_v3", "resnet50",
                 "resnext50_32x4d", "mobilenet_v2")


@functools.cache
def model(name: str) -> nn.Module:
    return build_model(name, device="meta")


def numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def kernels(name: str) -> set[str]:
    return {row.kernel for row in kernel_census(model(name))}


# ---------------------------------------------------------------------------- parameter counts


@pytest.mark.parametrize("name, expected", [
    ("alexnet", 61_100_840),
    ("vgg16", 138_357_544),
    ("resnet50", 25_557_032),
    ("resnext50_32x4d", 25_028_904),
    ("mobilenet_v2", 3_504_872),
])
def test_torchvision_parameter_counts(name, expected):
    assert numel(model(name)) == expected


def zfnet_formula() -> int:
    """ZFNet's weights by hand, from the paper's Fig. 3: (c_in * k^2 + 1) * c_out per conv,
    (n_in + 1) * n_out per dense layer; pool5 leaves 256 maps of 6x6."""
    convs = [(3, 7, 96), (96, 5, 256), (256, 3, 384), (384, 3, 384), (384, 3, 256)]
    dense = [(256 * 6 * 6, 4096), (4096, 4096), (4096, 1000)]
    return (sum((c_in * k * k + 1) * c_out for c_in, k, c_out in convs)
            + sum((n_in + 1) * n_out for n_in, n_out in dense))


def test_zfnet_matches_the_hand_derived_count():
    assert zfnet_formula() == 62_357_608 == numel(model("zfnet"))


@pytest.mark.parametrize("name", ARTICLE_NAMES)
def test_census_rows_add_up_to_the_conv_parameters(name):
    m = model(name)
    convs = [mod for mod in m.modules() if isinstance(mod, nn.Conv2d)]
    rows = kernel_census(m)
    assert len(rows) == len(convs) and all(isinstance(r, ConvRow) for r in rows)
    assert sum(r.params for r in rows) == conv2d_weights(m) == sum(numel(c) for c in convs)
    summary = census_summary(m)
    assert sum(k.convs for k in summary) == len(rows)
    assert sum(k.params for k in summary) == conv2d_weights(m)
    assert sum(k.share for k in summary) == pytest.approx(1.0)
    areas = [k.kernel_size[0] * k.kernel_size[1] for k in summary]
    assert areas == sorted(areas, reverse=True)


def test_real_build_matches_the_meta_build():
    real = build_model("mobilenet_v2")
    assert next(real.parameters()).device.type == "cpu"
    assert kernel_census(real) == kernel_census(model("mobilenet_v2"))


# ---------------------------------------------------------------------------- the chapter's facts


def test_alexnet_first_conv_is_11x11_stride_4_with_torchvisions_64_filters():
    row = first_conv(model("alexnet"))
    assert (row.kernel_size, row.stride, row.out_channels) == ((11, 11), (4, 4), 64)
    assert largest_kernel(model("alexnet")) == row
    assert any("96" in note and "64" in note for note in ARTICLE_MODELS["alexnet"].notes)


def test_vgg16_uses_only_3x3():
    assert kernels("vgg16") == {"3x3"}
    assert [(k.kernel, k.convs) for k in census_summary(model("vgg16"))] == [("3x3", 13)]


def test_googlenet_largest_kernel_is_its_7x7_stem_and_the_5x5_branch_is_3x3_in_torchvision():
    m = model("googlenet")
    stem = first_conv(m)
    assert largest_kernel(m) == stem and stem.kernel_size == (7, 7) and stem.stride == (2, 2)
    # The paper's "5x5" branch (branch3) is 3x3 in torchvision: pytorch/vision issue #906.
    assert largest_kernel(m, exclude_first=True).kernel == "3x3"
    assert "5x5" not in kernels("googlenet")
    branch3 = [r for r in kernel_census(m) if ".branch3.1." in r.name]
    assert len(branch3) == 9 and {r.kernel for r in branch3} == {"3x3"}
    assert any("#906" in note for note in ARTICLE_MODELS["googlenet"].notes)


def test_inception_v3_factorises_kernels_into_1xn_and_nx1():
    assert {"1x7", "7x1", "1x3", "3x1"} <= kernels("inception_v3")
    # torchvision (from TensorFlow) keeps three 5x5 convolutions that the paper's Fig. 5 factorises.
    five = [r.name for r in kernel_census(model("inception_v3")) if r.kernel == "5x5"]
    assert five == [f"Mixed_5{c}.branch5x5_2.conv" for c in "bcd"]
    assert any("5x5" in note for note in ARTICLE_MODELS["inception_v3"].notes)


def test_mobilenet_v2_has_depthwise_3x3_convolutions():
    rows = kernel_census(model("mobilenet_v2"))
    depthwise = [r for r in rows if r.depthwise]
    assert len(depthwise) == 17
    assert all(r.kernel == "3x3" and r.groups == r.in_channels == r.out_channels for r in depthwise)
    assert sum(k.depthwise for k in census_summary(model("mobilenet_v2"))) == 17
    assert not any(r.depthwise for name in ("vgg16", "resnext50_32x4d")
                   for r in kernel_census(model(name)))  # grouped is not depthwise


def test_resnext_3x3_convs_have_32_groups():
    grouped = [r for r in kernel_census(model("resnext50_32x4d")) if r.kernel == "3x3"]
    assert len(grouped) == 16 and {r.groups for r in grouped} == {32}


def test_zfnet_first_conv_is_7x7_stride_2_and_its_maps_follow_the_paper():
    m = model("zfnet")
    row = first_conv(m)
    assert (row.name, row.kernel_size, row.stride, row.out_channels) == ("features.conv1", (7, 7),
                                                                          (2, 2), 96)
    assert [r.kernel for r in kernel_census(m)] == ["7x7", "5x5", "3x3", "3x3", "3x3"]
    sizes = {}
    hooks = [layer.register_forward_hook(lambda mod, i, out, n=name: sizes.update({n: out.shape}))
             for name, layer in m.features.named_children()]
    try:  # meta tensors carry shapes through the forward pass without computing anything
        assert m(torch.empty(2, 3, 224, 224, device="meta")).shape == (2, 1000)
    finally:
        for hook in hooks:
            hook.remove()
    shown = ("conv1", "pool1", "conv2", "pool2", "conv5", "pool5")
    assert {n: tuple(sizes[n][1:]) for n in shown} == {
        "conv1": (96, 110, 110), "pool1": (96, 55, 55), "conv2": (256, 26, 26),
        "pool2": (256, 13, 13), "conv5": (256, 13, 13), "pool5": (256, 6, 6),
    }


def test_zfnet_refuses_other_input_sizes():
    with pytest.raises(ValueError, match="224x224"):
        model("zfnet")(torch.empty(1, 3, 256, 256, device="meta"))


# ---------------------------------------------------------------------------- registry and helpers


def test_registry_covers_the_article_with_years_results_citations_and_notes():
    assert tuple(ARTICLE_MODELS) == ARTICLE_NAMES
    years = {name: entry.year for name, entry in ARTICLE_MODELS.items()}
    assert years == {"alexnet": 2012, "zfnet": 2013, "googlenet": 2014, "vgg16": 2014,
                     "inception_v3": 2015, "resnet50": 2015, "resnext50_32x4d": 2016,
                     "mobilenet_v2": 2018}
    for entry in ARTICLE_MODELS.values():
        assert entry.title and entry.ilsvrc and entry.citation and entry.notes
    assert "Clarifai" in ARTICLE_MODELS["zfnet"].ilsvrc
    assert ARTICLE_MODELS["inception_v3"].input_size == 299


def test_summary_and_rows_become_data_frames():
    rows = to_frame(kernel_census(model("alexnet")))
    assert list(rows["kernel"]) == ["11x11", "5x5", "3x3", "3x3", "3x3"]
    assert {"name", "kernel_size", "stride", "dilation", "groups", "in_channels", "out_channels",
            "params", "depthwise"} <= set(rows.columns)
    summary = census_summary(model("alexnet"))
    assert all(isinstance(k, KernelCount) for k in summary)
    frame = to_frame(summary)
    assert isinstance(frame, pd.DataFrame) and list(frame["convs"]) == [1, 1, 3]


def test_importing_census_does_not_import_torchvision_models():
    code = "import sys, convlib.census; print('torchvision.models' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("call, error, match", [
    (lambda: build_model("lenet"), ValueError, "name must be one of .*alexnet.*zfnet.*mobilenet"),
    (lambda: build_model(None), TypeError, "name must be one of"),
    (lambda: kernel_census("alexnet"), TypeError, "model must be a torch.nn.Module"),
    (lambda: census_summary([nn.Conv2d(1, 1, 3)]), TypeError, "model must be a torch.nn.Module"),
    (lambda: first_conv(nn.Linear(2, 2)), ValueError, "model must contain an nn.Conv2d"),
    (lambda: largest_kernel(nn.Conv2d(1, 1, 3), exclude_first=True), ValueError, "leaves none"),
    (lambda: largest_kernel(nn.Conv2d(1, 1, 3), exclude_first=1), TypeError, "exclude_first"),
    (lambda: to_frame("rows"), TypeError, "rows must be a list"),
    (lambda: zfnet(weights="IMAGENET1K_V1"), ValueError, "weights must be None"),
    (lambda: ZFNet(num_classes=0), ValueError, "num_classes"),
])
def test_bad_input_names_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


class _ChannelsLast(nn.Module):
    def forward(self, x):
        return x.permute(0, 2, 3, 1)


def test_weights_and_macs_by_kind_sorts_every_weighted_layer():
    """Each kind's weights are the modules' own parameters, its MACs c_in/g * k^2 * c_out per
    output pixel; a Linear on (N, H, W, C) is pointwise (ConvNeXt), one on (N, C) the classifier."""
    from convlib.census import weights_and_macs_by_kind

    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),             # full: 8 * 3 * 9 + 8
        nn.Conv2d(8, 8, 5, padding=2, groups=8),   # depthwise: 8 * 25 + 8
        nn.Conv2d(8, 16, 1, bias=False),           # pointwise: 128
        nn.Conv2d(16, 16, 3, padding=1, groups=4, bias=False),  # grouped: 16 * 4 * 9
        _ChannelsLast(), nn.Linear(16, 4),         # pointwise per pixel: 64 + 4
        nn.Flatten(), nn.Linear(4 * 6 * 6, 10),    # classifier: 1440 + 10
    )
    got = weights_and_macs_by_kind(model, (2, 3, 6, 6))
    pixels = 2 * 6 * 6
    assert got == {
        "full": {"weights": 224, "macs": pixels * 216},
        "depthwise": {"weights": 208, "macs": pixels * 200},
        "pointwise": {"weights": 128 + 68, "macs": pixels * (128 + 64)},
        "grouped": {"weights": 576, "macs": pixels * 576},
        "classifier": {"weights": 1450, "macs": 2 * 1440},
    }
    assert sum(v["weights"] for v in got.values()) == sum(p.numel() for p in model.parameters())
