"""Spatial pyramid pooling inside a CSP split (YOLOv7's SPPCSPC)."""
from typing import Sequence, Union

import torch
import torch.nn as nn
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from yolokit.registry import MODELS
from .conv_recipe import ConvRecipe


@MODELS.register_module()
class SPPFCSPBlock(BaseModule):
    """(B, C_in, H, W) -> (B, C_out, H, W).

    With ``m = int(2 * C_out * expand_ratio)``: the main branch maps C_in to
    m (1x1 conv; full version 1x1, 3x3, 1x1), pools it and concatenates the
    branch with its pools (4m), fuses back to m (1x1; full version 1x1 then
    3x3); a 1x1 shortcut conv maps C_in to m; a 1x1 conv fuses both (2m)
    to C_out.

    Pooling: an int k applies one k x k stride-1 max-pool three times in a
    row (SPPF, pools of growing reach); a sequence applies one pool per
    kernel to the branch (SPP). The concatenation is [branch, pools...] for
    the full version and reversed for the tiny one, as in the original
    weights.

    Args:
        in_channels (int): C_in.
        out_channels (int): C_out.
        expand_ratio (float): m / (2 C_out). Defaults to 0.5.
        kernel_sizes (int or Sequence[int]): Pool kernels. Defaults to 5.
        is_tiny_version (bool): Single 1x1 convs on the main branch.
            Defaults to False.
        conv_cfg, norm_cfg, act_cfg: Conv unit configs.
        init_cfg (dict or list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 expand_ratio: float = 0.5,
                 kernel_sizes: Union[int, Sequence[int]] = 5,
                 is_tiny_version: bool = False,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        conv = ConvRecipe(norm_cfg, act_cfg, conv_cfg)
        self.is_tiny_version = is_tiny_version
        self.kernel_sizes = kernel_sizes
        mid = int(2 * out_channels * expand_ratio)
        # registration order main, poolings, fuse is MMYOLO's module order
        if is_tiny_version:
            self.main_layers = conv(in_channels, mid, 1)
        else:
            self.main_layers = nn.Sequential(
                conv(in_channels, mid, 1), conv(mid, mid, 3),
                conv(mid, mid, 1))
        if isinstance(kernel_sizes, int):
            self.poolings = nn.MaxPool2d(kernel_sizes, 1, kernel_sizes // 2)
        else:
            self.poolings = nn.ModuleList(
                nn.MaxPool2d(k, 1, k // 2) for k in kernel_sizes)
        if is_tiny_version:
            self.fuse_layers = conv(4 * mid, mid, 1)
        else:
            self.fuse_layers = nn.Sequential(
                conv(4 * mid, mid, 1), conv(mid, mid, 3))
        self.short_layer = conv(in_channels, mid, 1)
        self.final_conv = conv(2 * mid, out_channels, 1)

    def _pyramid(self, branch: Tensor) -> list:
        """[branch, pool_1, pool_2, pool_3], each (B, m, H, W)."""
        if isinstance(self.poolings, nn.ModuleList):
            return [branch] + [pool(branch) for pool in self.poolings]
        levels = [branch]
        for _ in range(3):
            levels.append(self.poolings(levels[-1]))
        return levels

    def forward(self, x: Tensor) -> Tensor:
        levels = self._pyramid(self.main_layers(x))
        if self.is_tiny_version:
            levels = levels[::-1]
        fused = self.fuse_layers(torch.cat(levels, dim=1))
        return self.final_conv(torch.cat([fused, self.short_layer(x)], 1))
