"""Two stacked rep-style blocks with a (learnt-weight) residual."""
from typing import Union

import torch
import torch.nn as nn
from mmdet.utils import ConfigType
from torch import Tensor

from yolokit.registry import MODELS


def build_block(block_cfg: ConfigType, in_channels: int,
                out_channels: int) -> nn.Module:
    """Build ``block_cfg`` (e.g. a RepVGGBlock) with the given widths."""
    cfg = dict(block_cfg)
    cfg.update(in_channels=in_channels, out_channels=out_channels)
    return MODELS.build(cfg)


class BottleRep(nn.Module):
    """``y = conv2(conv1(x)) + alpha * x`` (YOLOv6's CSP bottleneck).

    The residual exists only when ``in_channels == out_channels``. With
    ``adaptive_weight`` the residual weight ``alpha`` is a learnt scalar
    initialised to 1 (a parameter in the ``state_dict``), otherwise the
    constant 1.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        block_cfg (dict): The two blocks' config. Defaults to RepVGGBlock.
        adaptive_weight (bool): Learn ``alpha``. Defaults to False.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 block_cfg: ConfigType = dict(type='RepVGGBlock'),
                 adaptive_weight: bool = False):
        super().__init__()
        self.conv1 = build_block(block_cfg, in_channels, out_channels)
        self.conv2 = build_block(block_cfg, out_channels, out_channels)
        self.shortcut = in_channels == out_channels
        self.alpha: Union[nn.Parameter, float] = \
            nn.Parameter(torch.ones(1)) if adaptive_weight else 1.0

    def forward(self, x: Tensor) -> Tensor:
        """(B, in, H, W) -> (B, out, H, W)."""
        y = self.conv2(self.conv1(x))
        return y + self.alpha * x if self.shortcut else y
