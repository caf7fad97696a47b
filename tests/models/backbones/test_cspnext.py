"""CSPNeXt (RTMDet backbone).

References: spec 06 §1.2 (signature, arch tables, stem/stage structure,
quick-reference output shapes on a 416 input) and 02 §3.2 (CSPNeXt block =
3x3 conv + 5x5 depth-wise conv, channel attention = avg-pool + 1x1 conv +
Hardsigmoid; scaling int(c * widen), max(round(n * deepen), 1)).
"""
import inspect
import math

import pytest
import torch
import torch.nn as nn
from mmcv.cnn import DepthwiseSeparableConvModule
from mmdet.models.layers import CSPLayer
from mmdet.models.layers.csp_layer import ChannelAttention, CSPNeXtBlock

from yolokit.models import CSPNeXt
from yolokit.models.layers import SPPFBottleneck


def test_signature_matches_spec():
    params = inspect.signature(CSPNeXt.__init__).parameters
    assert list(params)[1:] == [
        'arch', 'deepen_factor', 'widen_factor', 'input_channels',
        'out_indices', 'frozen_stages', 'plugins', 'use_depthwise',
        'expand_ratio', 'arch_ovewrite', 'channel_attention', 'conv_cfg',
        'norm_cfg', 'act_cfg', 'norm_eval', 'init_cfg'
    ]
    assert params['norm_cfg'].default == dict(type='BN')
    assert params['act_cfg'].default == dict(type='SiLU', inplace=True)
    assert params['channel_attention'].default is True
    assert params['expand_ratio'].default == 0.5
    assert params['init_cfg'].default == dict(
        type='Kaiming',
        layer='Conv2d',
        a=math.sqrt(5),
        distribution='uniform',
        mode='fan_in',
        nonlinearity='leaky_relu')


def test_default_p5_output_shapes():
    # spec 06 §1.10: defaults give 256/512/1024 channels at strides
    # 8/16/32 (52/26/13 on its 416 input; a 96 input keeps the test fast).
    model = CSPNeXt().eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 96, 96))
    assert [tuple(o.shape) for o in outs] == [(1, 256, 12, 12),
                                              (1, 512, 6, 6),
                                              (1, 1024, 3, 3)]


def test_p6_has_five_stages_up_to_stride_64():
    model = CSPNeXt(
        arch='P6', widen_factor=0.25, deepen_factor=0.33,
        out_indices=(2, 3, 4, 5)).eval()
    assert model.layers == ['stem'] + [f'stage{i}' for i in range(1, 6)]
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 128, 128))
    # P6 table: stages 2..5 output 256/512/768/1024 channels, x 0.25
    assert [tuple(o.shape) for o in outs] == [(1, 64, 16, 16), (1, 128, 8, 8),
                                              (1, 192, 4, 4), (1, 256, 2, 2)]
    # only the last stage has the SPPF; stage 4 of P6 keeps its identity
    assert not any(isinstance(m, SPPFBottleneck) for m in model.stage4)
    assert isinstance(model.stage5[1], SPPFBottleneck)
    assert model.stage4[-1].blocks[0].add_identity
    assert not model.stage5[-1].blocks[0].add_identity


def test_stem_is_three_3x3_convs():
    model = CSPNeXt(widen_factor=0.375)
    convs = [m.conv for m in model.stem]
    assert [c.kernel_size for c in convs] == [(3, 3)] * 3
    assert [c.stride for c in convs] == [(2, 2), (1, 1), (1, 1)]
    # int(64 * 0.375 // 2) = 12, int(64 * 0.375) = 24 (tiny tree)
    assert [(c.in_channels, c.out_channels)
            for c in convs] == [(3, 12), (12, 12), (12, 24)]


