"""YOLOv5CSPDarknet: shapes, scaling, freezing, plugins, init.

References: spec 06 §1.5 (docstring example shapes for a 416 input, P5/P6
arch tables, yolov5s scaling: stem 32, stages 64/128/256/512, blocks
1/2/3/1), spec 02 §1.2 (P6 outputs at strides 8/16/32/64 with 256/512/768/
1024 channels), spec 04 §3/§4 (plugins, frozen_stages).
"""
import copy
import inspect
import math
import os
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from mmdet.models.layers import CSPLayer
from torch.nn.modules.batchnorm import _BatchNorm

from yolokit.models.backbones import YOLOv5CSPDarknet
from yolokit.models.backbones.csp_backbone import StageSpec
from yolokit.models.layers import SPPFBottleneck
from yolokit.models.plugins import CBAM
from yolokit.registry import MODELS

TINY = dict(deepen_factor=0.33, widen_factor=0.25)


def test_signature_defaults():
    params = inspect.signature(YOLOv5CSPDarknet).parameters
    assert list(params) == [
        'arch', 'plugins', 'deepen_factor', 'widen_factor', 'input_channels',
        'out_indices', 'frozen_stages', 'norm_cfg', 'act_cfg', 'norm_eval',
        'init_cfg'
    ]
    assert params['arch'].default == 'P5'
    assert params['out_indices'].default == (2, 3, 4)
    assert params['norm_cfg'].default == dict(
        type='BN', momentum=0.03, eps=0.001)
    assert params['act_cfg'].default == dict(type='SiLU', inplace=True)


def test_docstring_example_416():
    model = YOLOv5CSPDarknet().eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 416, 416))
    assert [tuple(o.shape) for o in outs] == [(1, 256, 52, 52),
                                              (1, 512, 26, 26),
                                              (1, 1024, 13, 13)]


def test_p5_arch_layout_full_size():
    model = YOLOv5CSPDarknet()
    assert model.layers == ['stem', 'stage1', 'stage2', 'stage3', 'stage4']
    stem = model.stem.conv
    assert (stem.in_channels, stem.out_channels, stem.kernel_size, stem.stride,
            stem.padding) == (3, 64, (6, 6), (2, 2), (2, 2))
    expected = [(64, 128, 3), (128, 256, 6), (256, 512, 9), (512, 1024, 3)]
    for i, (c_in, c_out, n) in enumerate(expected):
        stage = getattr(model, f'stage{i + 1}')
        conv, csp = stage[0], stage[1]
        assert (conv.conv.in_channels, conv.conv.out_channels) == (c_in, c_out)
        assert conv.conv.stride == (2, 2) and conv.conv.kernel_size == (3, 3)
        assert isinstance(csp, CSPLayer) and len(csp.blocks) == n
        assert csp.blocks[0].add_identity
        # SPPF only after the CSP layer of the last stage
        assert len(stage) == (3 if i == 3 else 2)
    assert isinstance(model.stage4[2], SPPFBottleneck)
    assert model.stage4[2].kernel_sizes == 5
    # default norm/act from the signature
    assert model.stem.bn.momentum == 0.03 and model.stem.bn.eps == 0.001
    assert isinstance(model.stem.activate, nn.SiLU)


def test_yolov5s_scaling():
    model = YOLOv5CSPDarknet(deepen_factor=0.33, widen_factor=0.5)
    assert model.stem.conv.out_channels == 32
    outs = [
        getattr(model, f'stage{i}')[0].conv.out_channels for i in range(1, 5)
    ]
    blocks = [len(getattr(model, f'stage{i}')[1].blocks) for i in range(1, 5)]
    assert outs == [64, 128, 256, 512]
    assert blocks == [1, 2, 3, 1]


