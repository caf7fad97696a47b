"""BaseBackbone mechanics (spec 06 §1.1) with a tiny hand-made subclass.

The toy stages are fixed ops whose outputs are known by hand: the stem
adds 1, stage ``i`` downsamples by 2 (average pooling) and has
``setting[1]`` output channels via a 1x1 conv.
"""
import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from yolokit.models.backbones import BaseBackbone
from yolokit.models.backbones.base_backbone import (BackboneArgumentError,
                                                    StagePlugin,
                                                    check_frozen_stages,
                                                    check_out_indices,
                                                    layer_names, parse_plugins)


class _AddOne(nn.Module):

    def forward(self, x):
        return x + 1


class _ToyBackbone(BaseBackbone):
    # in, out per stage
    arch = [[4, 8], [8, 16], [16, 32]]

    def __init__(self, **kwargs):
        kwargs.setdefault('out_indices', (1, 2, 3))  # only 3 stages
        super().__init__([list(s) for s in self.arch], **kwargs)

    def build_stem_layer(self):
        return nn.Sequential(
            nn.Conv2d(self.input_channels, 4, 1), nn.BatchNorm2d(4), _AddOne())

    def build_stage_layer(self, stage_idx, setting):
        in_c, out_c = setting
        return [
            nn.AvgPool2d(2),
            nn.Conv2d(in_c, out_c, 1),
            nn.BatchNorm2d(out_c)
        ]


class _RecordingPlugin(nn.Module):
    """Plugin given by class (mmcv's build_plugin_layer accepts classes)."""

    def __init__(self, in_channels, tag='p'):
        super().__init__()
        self.in_channels = in_channels
        self.tag = tag

    def forward(self, x):
        return x


def test_is_abstract():
    with pytest.raises(TypeError):
        BaseBackbone([[1, 2]])  # type: ignore[abstract]


def test_layer_names_and_forward_indices():
    model = _ToyBackbone(out_indices=(0, 1, 3)).eval()
    assert model.num_stages == 3
    assert model.layers == ['stem', 'stage1', 'stage2', 'stage3']
    assert [n for n, _ in model.named_children()] == model.layers
    assert all(
        isinstance(getattr(model, n), nn.Sequential) for n in model.layers[1:])
    outs = model(torch.rand(2, 3, 16, 16))
    assert isinstance(outs, tuple)
    # index 0 is the stem (16x16), stage i halves the size i times
    assert [tuple(o.shape) for o in outs] == [(2, 4, 16, 16), (2, 8, 8, 8),
                                              (2, 32, 2, 2)]


def test_attributes_are_stored():
    model = _ToyBackbone(
        deepen_factor=0.5,
        widen_factor=2.0,
        input_channels=1,
        out_indices=(1, ),
        frozen_stages=2,
        norm_cfg=dict(type='BN'),
        act_cfg=dict(type='ReLU'),
        norm_eval=True)
    assert model.deepen_factor == 0.5 and model.widen_factor == 2.0
    assert model.input_channels == 1 and model.out_indices == (1, )
    assert model.frozen_stages == 2 and model.norm_eval is True
    assert model.norm_cfg == dict(type='BN')
    assert model.act_cfg == dict(type='ReLU')
    assert model.plugins is None
    assert model.arch_setting == _ToyBackbone.arch


@pytest.mark.parametrize('out_indices', [(4, ), (-1, ), (0, 5)])
def test_out_indices_outside_range_fail(out_indices):
    # MMYOLO asserts: AssertionError; 3 stages allow range(0, 4)
    with pytest.raises(AssertionError, match='out_indices') as info:
        _ToyBackbone(out_indices=out_indices)
    assert isinstance(info.value, BackboneArgumentError)
    assert r'range(0, 4)' in str(info.value)
    assert str(tuple(out_indices)) in str(info.value)


@pytest.mark.parametrize('frozen_stages', [-2, 4, 10])
def test_frozen_stages_outside_range_raise(frozen_stages):
    # MMYOLO raises ValueError; 3 stages allow range(-1, 4)
    with pytest.raises(
            ValueError, match=r'frozen_stages must be in range\(-1, 4\)'):
        _ToyBackbone(frozen_stages=frozen_stages)
    with pytest.raises(BackboneArgumentError, match=f'got {frozen_stages}$'):
        _ToyBackbone(frozen_stages=frozen_stages)


