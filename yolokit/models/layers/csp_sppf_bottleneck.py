"""SPPF inside a CSP split (YOLOv6 3.0's 'SimCSPSPPF')."""
from typing import Sequence, Union

import torch
import torch.nn as nn
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from .conv_recipe import ConvRecipe
from .sppf_bottleneck import serial_pyramid


class CSPSPPFBottleneck(BaseModule):
    """``y = conv7(cat(conv2(x), conv6(conv5(pyramid(x')))))``.

    ``x' = conv4(conv3(conv1(x)))`` (1x1, 3x3, 1x1 on ``mid =
    int(in * mid_channels_scale)`` channels) when ``use_conv_first``,
    otherwise ``x' = x`` and ``mid = in``. ``conv2`` is the 1x1 CSP
    shortcut ``in -> mid``. The pyramid is the SPPF one for an int
    ``kernel_sizes`` (:func:`serial_pyramid`, 4 maps) or one parallel pool
    per size; ``conv5`` (1x1) and ``conv6`` (3x3) bring it back to ``mid``,
    ``conv7`` (1x1) fuses ``2 mid -> out``.

    (B, in, H, W) -> (B, out, H, W).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_sizes (int | Sequence[int]): Serial pool size, or parallel
            pool sizes. Defaults to 5.
        use_conv_first (bool): Build ``conv1``/``conv3``/``conv4``.
            Defaults to True.
        mid_channels_scale (float): ``mid / in`` with ``use_conv_first``.
            Defaults to 0.5.
        conv_cfg, norm_cfg, act_cfg (dict): Configs of every conv
            (defaults: ``nn.Conv2d``, BN momentum 0.03 eps 0.001, SiLU).
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_sizes: Union[int, Sequence[int]] = 5,
                 use_conv_first: bool = True,
                 mid_channels_scale: float = 0.5,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg)
        convs = ConvRecipe(norm_cfg, act_cfg, conv_cfg)
        mid = int(in_channels * mid_channels_scale) \
            if use_conv_first else in_channels
        # conv1..conv7 are the checkpoint keys, numbered as in MMYOLO
        if use_conv_first:
            self.conv1 = convs(in_channels, mid, 1)
            self.conv3 = convs(mid, mid, 3)
            self.conv4 = convs(mid, mid, 1)
        else:
            self.conv1 = self.conv3 = self.conv4 = None
        self.conv2 = convs(in_channels, mid, 1)
        self.kernel_sizes = kernel_sizes
        if isinstance(kernel_sizes, int):
            self.poolings = nn.MaxPool2d(
                kernel_sizes, stride=1, padding=kernel_sizes // 2)
            num_maps = 4
        else:
            self.poolings = nn.ModuleList(
                nn.MaxPool2d(k, stride=1, padding=k // 2)
                for k in kernel_sizes)
            num_maps = len(kernel_sizes) + 1
        self.conv5 = convs(num_maps * mid, mid, 1)
        self.conv6 = convs(mid, mid, 3)
        self.conv7 = convs(2 * mid, out_channels, 1)

    def _pyramid(self, x: Tensor) -> Tensor:
        if isinstance(self.poolings, nn.ModuleList):
            return torch.cat([x] + [pool(x) for pool in self.poolings], 1)
        return serial_pyramid(x, self.poolings)

    def forward(self, x: Tensor) -> Tensor:
        """(B, in, H, W) -> (B, out, H, W), see the class docstring."""
        pooled_in = x if self.conv1 is None else \
            self.conv4(self.conv3(self.conv1(x)))
        pooled = self.conv6(self.conv5(self._pyramid(pooled_in)))
        return self.conv7(torch.cat([self.conv2(x), pooled], dim=1))
