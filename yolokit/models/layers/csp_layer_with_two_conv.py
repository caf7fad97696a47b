"""Cross Stage Partial layer with two convolutions (YOLOv8's "C2f")."""
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from .darknet_bottleneck import DarknetBottleneck


class CSPLayerWithTwoConv(BaseModule):
    """CSP layer with two convs, YOLOv8's C2f block.

    ``main_conv`` (1x1) produces ``2 * mid`` channels that are split into two
    halves; the blocks run one after another on the second half and every
    intermediate result is kept, so ``final_conv`` (1x1) fuses
    ``(2 + num_blocks) * mid`` channels. Spatial size is kept.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        expand_ratio (float): ``mid = int(out_channels * expand_ratio)``.
            Defaults to 0.5.
        num_blocks (int): Number of 3x3/3x3 :class:`DarknetBottleneck`
            blocks. Defaults to 1.
        add_identity (bool): Residual connection in the blocks.
            Defaults to True.
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict): Norm layer config.
            Defaults to ``dict(type='BN', momentum=0.03, eps=0.001)``.
        act_cfg (dict): Activation config.
            Defaults to ``dict(type='SiLU', inplace=True)``.
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
        self.main_conv = ConvModule(
            in_channels,
            2 * self.mid_channels,
            1,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)
        self.final_conv = ConvModule(
            (2 + num_blocks) * self.mid_channels,
            out_channels,
            1,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)
        self.blocks = nn.ModuleList(
            DarknetBottleneck(
                self.mid_channels,
                self.mid_channels,
                expansion=1,
                kernel_size=(3, 3),
                padding=(1, 1),
                add_identity=add_identity,
                use_depthwise=False,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg) for _ in range(num_blocks))

    def forward(self, x: Tensor) -> Tensor:
        """Forward pass, ``(N, in, H, W) -> (N, out, H, W)``."""
        outs = list(
            self.main_conv(x).split((self.mid_channels, self.mid_channels),
                                    dim=1))
        for block in self.blocks:
            outs.append(block(outs[-1]))
        return self.final_conv(torch.cat(outs, dim=1))