@pytest.mark.parametrize('frozen_stages', [-1, 0, 1, 3])
def test_frozen_stages_after_train(frozen_stages):
    model = _ToyBackbone(frozen_stages=frozen_stages)
    model.train()
    for i, name in enumerate(model.layers):
        layer = getattr(model, name)
        frozen = i <= frozen_stages
        assert all(m.training != frozen for m in layer.modules()), name
        assert all(p.requires_grad != frozen for p in layer.parameters()), name
    # still frozen after switching back and forth
    model.eval().train()
    if frozen_stages >= 0:
        assert not model.stem[1].training
        assert not model.stem[0].weight.requires_grad


def test_norm_eval_keeps_bn_in_eval_mode():
    model = _ToyBackbone(norm_eval=True)
    model.train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert bns and all(not bn.training for bn in bns)
    assert model.training and model.stem[0].training
    # running statistics are not updated by a training forward
    before = [bn.running_mean.clone() for bn in bns]
    model(torch.rand(2, 3, 8, 8) * 10)
    for bn, mean in zip(bns, before):
        torch.testing.assert_close(bn.running_mean, mean)
    # without norm_eval, train() puts BN in training mode
    model = _ToyBackbone(norm_eval=False).train()
    assert all(m.training for m in model.modules()
               if isinstance(m, _BatchNorm))


def test_make_stage_plugins_selects_stages_and_keeps_order():
    plugins = [
        dict(
            cfg=dict(type=_RecordingPlugin, tag='xxx'),
            stages=(False, True, True)),
        dict(cfg=dict(type=_RecordingPlugin, tag='yyy')),  # every stage
    ]
    model = _ToyBackbone(widen_factor=0.5)
    stage0 = model.make_stage_plugins(plugins, 0, [4, 8])
    assert [p.tag for p in stage0] == ['yyy']
    stage1 = model.make_stage_plugins(plugins, 1, [8, 16])
    assert [p.tag for p in stage1] == ['xxx', 'yyy']
    # in_channels = int(setting[1] * widen_factor) (spec 06 §1.1)
    assert [p.in_channels for p in stage1] == [8, 8]
    # the caller's dicts are not modified
    assert plugins[0]['stages'] == (False, True, True)


def test_plugins_are_appended_after_stage_blocks():
    model = _ToyBackbone(plugins=[
        dict(cfg=dict(type=_RecordingPlugin), stages=(True, False, True))
    ])
    assert [len(model.stage1), len(model.stage2), len(model.stage3)] == \
        [4, 3, 4]
    assert isinstance(model.stage1[3], _RecordingPlugin)
    assert isinstance(model.stage3[3], _RecordingPlugin)
    assert model.stage3[3].in_channels == 32
    assert isinstance(model.stage3[2], nn.BatchNorm2d)


def test_plugin_stages_length_must_match():
    with pytest.raises(AssertionError, match=r'one entry per stage \(3\)'):
        _ToyBackbone(plugins=[
            dict(cfg=dict(type=_RecordingPlugin), stages=(True, False))
        ])


def test_plugin_without_cfg_raises():
    # MMYOLO's plugin['cfg'] fails with KeyError; TypeError for a non-dict
    with pytest.raises(KeyError, match=r'plugins\[1\] must be a dict'):
        _ToyBackbone(plugins=[
            dict(cfg=dict(type=_RecordingPlugin)),
            dict(stages=(True, True, True))
        ])
    with pytest.raises(TypeError, match='cfg'):
        _ToyBackbone(plugins=['CBAM'])


def test_layer_names():
    assert layer_names(4) == ['stem', 'stage1', 'stage2', 'stage3', 'stage4']
    assert layer_names(0) == ['stem']


def test_parse_plugins_normalises_entries():
    cfg_a, cfg_b = dict(type='A'), dict(type='B')
    parsed = parse_plugins(
        [dict(cfg=cfg_a, stages=[True, False]),
         dict(cfg=cfg_b)], num_stages=2)
    assert parsed == [
        StagePlugin(cfg_a, (True, False)),
        StagePlugin(cfg_b, None)
    ]
    assert [p.applies_to(1) for p in parsed] == [False, True]
    assert parse_plugins(dict(cfg=cfg_a), 2) == [StagePlugin(cfg_a, None)]
    assert parse_plugins(None, 2) == []


def test_check_helpers_accept_the_edges():
    check_out_indices((0, 3), num_stages=3)
    check_frozen_stages(-1, num_stages=3)
    check_frozen_stages(3, num_stages=3)


def test_forward_returns_layers_in_layer_order():
    # out_indices given out of order and repeated: one output per layer,
    # stem (16x16) first, stage2 (4x4) last
    model = _ToyBackbone(out_indices=(2, 0, 2)).eval()
    outs = model(torch.rand(1, 3, 16, 16))
    assert [o.shape[-1] for o in outs] == [16, 4]