def test_stage_structure_blocks_and_attention():
    model = CSPNeXt(deepen_factor=0.33, widen_factor=0.5)
    # stage: 3x3 stride-2 conv, (SPPF on the last stage), CSPLayer
    for i in range(1, 4):
        stage = getattr(model, f'stage{i}')
        assert stage[0].conv.stride == (2, 2)
        assert isinstance(stage[1], CSPLayer)
    stage4 = model.stage4
    assert isinstance(stage4[1], SPPFBottleneck) and isinstance(
        stage4[2], CSPLayer)
    # blocks: max(round(n * 0.33), 1) for n = 3, 6, 6, 3 -> 1, 2, 2, 1
    counts = [len(getattr(model, f'stage{i}')[-1].blocks) for i in (1, 2, 3,
                                                                     4)]
    assert counts == [1, 2, 2, 1]
    block = model.stage2[1].blocks[0]
    assert isinstance(block, CSPNeXtBlock)
    assert block.conv1.conv.kernel_size == (3, 3)
    assert isinstance(block.conv2, DepthwiseSeparableConvModule)
    dw = block.conv2.depthwise_conv.conv
    assert dw.kernel_size == (5, 5) and dw.groups == dw.in_channels
    attention = model.stage2[1].attention
    assert isinstance(attention, ChannelAttention)
    assert isinstance(attention.global_avgpool, nn.AdaptiveAvgPool2d)
    assert isinstance(attention.act, nn.Hardsigmoid)
    # identity in the first three stages only (P5 table)
    assert [getattr(model, f'stage{i}')[-1].blocks[0].add_identity
            for i in (1, 2, 3, 4)] == [True, True, True, False]


def test_channel_attention_can_be_disabled():
    model = CSPNeXt(channel_attention=False, widen_factor=0.25)
    assert not any(isinstance(m, ChannelAttention) for m in model.modules())


def test_use_depthwise_makes_downsampling_depthwise():
    model = CSPNeXt(use_depthwise=True, widen_factor=0.25)
    assert isinstance(model.stage1[0], DepthwiseSeparableConvModule)


def test_arch_ovewrite_replaces_the_table():
    arch = [[16, 32, 1, True, False], [32, 48, 2, False, True]]
    model = CSPNeXt(arch_ovewrite=arch, out_indices=(1, 2)).eval()
    assert model.layers == ['stem', 'stage1', 'stage2']
    # the stem width follows the first entry: 16 // 2 -> 8 -> 16
    assert model.stem[2].conv.out_channels == 16
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(1, 32, 8, 8), (1, 48, 4, 4)]
    with pytest.raises(ValueError, match='arch_ovewrite'):
        CSPNeXt(arch_ovewrite=[[16, 32, 1, True]])


def test_bad_arch_is_rejected():
    with pytest.raises(ValueError, match="'P7'"):
        CSPNeXt(arch='P7')


def test_frozen_stages_and_norm_eval():
    model = CSPNeXt(widen_factor=0.25, frozen_stages=1, norm_eval=True)
    model.train()
    for name in ('stem', 'stage1'):
        layer = getattr(model, name)
        assert not layer.training
        assert not any(p.requires_grad for p in layer.parameters())
    assert all(p.requires_grad for p in model.stage2.parameters())
    assert all(not m.training for m in model.modules()
               if isinstance(m, nn.BatchNorm2d))


def test_default_init_is_kaiming_uniform_fan_in():
    # Kaiming-uniform with a = sqrt(5), fan_in: bound = sqrt(6 / ((1 + 5) *
    # fan_in)) = 1 / sqrt(fan_in) (PyTorch's default conv init).
    torch.manual_seed(0)
    model = CSPNeXt(widen_factor=0.25, deepen_factor=0.33)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.constant_(m.weight, 10.)
    model.init_weights()
    conv = model.stage3[0].conv  # 64 -> 128, 3x3: fan_in = 576
    bound = 1 / math.sqrt(conv.in_channels * 9)
    assert conv.weight.abs().max() <= bound
    assert conv.weight.abs().max() > 0.9 * bound
