"""CBAM against a naive recomputation of the paper's formulas.

CBAM (Woo et al., 2018, https://arxiv.org/abs/1807.06521):
``F' = Mc(F) * F`` with ``Mc = sigmoid(MLP(avgpool F) + MLP(maxpool F))``
(shared MLP: 1x1 conv -> act -> 1x1 conv, hidden width C / ratio);
``F'' = Ms(F') * F'`` with ``Ms = sigmoid(conv_kxk([mean_c F'; max_c F']))``.
"""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from yolokit.models.plugins import CBAM
from yolokit.registry import MODELS


def _naive_cbam(model: CBAM, x: torch.Tensor) -> torch.Tensor:
    fc1 = model.channel_attention.fc[0].conv
    fc2 = model.channel_attention.fc[1].conv

    def mlp(v):  # v: (N, C)
        hidden = F.relu(v @ fc1.weight.flatten(1).T + fc1.bias)
        return hidden @ fc2.weight.flatten(1).T + fc2.bias

    gate_c = torch.sigmoid(mlp(x.mean(dim=(2, 3))) + mlp(x.amax(dim=(2, 3))))
    y = x * gate_c[:, :, None, None]

    conv = model.spatial_attention.conv.conv
    desc = torch.cat([y.mean(1, keepdim=True), y.amax(1, keepdim=True)], 1)
    gate_s = torch.sigmoid(
        F.conv2d(
            desc, conv.weight, conv.bias, padding=conv.kernel_size[0] // 2))
    return y * gate_s


def test_matches_naive_formula():
    torch.manual_seed(0)
    model = CBAM(32, reduce_ratio=8, kernel_size=5)
    x = torch.randn(2, 32, 7, 9)
    out = model(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, _naive_cbam(model, x))


def test_default_layout_and_state_dict():
    model = CBAM(64)
    fc = model.channel_attention.fc
    assert fc[0].conv.out_channels == 4  # int(64 / 16)
    assert isinstance(fc[0].activate, nn.ReLU)
    assert not fc[1].with_activation  # no activation before the sigmoid
    assert model.spatial_attention.conv.conv.kernel_size == (7, 7)
    assert model.spatial_attention.conv.conv.padding == (3, 3)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == {
        'channel_attention.fc.0.conv.weight': (4, 64, 1, 1),
        'channel_attention.fc.0.conv.bias': (4, ),
        'channel_attention.fc.1.conv.weight': (64, 4, 1, 1),
        'channel_attention.fc.1.conv.bias': (64, ),
        'spatial_attention.conv.conv.weight': (1, 2, 7, 7),
        'spatial_attention.conv.conv.bias': (1, ),
    }


def test_act_cfg_is_used_in_channel_mlp():
    model = CBAM(16, reduce_ratio=4, act_cfg=dict(type='SiLU'))
    assert isinstance(model.channel_attention.fc[0].activate, nn.SiLU)


def test_gates_are_in_unit_interval():
    model = CBAM(16, reduce_ratio=4)
    x = torch.randn(1, 16, 5, 5)
    gate_c = model.channel_attention(x)
    gate_s = model.spatial_attention(x)
    assert gate_c.shape == (1, 16, 1, 1)
    assert gate_s.shape == (1, 1, 5, 5)
    assert ((gate_c > 0) & (gate_c < 1)).all()
    assert ((gate_s > 0) & (gate_s < 1)).all()


def test_registered():
    model = MODELS.build(dict(type='CBAM', in_channels=32))
    assert isinstance(model, CBAM)


def test_bad_args_raise():
    with pytest.raises(ValueError, match='reduce_ratio'):
        CBAM(8)  # int(8 / 16) == 0 hidden channels
    with pytest.raises(ValueError, match='kernel_size'):
        CBAM(32, kernel_size=4)


def test_as_backbone_plugin():
    from yolokit.models import YOLOv5CSPDarknet
    model = YOLOv5CSPDarknet(
        deepen_factor=0.33,
        widen_factor=0.25,
        plugins=[
            dict(cfg=dict(type='CBAM'), stages=(False, True, False, True))
        ])
    assert [
        isinstance(model.stage1[-1], CBAM),
        isinstance(model.stage2[-1], CBAM),
        isinstance(model.stage3[-1], CBAM),
        isinstance(model.stage4[-1], CBAM)
    ] == [False, True, False, True]
    # stage2 outputs make_divisible(256, 0.25) = 64 channels
    assert model.stage2[-1].channel_attention.fc[0].conv.in_channels == 64
    outs = model(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 64, 8, 8), (1, 128, 4, 4),
                                              (1, 256, 2, 2)]