def test_p6_strides_and_channels():
    model = YOLOv5CSPDarknet(
        arch='P6', out_indices=(2, 3, 4, 5), **TINY).eval()
    assert model.layers[-1] == 'stage5'
    assert isinstance(model.stage5[2], SPPFBottleneck)
    assert len(model.stage4) == 2  # no SPPF in stage4 of P6
    x = torch.rand(1, 3, 256, 256)
    outs = model(x)
    strides = [256 // o.shape[-1] for o in outs]
    assert strides == [8, 16, 32, 64]
    # 256/512/768/1024 scaled by 0.25
    assert [o.shape[1] for o in outs] == [64, 128, 192, 256]


def test_out_indices_include_stem():
    model = YOLOv5CSPDarknet(out_indices=(0, 1), **TINY).eval()
    outs = model(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 16, 32, 32), (1, 32, 16, 16)]


def test_bad_arguments():
    # MMYOLO's table look-up raises KeyError; yolokit's error is also a
    # ValueError and lists the allowed values
    with pytest.raises(
            KeyError,
            match=r"`arch` must be one of \['P5', "
            r"'P6'\], but got 'P7'"):
        YOLOv5CSPDarknet(arch='P7')
    with pytest.raises(ValueError, match='arch'):
        YOLOv5CSPDarknet(arch='P7')
    with pytest.raises(ValueError, match='frozen_stages'):
        YOLOv5CSPDarknet(frozen_stages=5, **TINY)
    YOLOv5CSPDarknet(arch='P6', frozen_stages=5, **TINY)  # 5 stages: valid
    with pytest.raises(AssertionError, match='out_indices'):
        YOLOv5CSPDarknet(out_indices=(5, ), **TINY)


def test_arch_table_is_read_into_stage_specs_and_not_shared():
    table = copy.deepcopy(YOLOv5CSPDarknet.arch_settings)
    model = YOLOv5CSPDarknet(arch='P6', **TINY)
    # the P6 rows of spec 06 §1.5, unscaled
    assert model.arch_setting[3] == StageSpec(512, 768, 3, True, False)
    assert model.arch_setting[4].use_spp
    model.arch_setting[0] = None
    assert YOLOv5CSPDarknet.arch_settings == table


@pytest.mark.parametrize('frozen_stages', [0, 1, 4])
def test_frozen_stages(frozen_stages):
    model = YOLOv5CSPDarknet(frozen_stages=frozen_stages, **TINY)
    model.train()
    for i, name in enumerate(model.layers):
        layer = getattr(model, name)
        frozen = i <= frozen_stages
        for m in layer.modules():
            assert m.training is not frozen, (name, m)
        for p in layer.parameters():
            assert p.requires_grad is not frozen, name
    # a frozen stem keeps its BN statistics during a training forward
    mean = model.stem.bn.running_mean.clone()
    model(torch.rand(2, 3, 64, 64))
    torch.testing.assert_close(model.stem.bn.running_mean, mean)


def test_norm_eval():
    model = YOLOv5CSPDarknet(norm_eval=True, **TINY)
    model.train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert all(not bn.training for bn in bns)
    assert model.stage1[0].conv.training
    assert all(p.requires_grad for p in model.parameters())
    model = YOLOv5CSPDarknet(**TINY).train()
    assert all(m.training for m in model.modules())


