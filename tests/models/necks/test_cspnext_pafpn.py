"""CSPNeXtPAFPN (RTMDet neck).

References: spec 07 §4.2 (signature, layer rules, upstream test: in
[8, 16, 32], out 24 -> 24 channels per level, sizes preserved) and §4.1
(BaseYOLONeck build order / forward). The functional reference is
MMDetection 3.3's ``CSPNeXtPAFPN``, which computes the same network with
other module names (see tools/model_converters/rtmdet_to_yolokit.py).
"""
import importlib.util
import inspect
import math
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmdet.models.layers import CSPLayer
from mmdet.models.necks import CSPNeXtPAFPN as MMDetCSPNeXtPAFPN

from yolokit.models import CSPNeXtPAFPN

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))


def _converter():
    spec = importlib.util.spec_from_file_location(
        'rtmdet_to_yolokit',
        osp.join(REPO_ROOT, 'tools', 'model_converters',
                 'rtmdet_to_yolokit.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_signature_matches_spec():
    params = inspect.signature(CSPNeXtPAFPN.__init__).parameters
    assert list(params)[1:] == [
        'in_channels', 'out_channels', 'deepen_factor', 'widen_factor',
        'num_csp_blocks', 'freeze_all', 'use_depthwise', 'expand_ratio',
        'upsample_cfg', 'conv_cfg', 'norm_cfg', 'act_cfg', 'init_cfg'
    ]
    assert params['num_csp_blocks'].default == 3
    assert params['norm_cfg'].default == dict(type='BN')
    assert params['act_cfg'].default == dict(type='SiLU', inplace=True)
    assert params['upsample_cfg'].default == dict(
        scale_factor=2, mode='nearest')
    assert params['init_cfg'].default['a'] == math.sqrt(5)


def test_upstream_example_shapes():
    # spec 07 §4.2: in [8, 16, 32], out 24, sizes 64/32/16 -> 24 channels.
    neck = CSPNeXtPAFPN(in_channels=[8, 16, 32], out_channels=24).eval()
    feats = [torch.rand(1, c, s, s) for c, s in zip([8, 16, 32], [64, 32,
                                                                  16])]
    with torch.no_grad():
        outs = neck(feats)
    assert [tuple(o.shape) for o in outs] == [(1, 24, 64, 64),
                                              (1, 24, 32, 32),
                                              (1, 24, 16, 16)]


def test_layer_structure():
    neck = CSPNeXtPAFPN(
        in_channels=[256, 512, 1024],
        out_channels=256,
        deepen_factor=0.33,
        widen_factor=0.5)
    # widened channels: 128, 256, 512; blocks: round(3 * 0.33) = 1
    assert neck.in_channels == [128, 256, 512] and neck.out_channels == 128
    assert isinstance(neck.reduce_layers[0], nn.Identity)
    assert isinstance(neck.reduce_layers[1], nn.Identity)
    reduce = neck.reduce_layers[2].conv
    assert (reduce.in_channels, reduce.out_channels,
            reduce.kernel_size) == (512, 256, (1, 1))
    top0 = neck.top_down_layers[0]
    assert isinstance(top0, nn.Sequential) and isinstance(top0[0], CSPLayer)
    assert (top0[1].conv.in_channels, top0[1].conv.out_channels) == (256, 128)
    assert isinstance(neck.top_down_layers[1], CSPLayer)
    assert len(neck.top_down_layers[1].blocks) == 1
    for layer in neck.downsample_layers:
        assert layer.conv.stride == (2, 2) and layer.conv.kernel_size == (3,
                                                                          3)
    for layer in neck.out_layers:
        assert layer.conv.kernel_size == (3, 3)
        assert layer.conv.out_channels == 128
    # no identity in the neck's CSP layers, CSPNeXt blocks, no attention
    for csp in [top0[0], neck.top_down_layers[1], *neck.bottom_up_layers]:
        assert not csp.blocks[0].add_identity
        assert type(csp.blocks[0]).__name__ == 'CSPNeXtBlock'
        assert not hasattr(csp, 'attention')


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match='at least 2'):
        CSPNeXtPAFPN(in_channels=[8], out_channels=8)
    with pytest.raises(TypeError, match='out_channels'):
        CSPNeXtPAFPN(in_channels=[8, 16], out_channels=[8, 16])


@pytest.mark.parametrize('in_channels', [[16, 32, 64], [16, 24, 32, 48]])
def test_same_function_as_mmdetection(in_channels):
    """P5 and P6 necks equal MMDetection's after renaming the weights."""
    torch.manual_seed(0)
    reference = MMDetCSPNeXtPAFPN(
        in_channels=in_channels,
        out_channels=16,
        num_csp_blocks=1,
        norm_cfg=dict(type='BN'),
        act_cfg=dict(type='SiLU', inplace=True))
    for m in reference.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    neck = CSPNeXtPAFPN(
        in_channels=in_channels, out_channels=16, num_csp_blocks=1)
    state = {
        'neck.' + k: v
        for k, v in reference.state_dict().items()
    }
    converted = _converter().convert_state_dict(state)
    neck.load_state_dict(
        {k[len('neck.'):]: v
         for k, v in converted.items()}, strict=True)
    reference.eval()
    neck.eval()
    sizes = [32 // 2**i for i in range(len(in_channels))]
    feats = [torch.randn(2, c, s, s) for c, s in zip(in_channels, sizes)]
    with torch.no_grad():
        expected = reference(feats)
        actual = neck(feats)
    for e, a in zip(expected, actual):
        torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-5)


def test_freeze_all():
    neck = CSPNeXtPAFPN(in_channels=[8, 16, 32], out_channels=8,
                        freeze_all=True)
    neck.train()
    assert not any(p.requires_grad for p in neck.parameters())
    assert all(not m.training for m in neck.modules()
               if isinstance(m, nn.BatchNorm2d))
