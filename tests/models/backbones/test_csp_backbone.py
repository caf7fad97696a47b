"""The CSP stage builder shared by YOLOv5/YOLOv8/YOLOX/CSPNeXt.

Expected channels are worked by hand from the scaling rules of spec 06
(``make_divisible``: ceil to a multiple of 8; CSPNeXt: ``int(c * w)``).
"""
import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.models.layers import CSPLayer

from yolokit.models import (CSPNeXt, YOLOv5CSPDarknet, YOLOv8CSPDarknet,
                            YOLOXCSPDarknet)
from yolokit.models.backbones.base_backbone import (BackboneArgumentError,
                                                    UnknownArchError)
from yolokit.models.backbones.csp_backbone import (CSPStageBackbone, StageSpec,
                                                   read_stage_specs,
                                                   select_arch, stage_layout)
from yolokit.models.layers import SPPFBottleneck
from yolokit.models.utils.scaling import DIVISIBLE_SCALING, TRUNCATED_SCALING

SIBLINGS = [YOLOv5CSPDarknet, YOLOv8CSPDarknet, YOLOXCSPDarknet, CSPNeXt]
TINY = dict(deepen_factor=0.33, widen_factor=0.25)


def test_stage_spec_scaled_by_hand():
    spec = StageSpec(128, 256, 9, True, False)
    # ceil(128 * 0.33 / 8) * 8 = ceil(5.28) * 8 = 48; 256 -> ceil(10.56) =
    # 11 -> 88; round(9 * 0.33) = round(2.97) = 3
    yolo = spec.scaled(DIVISIBLE_SCALING, 0.33, 0.33)
    assert yolo == StageSpec(48, 88, 3, True, False)
    # int(42.24) = 42, int(84.48) = 84
    rtmdet = spec.scaled(TRUNCATED_SCALING, 0.33, 0.33)
    assert rtmdet == StageSpec(42, 84, 3, True, False)


def test_read_stage_specs_checks_rows():
    rows = read_stage_specs([[8, 16, 1, False, True]], 't')
    assert rows == [StageSpec(8, 16, 1, False, True)]
    with pytest.raises(ValueError, match=r'table\[1\] must be'):
        read_stage_specs([[8, 16, 1, False, True], [16, 32, 1]], 'table')
    with pytest.raises(TypeError, match='table must be a list'):
        read_stage_specs('P5', 'table')


def test_select_arch_copies_and_names_the_choices():
    table = {'P5': [[8, 16, 1, True, False]]}
    rows = select_arch('Net', table, 'P5')
    rows[0] = None
    assert table == {'P5': [[8, 16, 1, True, False]]}
    with pytest.raises(UnknownArchError) as info:
        select_arch('Net', table, 'P6')
    assert str(info.value) == ("Net: `arch` must be one of ['P5'], but got "
                               "'P6'")


@pytest.mark.parametrize('use_spp, spp_first, expected', [
    (False, False, ('csp', )),
    (False, True, ('csp', )),
    (True, False, ('csp', 'spp')),
    (True, True, ('spp', 'csp')),
])
def test_stage_layout(use_spp, spp_first, expected):
    assert stage_layout(use_spp, spp_first) == expected


class _TinyCSP(CSPStageBackbone):
    """Two stages of a made-up table; stem 1x1 to the first row's width."""
    spp_before_csp = True

    def __init__(self, **kwargs):
        specs = read_stage_specs(
            [[8, 16, 1, True, False], [16, 20, 2, False, True]], 'tiny')
        super().__init__(specs, out_indices=(1, 2), **kwargs)

    def build_stem_layer(self):
        return nn.Conv2d(self.input_channels,
                         self.scale_stage(self.arch_setting[0]).in_channels, 1)


def test_builder_layout_channels_and_plugins():
    model = _TinyCSP(
        norm_cfg=dict(type='BN'),
        act_cfg=dict(type='ReLU'),
        widen_factor=0.5,
        plugins=[dict(cfg=dict(type='CBAM', reduce_ratio=2))])
    # widths: make_divisible(8 * 0.5) = 8, 16 * 0.5 -> 8, 20 * 0.5 = 10 ->
    # 16; stage2 is [conv, SPPF, C3] because spp_before_csp
    assert [type(m) for m in model.stage2] == [
        ConvModule, SPPFBottleneck, CSPLayer,
        type(model.stage1[-1])
    ]
    down = model.stage2[0].conv
    assert (down.in_channels, down.out_channels, down.stride) == (8, 16, (2,
                                                                          2))
    assert len(model.stage2[2].blocks) == 2  # make_round(2, 1.0)
    assert not model.stage2[2].blocks[0].add_identity
    # the plugins get the scaled widths (8 and 16), not int(c * widen)
    assert [
        getattr(model,
                f'stage{i}')[-1].channel_attention.fc[0].conv.in_channels
        for i in (1, 2)
    ] == [8, 16]
    outs = model.eval()(torch.rand(1, 3, 16, 16))
    assert [tuple(o.shape) for o in outs] == [(1, 8, 8, 8), (1, 16, 4, 4)]


@pytest.mark.parametrize('backbone', SIBLINGS)
def test_siblings_raise_the_same_types(backbone):
    with pytest.raises(KeyError, match=r"`arch` must be one of .* 'P9'"):
        backbone(arch='P9', **TINY)
    with pytest.raises(AssertionError, match=r'out_indices .*range\(0, 5\)'):
        backbone(out_indices=(5, ), **TINY)
    with pytest.raises(ValueError, match=r'frozen_stages .*range\(-1, 5\)'):
        backbone(frozen_stages=5, **TINY)
    with pytest.raises(BackboneArgumentError, match='one entry per stage'):
        backbone(
            plugins=[dict(cfg=dict(type='CBAM'), stages=(True, ))], **TINY)
