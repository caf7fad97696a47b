"""ELAN: a stack of 3x3 conv groups whose every output is aggregated."""
import torch
import torch.nn as nn
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from yolokit.registry import MODELS
from .conv_recipe import ConvRecipe


@MODELS.register_module()
class ELANBlock(BaseModule):
    """Efficient layer aggregation block of YOLOv7, (B, C_in, H, W) ->
    (B, C_out, H, W).

    Two 1x1 convs split the input into a shortcut and a main branch of
    ``m = int(C_in * middle_ratio)`` channels. The main branch runs through
    ``num_blocks`` groups of ``num_convs_in_block`` 3x3 convs with
    ``b = int(C_in * block_ratio)`` output channels; the group outputs
    (last first), the main branch and the shortcut are concatenated
    (``num_blocks * b + 2 * m`` channels) and a 1x1 conv gives ``C_out``.

    Args:
        in_channels (int): C_in.
        out_channels (int): C_out.
        middle_ratio (float): m / C_in.
        block_ratio (float): b / C_in.
        num_blocks (int): Number of conv groups (>= 1). Defaults to 2.
        num_convs_in_block (int): 3x3 convs per group (>= 1); a group of
            one is a bare ``ConvModule``, otherwise an ``nn.Sequential``
            (the state_dict keys differ). Defaults to 1.
        conv_cfg, norm_cfg, act_cfg: Conv unit configs; defaults BN
            (momentum 0.03, eps 0.001) and SiLU.
        init_cfg (dict or list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 middle_ratio: float,
                 block_ratio: float,
                 num_blocks: int = 2,
                 num_convs_in_block: int = 1,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        if num_blocks < 1 or num_convs_in_block < 1:
            raise ValueError(
                'ELANBlock needs num_blocks >= 1 and num_convs_in_block >= 1'
                f', got {num_blocks} and {num_convs_in_block}')
        conv = ConvRecipe(norm_cfg, act_cfg, conv_cfg)
        mid = int(in_channels * middle_ratio)
        per_block = int(in_channels * block_ratio)
        self.main_conv = conv(in_channels, mid, 1)
        self.short_conv = conv(in_channels, mid, 1)
        self.blocks = nn.ModuleList()
        group_in = mid
        for _ in range(num_blocks):
            group = []
            for _ in range(num_convs_in_block):
                group.append(conv(group_in, per_block, 3))
                group_in = per_block
            self.blocks.append(group[0] if len(group) == 1 else nn.Sequential(
                *group))
        self.final_conv = conv(num_blocks * per_block + 2 * mid, out_channels,
                               1)

    def forward(self, x: Tensor) -> Tensor:
        main = self.main_conv(x)
        feats = [main]
        for block in self.blocks:
            feats.append(block(feats[-1]))
        # channel order of the original: deepest group first, then the
        # main branch, then the shortcut
        ordered = feats[:0:-1] + [main, self.short_conv(x)]
        return self.final_conv(torch.cat(ordered, dim=1))
