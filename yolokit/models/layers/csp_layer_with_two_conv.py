"""YOLOv8's C2f: a CSP layer that keeps every block's output."""
import torch
import torch.nn as nn
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from .conv_recipe import ConvRecipe
from .darknet_bottleneck import DarknetBottleneck


class CSPLayerWithTwoConv(BaseModule):
    """Split, chain the blocks on one half, fuse all intermediate maps.

    With ``m = int(out_channels * expand_ratio)`` and ``n = num_blocks``::

        a, b0 = split(main_conv(x), [m, m])        # 1x1: in -> 2m
        b_k = blocks[k - 1](b_{k-1}),  k = 1..n    # 3x3 + 3x3, m -> m
        y = final_conv(cat(a, b0, b1, ..., bn))    # 1x1: (2 + n) m -> out

    (B, in, H, W) -> (B, out, H, W). Unlike MMDetection's ``CSPLayer`` (C3),
    there is no separate short-cut conv: ``a`` is the first half of the one
    ``main_conv``, and the fusion sees every block's output, not only the
    last.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        expand_ratio (float): ``m / out_channels``. Defaults to 0.5.
        num_blocks (int): Number of 3x3/3x3 :class:`DarknetBottleneck`
            blocks. Defaults to 1.
        add_identity (bool): Shortcut inside each block. Defaults to True.
        conv_cfg, norm_cfg, act_cfg (dict): Configs of every conv, blocks
            included (defaults: ``nn.Conv2d``, BN with momentum 0.03 and
            eps 0.001, SiLU).
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 expand_ratio: float = 0.5,
                 num_blocks: int = 1,
                 add_identity: bool = True,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_blocks < 0:
            raise ValueError('CSPLayerWithTwoConv: `num_blocks` must be >= 0, '
                             f'but got {num_blocks}')
        self.mid_channels = int(out_channels * expand_ratio)
        if self.mid_channels < 1:
            raise ValueError(
                'CSPLayerWithTwoConv: int(out_channels * expand_ratio) must '
                f'be >= 1, but got out_channels={out_channels}, '
                f'expand_ratio={expand_ratio}')
        mid = self.mid_channels
        convs = ConvRecipe(norm_cfg, act_cfg, conv_cfg)
        # attribute names and this order give MMYOLO's checkpoint keys
        self.main_conv = convs(in_channels, 2 * mid, 1)
        self.final_conv = convs((2 + num_blocks) * mid, out_channels, 1)
        self.blocks = nn.ModuleList(
            DarknetBottleneck(
                mid,
                mid,
                expansion=1,
                kernel_size=(3, 3),
                padding=(1, 1),
                add_identity=add_identity,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg) for _ in range(num_blocks))

    def forward(self, x: Tensor) -> Tensor:
        """(B, in, H, W) -> (B, out, H, W), see the class docstring."""
        maps = list(self.main_conv(x).chunk(2, dim=1))  # a, b0: (B, m, H, W)
        for block in self.blocks:
            maps.append(block(maps[-1]))
        return self.final_conv(torch.cat(maps, dim=1))
