"""EffectiveSELayer: y = x * hsigmoid(fc(mean_hw(x))), checked by hand."""
import pytest
import torch

from yolokit.models.layers import EffectiveSELayer


def test_gates_by_hand():
    layer = EffectiveSELayer(2)
    with torch.no_grad():
        layer.fc.conv.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
        layer.fc.conv.bias.zero_()
    # channel means 3 and -3; mmcv HSigmoid = clamp((v + 3) / 6, 0, 1)
    # gives gates (3 + 3) / 6 = 1 and (-3 + 3) / 6 = 0
    x = torch.stack([torch.full((4, 4), 3.), torch.full((4, 4), -3.)])[None]
    x[0, 0, 0, 0] = 7.  # mean of channel 0 becomes 3 + 4 / 16 = 3.25 -> 1
    y = layer(x)
    torch.testing.assert_close(y[0, 0], x[0, 0])
    torch.testing.assert_close(y[0, 1], torch.zeros(4, 4))


def test_half_gate():
    layer = EffectiveSELayer(3)
    with torch.no_grad():
        layer.fc.conv.weight.zero_()
        layer.fc.conv.bias.zero_()
    x = torch.randn(2, 3, 5, 6)
    torch.testing.assert_close(layer(x), x * 0.5)  # hsigmoid(0) = 3 / 6


def test_rejects_non_dict_act():
    with pytest.raises(TypeError, match='act_cfg'):
        EffectiveSELayer(2, act_cfg='HSigmoid')
