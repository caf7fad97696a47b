"""The PAN build order and the layer layout shared by the PAFPN necks.

Channel plans below are worked by hand from the layout table in
``yolokit/models/necks/pafpn_layout.py`` (spec 07 §4.2/§4.4/§4.5).
"""
import pytest
import torch
import torch.nn as nn

from yolokit.models.necks import (CSPNeXtPAFPN, YOLOv5PAFPN, YOLOv8PAFPN,
                                  YOLOXPAFPN)
from yolokit.models.necks.base_yolo_neck import (PAN_LAYER_NAMES,
                                                 NeckLevelsError,
                                                 check_out_channels,
                                                 pan_build_order)
from yolokit.models.necks.pafpn_layout import PAFPNLayout, widen_levels


def test_pan_build_order_for_three_levels():
    assert pan_build_order(3) == [('reduce_layers', 0), ('reduce_layers', 1),
                                  ('reduce_layers', 2), ('upsample_layers', 2),
                                  ('top_down_layers', 2),
                                  ('upsample_layers', 1),
                                  ('top_down_layers', 1),
                                  ('downsample_layers', 0),
                                  ('bottom_up_layers', 0),
                                  ('downsample_layers', 1),
                                  ('bottom_up_layers', 1), ('out_layers', 0),
                                  ('out_layers', 1), ('out_layers', 2)]
    assert {name for name, _ in pan_build_order(4)} == set(PAN_LAYER_NAMES)


def test_check_out_channels_and_widen_levels():
    check_out_channels('N', [8, 16], 8)
    check_out_channels('N', [8, 16], [8, 16])
    with pytest.raises(
            NeckLevelsError,
            match=r'^N: out_channels .*in_channels=\[8, 16\], but got \[8\]$'):
        check_out_channels('N', [8, 16], [8])
    # int(c * 0.375): 256 -> 96, 512 -> 192; 256 -> 96
    assert widen_levels('N', [256, 512], 256, 0.375) == ([96, 192], 96)
    with pytest.raises(TypeError, match='out_channels must be one int'):
        widen_levels('N', [256, 512], [256, 512], 1.0)


class _Probe(nn.Module):
    """Stands in for a fusion block and remembers its channels."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.channels = (in_channels, out_channels)
        self.conv = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x):
        return self.conv(x)


class _PlanNeck(PAFPNLayout):
    out_kernel_size = 3

    def __init__(self, in_channels, out_channels):
        super().__init__(in_channels, out_channels, 1.0, 1.0, False,
                         dict(type='BN'), dict(type='ReLU'), None)

    def build_fusion(self, in_channels, out_channels):
        return _Probe(in_channels, out_channels)


def test_layout_channel_plan_for_four_levels():
    neck = _PlanNeck([4, 8, 16, 32], 6)
    c = neck.reduce_layers[3].conv
    assert (c.in_channels, c.out_channels, c.kernel_size) == (32, 16, (1, 1))
    assert all(isinstance(m, nn.Identity) for m in neck.reduce_layers[:3])
    # top_down_layers[j] serves idx = 3 - j: fusion 2 c_{idx-1} -> c_{idx-1}
    # then (idx > 1) 1x1 c_{idx-1} -> c_{idx-2}
    td = neck.top_down_layers
    assert td[0][0].channels == (32, 16) and td[0][1].conv.out_channels == 8
    assert td[1][0].channels == (16, 8) and td[1][1].conv.out_channels == 4
    assert isinstance(td[2], _Probe) and td[2].channels == (8, 4)
    # bottom-up idx: fusion 2 c_idx -> c_{idx+1}
    assert [m.channels for m in neck.bottom_up_layers] == [(8, 8), (16, 16),
                                                           (32, 32)]
    assert [(m.conv.out_channels, m.conv.stride)
            for m in neck.downsample_layers] == [(4, (2, 2)), (8, (2, 2)),
                                                 (16, (2, 2))]
    assert [(m.conv.out_channels, m.conv.kernel_size)
            for m in neck.out_layers] == [(6, (3, 3))] * 4
    outs = neck.eval()([
        torch.rand(1, c, 16 // 2**i, 16 // 2**i)
        for i, c in enumerate([4, 8, 16, 32])
    ])
    assert [tuple(o.shape) for o in outs] == [(1, 6, 16, 16), (1, 6, 8, 8),
                                              (1, 6, 4, 4), (1, 6, 2, 2)]


def test_layout_needs_two_levels():
    with pytest.raises(NeckLevelsError, match='at least 2 input levels'):
        _PlanNeck([8], 8)


@pytest.mark.parametrize('neck_type', [YOLOv5PAFPN, YOLOv8PAFPN])
def test_list_out_channels_siblings_raise_the_same_type(neck_type):
    # MMYOLO asserts: AssertionError (and ValueError, yolokit's old type)
    with pytest.raises(AssertionError, match='out_channels'):
        neck_type([8, 16, 32], [8, 16])
    with pytest.raises(ValueError, match=r'in_channels=\[8, 16, 32\]'):
        neck_type([8, 16, 32], [8, 16])


@pytest.mark.parametrize('neck_type', [YOLOXPAFPN, CSPNeXtPAFPN])
def test_single_out_channels_siblings_raise_the_same_type(neck_type):
    with pytest.raises(TypeError, match='out_channels must be one int'):
        neck_type([8, 16, 32], [8, 16, 32])


@pytest.mark.parametrize('neck', [
    YOLOv5PAFPN([8, 16, 32], [8, 16, 32]),
    YOLOv8PAFPN([8, 16, 32], [8, 16, 32]),
    YOLOXPAFPN([8, 16, 32], 8),
    CSPNeXtPAFPN([8, 16, 32], 8)
])
def test_wrong_number_of_inputs_is_the_same_error(neck):
    with pytest.raises(NeckLevelsError, match='expects 3 input levels'):
        neck([torch.rand(1, 8, 4, 4)])
