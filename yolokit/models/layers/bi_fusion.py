"""BiFusion: YOLOv6 3.0's top-down merge of three neighbouring levels."""
from typing import Sequence

import torch
import torch.nn as nn
from mmdet.utils import ConfigType
from torch import Tensor

from .conv_recipe import ConvRecipe


class BiFusion(nn.Module):
    """``y = conv3(cat(up(x_high), conv1(x_cur), down(conv2(x_low))))``.

    Level sizes: ``x_high`` (B, out, H/2, W/2), ``x_cur`` (B, in0, H, W),
    ``x_low`` (B, in1, 2H, 2W) -> (B, out, H, W). ``up`` is a learnt 2x2
    stride-2 transposed conv, ``down`` a 3x3 stride-2 conv; ``conv1``,
    ``conv2``, ``conv3`` are 1x1. Every conv is bias-free
    conv -> norm -> act, except ``up`` (biased, linear).

    Compared with a PAN concat, the extra input is the finer level ``x_low``.

    Args:
        in_channels0 (int): Channels of the current level ``x_cur``.
        in_channels1 (int): Channels of the finer level ``x_low``.
        out_channels (int): Output channels (also those of ``x_high``).
        norm_cfg (dict): Norm config. Defaults to BN (momentum 0.03,
            eps 0.001).
        act_cfg (dict): Activation config. Defaults to ReLU.
    """

    def __init__(self,
                 in_channels0: int,
                 in_channels1: int,
                 out_channels: int,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='ReLU', inplace=True)):
        super().__init__()
        convs = ConvRecipe(norm_cfg, act_cfg)
        self.conv1 = convs(in_channels0, out_channels, 1)
        self.conv2 = convs(in_channels1, out_channels, 1)
        self.conv3 = convs(3 * out_channels, out_channels, 1)
        self.upsample = nn.ConvTranspose2d(
            out_channels, out_channels, kernel_size=2, stride=2, bias=True)
        self.downsample = convs(out_channels, out_channels, 3, stride=2)

    def forward(self, x: Sequence[Tensor]) -> Tensor:
        """``x = (x_high, x_cur, x_low)``, see the class docstring."""
        if len(x) != 3:
            raise ValueError('BiFusion expects x = (high, current, low) '
                             f'level maps, but got {len(x)} maps')
        high, cur, low = x
        return self.conv3(
            torch.cat((self.upsample(high), self.conv1(cur),
                       self.downsample(self.conv2(low))), dim=1))
