"""convlib.reparam: the merged convolutions against the real unmerged modules (nn.Conv2d and
nn.BatchNorm2d in eval mode) on random shapes, strides and groups, in float64."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convlib import reparam as R
from convlib.identities import ROUNDING_TOLERANCE, agreement

SETTINGS = settings(max_examples=25, deadline=None)
EXACT = f"below {ROUNDING_TOLERANCE:g}"


def randomise_batchnorms(module: nn.Module, seed: int) -> nn.Module:
    """Random running statistics and affine parameters (the defaults make BatchNorm an identity,
    which would hide a wrong fold), then eval mode, in float64."""
    generator = torch.Generator().manual_seed(seed)
    module = module.double()
    for bn in module.modules():
        if isinstance(bn, nn.BatchNorm2d):
            c = bn.num_features
            with torch.no_grad():
                bn.running_mean.copy_(torch.randn(c, generator=generator, dtype=torch.float64))
                bn.running_var.copy_(torch.rand(c, generator=generator, dtype=torch.float64) + 0.5)
                bn.weight.copy_(torch.randn(c, generator=generator, dtype=torch.float64))
                bn.bias.copy_(torch.randn(c, generator=generator, dtype=torch.float64))
    return module.eval()


@SETTINGS
@given(st.sampled_from([1, 2, 4]), st.integers(1, 3), st.integers(1, 3), st.integers(1, 2),
       st.integers(5, 9), st.integers(5, 9), st.integers(0, 10**6))
def test_repvgg_block_merges_into_one_3x3(groups, a, b, stride, height, width, seed):
    torch.manual_seed(seed)
    block = randomise_batchnorms(R.RepVGGBlock(groups * a, groups * b, stride, groups), seed)
    assert (block.identity is not None) == (a == b and stride == 1)
    merged = R.merge_repvgg(block)
    assert merged.kernel_size == (3, 3) and merged.bias is not None and merged.groups == groups
    x = torch.randn(2, groups * a, height, width, dtype=torch.float64)
    with torch.no_grad():
        assert agreement(merged(x), block(x)) == EXACT


@SETTINGS
@given(st.integers(1, 6), st.sampled_from([3, 7, 13, 31]), st.sampled_from([1, 3, 5]),
       st.integers(1, 2), st.integers(0, 10**6))
def test_large_and_small_depthwise_kernels_merge_into_the_large_one(channels, large, small, stride,
                                                                     seed):
    torch.manual_seed(seed)
    small = min(small, large)
    block = randomise_batchnorms(R.LargeSmallKernel(channels, large, small, stride), seed)
    merged = R.merge_large_small(block)
    assert merged.kernel_size == (large, large) and merged.groups == channels
    x = torch.randn(2, channels, large + 3, large + 1, dtype=torch.float64)
    with torch.no_grad():
        assert agreement(merged(x), block(x)) == EXACT


@SETTINGS
@given(st.sampled_from([1, 2]), st.integers(1, 3), st.integers(0, 10**6))
def test_large_small_merge_holds_for_grouped_not_only_depthwise(groups, per_group, seed):
    channels = groups * per_group * 2
    block = randomise_batchnorms(R.LargeSmallKernel(channels, 7, 3, groups=groups), seed)
    x = torch.randn(1, channels, 10, 9, dtype=torch.float64)
    with torch.no_grad():
        assert agreement(R.merge_large_small(block)(x), block(x)) == EXACT


def test_folding_a_batchnorm_is_bn_of_conv():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=True).double()
    bn = randomise_batchnorms(nn.BatchNorm2d(4), 1)
    weight, bias = R.fuse_conv_bn(conv, bn)
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    with torch.no_grad():
        assert agreement(F.conv2d(x, weight, bias, padding=1), bn(conv(x))) == EXACT


@pytest.mark.parametrize("groups", [1, 2, 6])
def test_the_identity_kernel_is_the_identity(groups):
    x = torch.randn(1, 6, 5, 5, dtype=torch.float64)
    kernel = R.identity_kernel(6, groups, 3, dtype=torch.float64)
    assert torch.equal(F.conv2d(x, kernel, padding=1, groups=groups), x)


def test_a_merge_that_forgets_a_branch_is_caught():
    """The check can fail: dropping the identity branch leaves a real difference."""
    block = randomise_batchnorms(R.RepVGGBlock(4, 4), 3)
    block_without = randomise_batchnorms(R.RepVGGBlock(4, 4, identity=False), 3)
    block_without.load_state_dict({k: v for k, v in block.state_dict().items()
                                   if not k.startswith("identity")})
    x = torch.randn(1, 4, 6, 6, dtype=torch.float64)
    with torch.no_grad():
        assert agreement(R.merge_repvgg(block_without)(x), block(x)) != EXACT


def test_bad_input_is_refused_with_clear_messages():
    block = R.RepVGGBlock(4, 4)  # training mode
    with pytest.raises(ValueError, match="bn must be in eval mode"):
        R.merge_repvgg(block)
    with pytest.raises(ValueError, match="identity=True needs in_channels == out_channels"):
        R.RepVGGBlock(4, 8, identity=True)
    with pytest.raises(ValueError, match="small must be <= large"):
        R.LargeSmallKernel(4, 5, 7)
    with pytest.raises(ValueError, match="large must be odd"):
        R.LargeSmallKernel(4, 8, 3)
    with pytest.raises(ValueError, match="groups must divide"):
        R.RepVGGBlock(4, 6, groups=4)
    with pytest.raises(TypeError, match="block must be a torch.nn.RepVGGBlock"):
        R.merge_repvgg(nn.Conv2d(1, 1, 3))
    with pytest.raises(ValueError, match="weight must be a square, odd"):
        R.centred_kernel(torch.zeros(1, 1, 2, 2), 3)