def test_plugins_placement_and_channels():
    plugins = [
        dict(cfg=dict(type='CBAM'), stages=(False, False, True, True)),
        dict(cfg=dict(type='CBAM', reduce_ratio=8)),
    ]
    model = YOLOv5CSPDarknet(plugins=plugins, **TINY)
    base_len = [2, 2, 2, 3]  # conv + CSP (+ SPPF in stage4)
    extra = [1, 1, 2, 2]
    for i in range(4):
        stage = getattr(model, f'stage{i + 1}')
        assert len(stage) == base_len[i] + extra[i]
        tail = list(stage)[base_len[i]:]
        assert all(isinstance(m, CBAM) for m in tail)
        # the per-stage plugin order follows the config order
        ratios = [m.channel_attention.fc[0].conv.out_channels for m in tail]
        c = stage[0].conv.out_channels
        expected = ([c // 16] if extra[i] == 2 else []) + [c // 8]
        assert ratios == expected
    outs = model.eval()(torch.rand(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [64, 128, 256]


def test_plugin_channels_follow_make_divisible():
    # widen 0.33: stage1 has make_divisible(128, 0.33) = 48 channels while
    # int(128 * 0.33) = 42; the plugin must get the real channel count.
    model = YOLOv5CSPDarknet(
        widen_factor=0.33,
        deepen_factor=0.33,
        plugins=[dict(cfg=dict(type='CBAM', reduce_ratio=4))])
    assert model.stage1[-1].channel_attention.fc[0].conv.in_channels == 48
    outs = model.eval()(torch.rand(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [88, 176, 344]


@pytest.mark.parametrize('cfg', [
    dict(
        type='GeneralizedAttention',
        spatial_range=-1,
        num_heads=8,
        attention_type='0011',
        kv_stride=2),
    dict(type='NonLocal2d'),
    dict(type='ContextBlock', ratio=1. / 16),
])
def test_mmcv_plugins_build(cfg):
    # spec 04 §3: CBAM, GeneralizedAttention, NonLocal2d and ContextBlock
    model = YOLOv5CSPDarknet(
        plugins=[dict(cfg=cfg, stages=(False, False, True, True))], **TINY)
    assert len(model.stage3) == 3 and len(model.stage4) == 4
    assert type(model.stage3[-1]).__name__ == cfg['type']
    outs = model.eval()(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 64, 8, 8), (1, 128, 4, 4),
                                              (1, 256, 2, 2)]


def test_cbam_plugin_without_default_scope(repo_root):
    # Used as a plain library (no register_all_modules, no default scope),
    # yolokit's own plugins must still resolve.
    code = ('import torch\n'
            'from mmengine.registry import DefaultScope\n'
            'from yolokit.models import YOLOv5CSPDarknet\n'
            'assert DefaultScope.get_current_instance() is None\n'
            'm = YOLOv5CSPDarknet(deepen_factor=0.33, widen_factor=0.25,\n'
            '    plugins=[dict(cfg=dict(type="CBAM"))])\n'
            'print(type(m.stage4[-1]).__name__)\n')
    env = dict(os.environ, PYTHONPATH=repo_root)
    proc = subprocess.run([sys.executable, '-c', code],
                          capture_output=True,
                          text=True,
                          env=env,
                          cwd=repo_root,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == 'CBAM'


def test_init_weights_resets_convs_without_init_cfg():
    model = YOLOv5CSPDarknet(**TINY)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    for conv in convs:
        nn.init.constant_(conv.weight, 3.0)
    model.init_weights()
    for conv in convs:
        # PyTorch's default: kaiming_uniform(a=sqrt(5)) -> U(-b, b) with
        # b = 1 / sqrt(fan_in)
        fan_in = conv.in_channels // conv.groups * math.prod(conv.kernel_size)
        bound = 1 / math.sqrt(fan_in)
        assert conv.weight.abs().max() <= bound + 1e-6
        assert conv.weight.std() > 0


def test_init_weights_with_init_cfg(tmp_path):
    # With an init_cfg the regular BaseModule initialization runs, e.g.
    # loading pretrained backbone weights.
    source = YOLOv5CSPDarknet(**TINY)
    for p in source.parameters():
        nn.init.uniform_(p, 5.0, 6.0)  # far outside any default init
    ckpt = str(tmp_path / 'backbone.pth')
    torch.save(source.state_dict(), ckpt)

    model = YOLOv5CSPDarknet(
        init_cfg=dict(type='Pretrained', checkpoint=ckpt), **TINY)
    model.init_weights()
    for (name, p), q in zip(model.named_parameters(), source.parameters()):
        torch.testing.assert_close(p, q, msg=name)


def test_built_from_registry():
    model = MODELS.build(dict(type='YOLOv5CSPDarknet', arch='P6', **TINY))
    assert isinstance(model, YOLOv5CSPDarknet) and model.num_stages == 5
    from yolokit.models import YOLOv5CSPDarknet as exported
    assert exported is YOLOv5CSPDarknet
