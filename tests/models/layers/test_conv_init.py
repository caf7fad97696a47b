"""PyTorch's default conv init (spec 06 §1.5 / §7 item 9)."""
import math

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule

from yolokit.models.layers.conv_init import (PyTorchConvInitMixin,
                                             reset_conv_parameters)


class _Net(PyTorchConvInitMixin, BaseModule):

    def __init__(self, init_cfg=None):
        super().__init__(init_cfg)
        self.a = ConvModule(4, 8, 3, norm_cfg=dict(type='BN'))
        self.b = nn.Conv2d(8, 2, 1)


def _fill(net, value):
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.constant_(m.weight, value)


def test_reset_draws_within_the_default_bound():
    net = _Net()
    _fill(net, 3.0)
    reset_conv_parameters(net)
    # kaiming_uniform(a=sqrt(5)): bound = sqrt(6 / (6 * fan_in)); fan_in of
    # a: 4 * 3 * 3 = 36 -> 1/6; of b: 8 -> 1/sqrt(8)
    assert net.a.conv.weight.abs().max() <= 1 / 6
    assert net.b.weight.abs().max() <= 1 / math.sqrt(8)
    assert net.a.conv.weight.std() > 0


def test_mixin_resets_without_init_cfg_and_defers_with_one():
    net = _Net()
    _fill(net, 3.0)
    net.init_weights()
    assert net.a.conv.weight.abs().max() <= 1 / 6

    net = _Net(init_cfg=dict(type='Constant', layer='Conv2d', val=2.0))
    net.init_weights()
    # (ConvModule re-initialises its own conv afterwards, so look at b)
    assert (net.b.weight == 2.0).all()
    assert torch.equal(net.b.bias, torch.zeros(2))  # Constant's bias = 0
