"""YOLOXPAFPN: signature, output shapes, layer layout, depthwise, freezing.

References: spec 07 §4.4 (signature with num_csp_blocks=3, widening
``int(c * widen)``, ``round(n * deepen)`` blocks, reduce/top-down/
downsample/bottom-up/out layers) and §6 item 15 (in [8, 16, 32], out 24 ->
three outputs with ``int(24 * widen)`` channels at the input resolutions).
"""
import inspect

import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmdet.models.layers import CSPLayer
from torch.nn.modules.batchnorm import _BatchNorm

from yolokit.models import YOLOXPAFPN
from yolokit.registry import MODELS


def _inputs(channels, batch=1, base=16):
    return [
        torch.rand(batch, c, base // 2**i, base // 2**i)
        for i, c in enumerate(channels)
    ]


def test_signature_defaults():
    params = inspect.signature(YOLOXPAFPN).parameters
    assert list(params) == [
        'in_channels', 'out_channels', 'deepen_factor', 'widen_factor',
        'num_csp_blocks', 'use_depthwise', 'freeze_all', 'norm_cfg', 'act_cfg',
        'init_cfg'
    ]
    assert params['num_csp_blocks'].default == 3
    assert params['use_depthwise'].default is False
    assert params['norm_cfg'].default == dict(
        type='BN', momentum=0.03, eps=0.001)
    assert MODELS.get('YOLOXPAFPN') is YOLOXPAFPN


@pytest.mark.parametrize('widen', [1.0, 0.5])
def test_output_shapes(widen):
    in_channels = [8, 16, 32]
    neck = YOLOXPAFPN(in_channels, 24, widen_factor=widen).eval()
    feats = _inputs([int(c * widen) for c in in_channels], batch=2)
    with torch.no_grad():
        outs = neck(feats)
    assert len(outs) == 3
    for feat, out in zip(feats, outs):
        assert out.shape == (2, int(24 * widen), *feat.shape[2:])


def test_layer_layout_yolox_s():
    neck = YOLOXPAFPN([256, 512, 1024],
                      256,
                      deepen_factor=0.33,
                      widen_factor=0.5)
    assert neck.in_channels == [128, 256, 512]
    assert neck.num_csp_blocks == 1
    assert isinstance(neck.reduce_layers[0], nn.Identity)
    assert isinstance(neck.reduce_layers[1], nn.Identity)
    reduce = neck.reduce_layers[2].conv
    assert (reduce.in_channels, reduce.out_channels,
            reduce.kernel_size) == (512, 256, (1, 1))
    assert all(
        isinstance(m, nn.Upsample) and m.mode == 'nearest'
        for m in neck.upsample_layers)
    # top-down from stride 32: CSP(512 -> 256) + 1x1 conv (256 -> 128)
    csp, conv = neck.top_down_layers[0]
    assert isinstance(csp, CSPLayer)
    assert csp.main_conv.conv.in_channels == 512
    assert csp.final_conv.conv.out_channels == 256
    assert (conv.conv.in_channels, conv.conv.out_channels) == (256, 128)
    last = neck.top_down_layers[1]
    assert isinstance(last, CSPLayer)
    assert (last.main_conv.conv.in_channels,
            last.final_conv.conv.out_channels) == (256, 128)
    for i, (c_in, c_out) in enumerate([(128, 256), (256, 512)]):
        down = neck.downsample_layers[i]
        assert isinstance(down, ConvModule)
        assert (down.conv.in_channels, down.conv.out_channels,
                down.conv.stride) == (c_in, c_in, (2, 2))
        up = neck.bottom_up_layers[i]
        assert (up.main_conv.conv.in_channels,
                up.final_conv.conv.out_channels) == (2 * c_in, c_out)
    csp_layers = [m for m in neck.modules() if isinstance(m, CSPLayer)]
    assert len(csp_layers) == 4
    assert all(not block.add_identity for m in csp_layers
               for block in m.blocks)
    for i, c_in in enumerate([128, 256, 512]):
        out = neck.out_layers[i].conv
        assert (out.in_channels, out.out_channels) == (c_in, 128)


def test_deepen_factor_rounds_block_count():
    neck = YOLOXPAFPN([8, 16, 32], 8, deepen_factor=0.67)
    assert neck.num_csp_blocks == 2
    assert len(neck.bottom_up_layers[0].blocks) == 2


def test_depthwise_downsampling():
    neck = YOLOXPAFPN([16, 32, 64], 16, use_depthwise=True).eval()
    assert all(
        isinstance(m, DepthwiseSeparableConvModule)
        for m in neck.downsample_layers)
    with torch.no_grad():
        outs = neck(_inputs([16, 32, 64]))
    assert [tuple(o.shape) for o in outs] == [(1, 16, 16, 16), (1, 16, 8, 8),
                                              (1, 16, 4, 4)]


def test_freeze_all():
    neck = YOLOXPAFPN([8, 16, 32], 8, freeze_all=True)
    neck.train()
    assert all(not p.requires_grad for p in neck.parameters())
    assert all(not m.training for m in neck.modules()
               if isinstance(m, _BatchNorm))


def test_wrong_number_of_levels():
    with pytest.raises(ValueError, match='3 input levels'):
        YOLOXPAFPN([8, 16], 8)
    neck = YOLOXPAFPN([8, 16, 32], 8)
    with pytest.raises(AssertionError, match='3 input levels'):
        neck(_inputs([8, 16]))
