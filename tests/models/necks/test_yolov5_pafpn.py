"""BaseYOLONeck dataflow and YOLOv5PAFPN.

References: spec 07 §4.1 (build order and PAN forward), §4.5 (YOLOv5PAFPN
channel rules), §9 item 14 (in = out = [8, 16, 32] keeps channels and
resolutions) and spec 04 §4 (``freeze_all``).
"""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.layers import CSPLayer
from torch.nn.modules.batchnorm import _BatchNorm

from yolokit.models.necks import BaseYOLONeck, YOLOv5PAFPN
from yolokit.registry import MODELS


class _WeightedHalves(nn.Module):
    """cat([a, b]) -> a + 2 * b; asymmetric so the concat order shows."""

    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        return a + 2 * b


class _ToyNeck(BaseYOLONeck):

    def __init__(self, *args, **kwargs):
        self.calls = []
        super().__init__(*args, **kwargs)

    def _record(self, kind, idx, module):
        self.calls.append((kind, idx))
        return module

    def build_reduce_layer(self, idx):
        return self._record('reduce', idx, nn.Identity())

    def build_upsample_layer(self, idx):
        return self._record('upsample', idx,
                            nn.Upsample(scale_factor=2, mode='nearest'))

    def build_top_down_layer(self, idx):
        return self._record('top_down', idx, _WeightedHalves())

    def build_downsample_layer(self, idx):
        return self._record('downsample', idx, nn.AvgPool2d(2))

    def build_bottom_up_layer(self, idx):
        return self._record('bottom_up', idx, _WeightedHalves())

    def build_out_layer(self, idx):
        return self._record('out', idx, nn.Identity())


def test_base_neck_is_abstract():
    with pytest.raises(TypeError):
        BaseYOLONeck([8, 16], [8, 16])  # type: ignore[abstract]


def test_build_order():
    neck = _ToyNeck([4, 4, 4], [4, 4, 4])
    assert [c for c in neck.calls if c[0] == 'reduce'] == [('reduce', 0),
                                                           ('reduce', 1),
                                                           ('reduce', 2)]
    assert [c[1] for c in neck.calls if c[0] == 'upsample'] == [2, 1]
    assert [c[1] for c in neck.calls if c[0] == 'top_down'] == [2, 1]
    assert [c[1] for c in neck.calls if c[0] == 'downsample'] == [0, 1]
    assert [c[1] for c in neck.calls if c[0] == 'bottom_up'] == [0, 1]
    assert [c[1] for c in neck.calls if c[0] == 'out'] == [0, 1, 2]
    assert [n for n, _ in neck.named_children()] == [
        'reduce_layers', 'upsample_layers', 'top_down_layers',
        'downsample_layers', 'bottom_up_layers', 'out_layers'
    ]


@pytest.mark.parametrize('cat_first', [True, False])
def test_pan_forward_by_hand(cat_first):
    torch.manual_seed(0)
    neck = _ToyNeck([4, 4, 4], [4, 4, 4], upsample_feats_cat_first=cat_first)
    x0, x1, x2 = (torch.randn(1, 4, s, s) for s in (8, 4, 2))

    def up(t):
        return F.interpolate(t, scale_factor=2, mode='nearest')

    def down(t):
        return F.avg_pool2d(t, 2)

    def fuse_top_down(upsampled, low):
        # cat([up, low]) when cat_first, else cat([low, up]); then a + 2b
        return upsampled + 2 * low if cat_first else low + 2 * upsampled

    t1 = fuse_top_down(up(x2), x1)
    t0 = fuse_top_down(up(t1), x0)
    o0 = t0
    o1 = down(o0) + 2 * t1  # always cat([downsampled, inner])
    o2 = down(o1) + 2 * x2

    outs = neck([x0, x1, x2])
    assert isinstance(outs, tuple) and len(outs) == 3
    for out, exp in zip(outs, (o0, o1, o2)):
        torch.testing.assert_close(out, exp)


def test_forward_checks_number_of_levels():
    neck = _ToyNeck([4, 4, 4], [4, 4, 4])
    with pytest.raises(AssertionError, match='expects 3 input levels'):
        neck([torch.rand(1, 4, 4, 4), torch.rand(1, 4, 2, 2)])


def test_yolov5_pafpn_keeps_channels_and_sizes():
    # spec 07 §9 item 14
    in_channels = [8, 16, 32]
    neck = YOLOv5PAFPN(in_channels, in_channels).eval()
    feats = [torch.rand(1, c, s, s) for c, s in zip(in_channels, (64, 32, 16))]
    outs = neck(feats)
    assert [tuple(o.shape) for o in outs] == [(1, 8, 64, 64), (1, 16, 32, 32),
                                              (1, 32, 16, 16)]


