"""ConvRecipe: the conv -> norm -> act factory every CSP module uses."""
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule

from yolokit.models.layers.conv_recipe import ConvRecipe

BN = dict(type='BN', momentum=0.03, eps=0.001)
SILU = dict(type='SiLU', inplace=True)


def test_same_padding_and_stride():
    convs = ConvRecipe(BN, SILU)
    unit = convs(4, 8, 3, stride=2)
    assert isinstance(unit, ConvModule)
    c = unit.conv
    assert (c.in_channels, c.out_channels, c.kernel_size, c.stride,
            c.padding) == (4, 8, (3, 3), (2, 2), (1, 1))
    assert unit.bn.momentum == 0.03 and isinstance(unit.activate, nn.SiLU)
    # 3x3/2 with padding 1: 9 -> 5 (ceil), 8 -> 4
    assert unit(torch.rand(1, 4, 9, 8)).shape == (1, 8, 5, 4)
    # 1x1: padding 0; bias off because a norm follows (mmcv bias='auto')
    one = convs(4, 2, 1)
    assert one.conv.padding == (0, 0) and one.conv.bias is None


def test_explicit_padding_for_the_yolov5_stem():
    # 6x6/2 with padding 2 halves a 64 map: (64 + 4 - 6) / 2 + 1 = 32
    stem = ConvRecipe(BN, SILU)(3, 16, 6, stride=2, padding=2)
    assert stem.conv.padding == (2, 2)
    assert stem(torch.rand(1, 3, 64, 64)).shape == (1, 16, 32, 32)


def test_depthwise_switch_keeps_the_other_fields():
    convs = ConvRecipe(BN, SILU, conv_cfg=None)
    dw = convs.depthwise(True)
    assert dw == ConvRecipe(BN, SILU, None, True)
    assert convs.use_depthwise is False  # the original is unchanged
    unit = dw(8, 16, 3, stride=2)
    assert isinstance(unit, DepthwiseSeparableConvModule)
    assert unit.depthwise_conv.conv.groups == 8
    assert unit.depthwise_conv.conv.stride == (2, 2)
    assert unit.pointwise_conv.conv.kernel_size == (1, 1)


def test_without_norm_and_act():
    unit = ConvRecipe(None, None)(2, 3, 3)
    assert unit.conv.bias is not None
    assert not unit.with_norm and not unit.with_activation
