"""YOLOXCSPDarknet: signature, shapes, layout, depthwise, freezing, plugins.

References: spec 06 §1.4 (signature with ``plugins`` second and the
``spp_kernal_sizes`` spelling, docstring example for a 416 input, P5 arch
table ``[64,128,3,T,F], [128,256,9,T,F], [256,512,9,T,F], [512,1024,3,F,T]``,
Focus stem, SPP *before* the CSP layer in the last stage).
"""
import inspect

import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmdet.models.backbones.csp_darknet import Focus
from mmdet.models.layers import CSPLayer
from torch.nn.modules.batchnorm import _BatchNorm

from yolokit.models import YOLOXCSPDarknet
from yolokit.models.layers import SPPFBottleneck
from yolokit.registry import MODELS

SMALL = dict(deepen_factor=0.33, widen_factor=0.25)


def test_signature_defaults():
    params = inspect.signature(YOLOXCSPDarknet).parameters
    assert list(params) == [
        'arch', 'plugins', 'deepen_factor', 'widen_factor', 'input_channels',
        'out_indices', 'frozen_stages', 'use_depthwise', 'spp_kernal_sizes',
        'norm_cfg', 'act_cfg', 'norm_eval', 'init_cfg'
    ]
    assert params['spp_kernal_sizes'].default == (5, 9, 13)
    assert params['use_depthwise'].default is False
    assert params['norm_cfg'].default == dict(
        type='BN', momentum=0.03, eps=0.001)
    assert params['act_cfg'].default == dict(type='SiLU', inplace=True)
    assert MODELS.get('YOLOXCSPDarknet') is YOLOXCSPDarknet


def test_docstring_example_416():
    model = YOLOXCSPDarknet()
    model.eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 416, 416))
    assert [tuple(o.shape) for o in outs] == [(1, 256, 52, 52),
                                              (1, 512, 26, 26),
                                              (1, 1024, 13, 13)]


def test_layout_yolox_s():
    model = YOLOXCSPDarknet(deepen_factor=0.33, widen_factor=0.5)
    assert isinstance(model.stem, Focus)
    assert model.stem.conv.conv.in_channels == 12  # 3 x 4 slices
    assert model.stem.conv.conv.out_channels == 32
    assert model.stem.conv.conv.kernel_size == (3, 3)
    expected = [(32, 64, 1, True), (64, 128, 3, True), (128, 256, 3, True),
                (256, 512, 1, False)]
    for i, (c_in, c_out, n, identity) in enumerate(expected):
        stage = getattr(model, f'stage{i + 1}')
        down = stage[0]
        assert isinstance(down, ConvModule)
        assert (down.conv.in_channels, down.conv.out_channels,
                down.conv.stride) == (c_in, c_out, (2, 2))
        csp = stage[-1]
        assert isinstance(csp, CSPLayer)
        assert len(csp.blocks) == n
        assert csp.blocks[0].add_identity is identity
    # the SPP sits between the downsampling conv and the CSP layer
    assert len(model.stage4) == 3
    spp = model.stage4[1]
    assert isinstance(spp, SPPFBottleneck)
    assert [p.kernel_size for p in spp.poolings] == [5, 9, 13]
    assert spp.conv2.conv.in_channels == 4 * 256
    assert all(len(getattr(model, f'stage{i}')) == 2 for i in (1, 2, 3))


def test_custom_spp_kernel_sizes():
    model = YOLOXCSPDarknet(spp_kernal_sizes=(3, 7), **SMALL)
    spp = model.stage4[1]
    assert [p.kernel_size for p in spp.poolings] == [3, 7]
    model.eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    assert outs[-1].shape == (1, 256, 2, 2)


def test_depthwise_only_in_downsampling_convs():
    """MMYOLO's YOLOX-nano layout: depthwise-separable stride-2 convs, dense
    convs inside the CSP blocks."""
    model = YOLOXCSPDarknet(use_depthwise=True, **SMALL)
    for i in range(1, 5):
        stage = getattr(model, f'stage{i}')
        assert isinstance(stage[0], DepthwiseSeparableConvModule)
        conv2 = stage[-1].blocks[0].conv2
        assert isinstance(conv2, ConvModule)
        assert conv2.conv.groups == 1
    model.eval()
    with torch.no_grad():
        outs = model(torch.rand(2, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(2, 64, 8, 12), (2, 128, 4, 6),
                                              (2, 256, 2, 3)]


def test_out_indices_include_stem():
    model = YOLOXCSPDarknet(out_indices=(0, 1, 4), **SMALL).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 16, 32, 32), (1, 32, 16, 16),
                                              (1, 256, 2, 2)]


def test_invalid_arguments():
    with pytest.raises(ValueError, match='arch'):
        YOLOXCSPDarknet(arch='P6')
    with pytest.raises(ValueError, match='frozen_stages'):
        YOLOXCSPDarknet(frozen_stages=5, **SMALL)
    with pytest.raises(AssertionError, match='out_indices'):
        YOLOXCSPDarknet(out_indices=(5, ), **SMALL)


def test_frozen_stages_and_norm_eval():
    model = YOLOXCSPDarknet(frozen_stages=2, norm_eval=False, **SMALL)
    model.train()
    for name in ('stem', 'stage1', 'stage2'):
        module = getattr(model, name)
        assert not module.training
        assert all(not p.requires_grad for p in module.parameters())
    for name in ('stage3', 'stage4'):
        module = getattr(model, name)
        assert module.training
        assert all(p.requires_grad for p in module.parameters())

    model = YOLOXCSPDarknet(norm_eval=True, **SMALL)
    model.train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert bns and all(not m.training for m in bns)


def test_plugins_get_the_real_stage_channels():
    """widen 0.375 (YOLOX-tiny): make_divisible(128, 0.375) = 48, which is
    what the plugin after stage 1 must receive."""
    plugin = dict(cfg=dict(type='CBAM'), stages=(True, False, False, True))
    model = YOLOXCSPDarknet(
        deepen_factor=0.33, widen_factor=0.375, plugins=[plugin])
    assert len(model.stage1) == 3 and len(model.stage4) == 4
    assert type(model.stage1[-1]).__name__ == 'CBAM'
    model.eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [96, 192, 384]


def test_gradients_flow():
    model = YOLOXCSPDarknet(**SMALL)
    model.train()
    outs = model(torch.rand(2, 3, 64, 64))
    sum(o.mean() for o in outs).backward()
    assert model.stem.conv.conv.weight.grad is not None
    assert isinstance(model.stage1, nn.Sequential)