def test_yolov5_pafpn_layers():
    neck = YOLOv5PAFPN([256, 512, 1024], [256, 512, 1024],
                       deepen_factor=0.33,
                       widen_factor=0.5,
                       num_csp_blocks=3)
    assert neck.num_csp_blocks == 3
    assert isinstance(neck.reduce_layers[0], nn.Identity)
    assert isinstance(neck.reduce_layers[1], nn.Identity)
    reduce = neck.reduce_layers[2].conv
    assert (reduce.in_channels, reduce.out_channels) == (512, 256)
    assert all(
        isinstance(m, nn.Upsample) and m.scale_factor == 2
        and m.mode == 'nearest' for m in neck.upsample_layers)
    # top_down_layers[0] serves idx 2: CSP 512 -> 256 then 1x1 256 -> 128
    td0 = neck.top_down_layers[0]
    assert isinstance(td0, nn.Sequential) and isinstance(td0[0], CSPLayer)
    assert td0[0].main_conv.conv.in_channels == 512
    assert td0[0].final_conv.conv.out_channels == 256
    assert (td0[1].conv.in_channels, td0[1].conv.out_channels) == (256, 128)
    td1 = neck.top_down_layers[1]
    assert isinstance(td1, CSPLayer)
    assert td1.final_conv.conv.out_channels == 128
    # make_round(3, 0.33) = 1 bottleneck, without identity shortcut
    for csp in [td0[0], td1, *neck.bottom_up_layers]:
        assert len(csp.blocks) == 1
        assert not csp.blocks[0].add_identity
    ds = [(m.conv.in_channels, m.conv.out_channels, m.conv.stride)
          for m in neck.downsample_layers]
    assert ds == [(128, 128, (2, 2)), (256, 256, (2, 2))]
    bu = [(m.main_conv.conv.in_channels, m.final_conv.conv.out_channels)
          for m in neck.bottom_up_layers]
    assert bu == [(256, 256), (512, 512)]
    assert all(isinstance(m, nn.Identity) for m in neck.out_layers)
    outs = neck.eval()([
        torch.rand(1, 128, 16, 16),
        torch.rand(1, 256, 8, 8),
        torch.rand(1, 512, 4, 4)
    ])
    assert [o.shape[1] for o in outs] == [128, 256, 512]


def test_yolov5_pafpn_p6():
    in_channels = [256, 512, 768, 1024]
    neck = YOLOv5PAFPN(
        in_channels, in_channels, deepen_factor=0.33,
        widen_factor=0.25).eval()
    feats = [
        torch.rand(1, c // 4, s, s) for c, s in zip(in_channels, (16, 8, 4, 2))
    ]
    outs = neck(feats)
    assert [tuple(o.shape) for o in outs] == [(1, 64, 16, 16), (1, 128, 8, 8),
                                              (1, 192, 4, 4), (1, 256, 2, 2)]
    assert len(neck.top_down_layers) == 3 and len(neck.bottom_up_layers) == 3


def test_freeze_all():
    neck = YOLOv5PAFPN([8, 16, 32], [8, 16, 32], freeze_all=True)
    neck.train()
    assert neck.training
    assert all(not m.training for m in neck.modules()
               if isinstance(m, _BatchNorm))
    assert all(not p.requires_grad for p in neck.parameters())
    bn = neck.reduce_layers[2].bn
    mean = bn.running_mean.clone()
    neck([torch.rand(2, c, s, s) for c, s in ((8, 8), (16, 4), (32, 2))])
    torch.testing.assert_close(bn.running_mean, mean)

    neck = YOLOv5PAFPN([8, 16, 32], [8, 16, 32]).train()
    assert all(m.training for m in neck.modules())
    assert all(p.requires_grad for p in neck.parameters())


def test_init_weights():
    neck = YOLOv5PAFPN([8, 16, 32], [8, 16, 32])
    convs = [m for m in neck.modules() if isinstance(m, nn.Conv2d)]
    for conv in convs:
        nn.init.constant_(conv.weight, 3.0)
    neck.init_weights()
    for conv in convs:
        # PyTorch default conv init draws from U(-1/sqrt(fan_in), ...)
        fan_in = conv.in_channels * math.prod(conv.kernel_size)
        assert conv.weight.abs().max() <= 1 / math.sqrt(fan_in) + 1e-6

    neck = YOLOv5PAFPN([8, 16, 32], [8, 16, 32],
                       init_cfg=dict(type='Constant', layer='Conv2d', val=2.))
    neck.init_weights()
    assert all((m.weight == 2.).all() for m in neck.modules()
               if isinstance(m, nn.Conv2d))


def test_registered():
    neck = MODELS.build(
        dict(
            type='YOLOv5PAFPN',
            in_channels=[8, 16, 32],
            out_channels=[8, 16, 32]))
    assert isinstance(neck, YOLOv5PAFPN)
    assert neck.out_channels == [8, 16, 32]
