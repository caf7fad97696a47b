"""YOLOv8PAFPN (spec 07 section 4.11)."""
import pytest
import torch
import torch.nn as nn

from yolokit.models.layers import CSPLayerWithTwoConv
from yolokit.models.necks import YOLOv8PAFPN
from yolokit.registry import MODELS


def _inputs(channels, size=16, batch=1):
    return [
        torch.rand(batch, c, size // 2**i, size // 2**i)
        for i, c in enumerate(channels)
    ]


def test_spec_example_shapes():
    channels = [8, 16, 32]
    neck = YOLOv8PAFPN(in_channels=channels, out_channels=channels).eval()
    with torch.no_grad():
        outs = neck(_inputs(channels))
    assert len(outs) == 3
    for i, out in enumerate(outs):
        assert out.shape == (1, channels[i], 16 // 2**i, 16 // 2**i)


def test_structure():
    neck = MODELS.build(
        dict(
            type='YOLOv8PAFPN',
            in_channels=[256, 512, 1024],
            out_channels=[256, 512, 1024],
            deepen_factor=0.33,
            widen_factor=0.25))
    # no reduce convs: YOLOv8 drops YOLOv5's two 1x1 connection convs
    assert all(isinstance(m, nn.Identity) for m in neck.reduce_layers)
    assert all(isinstance(m, nn.Identity) for m in neck.out_layers)
    for layer in list(neck.top_down_layers) + list(neck.bottom_up_layers):
        assert isinstance(layer, CSPLayerWithTwoConv)
        assert len(layer.blocks) == 1  # make_round(3, 0.33)
        assert not any(b.add_identity for b in layer.blocks)
    # top-down 0 fuses up(level 2) + level 1: (512 + 1024) * 0.25 -> 128
    td0 = neck.top_down_layers[0]
    assert td0.main_conv.conv.in_channels == 384
    assert td0.final_conv.conv.out_channels == 128
    td1 = neck.top_down_layers[1]
    assert td1.main_conv.conv.in_channels == 192
    assert td1.final_conv.conv.out_channels == 64
    # downsampling convs keep the channels and halve the size
    assert neck.downsample_layers[0].conv.stride == (2, 2)
    assert neck.downsample_layers[1].conv.out_channels == 128
    assert neck.bottom_up_layers[1].main_conv.conv.in_channels == 384
    assert neck.bottom_up_layers[1].final_conv.conv.out_channels == 256
    with torch.no_grad():
        outs = neck.eval()(_inputs([64, 128, 256], size=32, batch=2))
    assert [tuple(o.shape) for o in outs] == [(2, 64, 32, 32),
                                              (2, 128, 16, 16), (2, 256, 8, 8)]


def test_freeze_all():
    neck = YOLOv8PAFPN(
        in_channels=[8, 16, 32], out_channels=[8, 16, 32], freeze_all=True)
    neck.train()
    assert all(not p.requires_grad for p in neck.parameters())
    assert all(not m.training for m in neck.modules()
               if isinstance(m, nn.BatchNorm2d))


def test_int_out_channels_and_bad_length():
    neck = YOLOv8PAFPN(in_channels=[8, 8, 8], out_channels=8).eval()
    with torch.no_grad():
        outs = neck(_inputs([8, 8, 8]))
    assert [o.shape[1] for o in outs] == [8, 8, 8]
    with pytest.raises(ValueError, match='out_channels'):
        YOLOv8PAFPN(in_channels=[8, 16, 32], out_channels=[8, 16])
