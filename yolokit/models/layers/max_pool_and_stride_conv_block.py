"""Down-sampling by a max-pool branch next to a strided-conv branch."""
import torch
import torch.nn as nn
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from yolokit.registry import MODELS
from .conv_recipe import ConvRecipe


@MODELS.register_module()
class MaxPoolAndStrideConvBlock(BaseModule):
    """YOLOv7's MP block, (B, C_in, H, W) -> (B, C_out, H / k, W / k).

    Branch 1: k x k max-pool (stride k), then a 1x1 conv to C_out / 2.
    Branch 2: a 1x1 conv, then a 3x3/2 conv to C_out / 2. The output is
    branch 2 then branch 1 along channels (so ``k`` must be 2 for the
    shapes to agree).

    Args:
        in_channels (int): C_in.
        out_channels (int): C_out (even).
        maxpool_kernel_sizes (int): k. Defaults to 2.
        use_in_channels_of_middle (bool): Branch 2's 1x1 conv keeps C_in
            channels instead of C_out / 2. Defaults to False.
        conv_cfg, norm_cfg, act_cfg: Conv unit configs.
        init_cfg (dict or list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 maxpool_kernel_sizes: int = 2,
                 use_in_channels_of_middle: bool = False,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        conv = ConvRecipe(norm_cfg, act_cfg, conv_cfg)
        half = out_channels // 2
        mid = in_channels if use_in_channels_of_middle else half
        k = maxpool_kernel_sizes
        self.maxpool_branches = nn.Sequential(
            nn.MaxPool2d(kernel_size=k, stride=k), conv(in_channels, half, 1))
        self.stride_conv_branches = nn.Sequential(
            conv(in_channels, mid, 1), conv(mid, half, 3, stride=2))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(
            [self.stride_conv_branches(x),
             self.maxpool_branches(x)], dim=1)
