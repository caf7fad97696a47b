"""The small ELAN stage block of YOLOv7-tiny."""
import torch
import torch.nn as nn
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from yolokit.registry import MODELS
from .conv_recipe import ConvRecipe


@MODELS.register_module()
class TinyDownSampleBlock(BaseModule):
    """(B, C_in, H, W) -> (B, C_out, H, W); despite its name the block keeps
    the size (the tiny backbone max-pools before it).

    With ``m = int(C_in * middle_ratio)``: a 1x1 shortcut conv to m; a chain
    of a 1x1 conv to m and two k x k convs m -> m; the three chain outputs
    (last first) and the shortcut are concatenated (4m) and fused by a 1x1
    conv to C_out.

    Args:
        in_channels (int): C_in.
        out_channels (int): C_out.
        middle_ratio (float): m / C_in. Defaults to 1.0.
        kernel_sizes (int): k of the two chained convs. Defaults to 3.
        conv_cfg, norm_cfg, act_cfg: Conv unit configs; the activation
            defaults to LeakyReLU(0.1), as in YOLOv7-tiny.
        init_cfg (dict or list[dict], optional): Initialisation config.
    """

    def __init__(
            self,
            in_channels: int,
            out_channels: int,
            middle_ratio: float = 1.0,
            kernel_sizes: int = 3,
            conv_cfg: OptConfigType = None,
            norm_cfg: ConfigType = dict(type='BN', momentum=0.03, eps=0.001),
            act_cfg: ConfigType = dict(type='LeakyReLU', negative_slope=0.1),
            init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg)
        conv = ConvRecipe(norm_cfg, act_cfg, conv_cfg)
        mid = int(in_channels * middle_ratio)
        self.short_conv = conv(in_channels, mid, 1)
        self.main_convs = nn.ModuleList([
            conv(in_channels, mid, 1),
            conv(mid, mid, kernel_sizes, padding=(kernel_sizes - 1) // 2),
            conv(mid, mid, kernel_sizes, padding=(kernel_sizes - 1) // 2)
        ])
        self.final_conv = conv(4 * mid, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        chain = []
        for layer in self.main_convs:
            chain.append(layer(chain[-1] if chain else x))
        return self.final_conv(
            torch.cat(chain[::-1] + [self.short_conv(x)], dim=1))
