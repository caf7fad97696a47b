"""CSP stage of PP-YOLOE: two 1x1 splits, a block chain, ESE, a 1x1 merge."""
from typing import Optional

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.utils import ConfigType, OptMultiConfig
from torch import Tensor

from yolokit.registry import MODELS
from .sppf_bottleneck import SPPFBottleneck


class CSPResLayer(nn.Module):
    """``conv3(attn(cat(conv1(z), blocks(conv2(z)))))``, ``z`` the input
    after the optional stride-2 ``conv_down``.

    Channel plan: with ``stride=2`` (backbone) ``conv_down`` maps C_in to
    ``mid = (C_in + C_out) // 2`` and both branches have ``mid // 2``
    channels; with ``stride=1`` (neck) there is no ``conv_down`` and both
    branches have ``C_out // 2`` channels. ``attn`` sees the concatenation
    (2 * branch channels). (B, C_in, H, W) -> (B, C_out, H / s, W / s).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        num_block (int): Blocks in the chain.
        block_cfg (dict): Config of each block; its channels, and
            ``norm_cfg``/``act_cfg`` unless given, are filled in. Defaults to
            ``dict(type='PPYOLOEBasicBlock', shortcut=True, use_alpha=True)``.
        stride (int): 2 adds ``conv_down``; 1 does not. Defaults to 1.
        norm_cfg (dict): Norm of every conv. Defaults to
            ``dict(type='BN', momentum=0.1, eps=1e-5)``.
        act_cfg (dict): Activation of every conv. Defaults to SiLU.
        attention_cfg (dict, optional): Attention on the concatenation; None
            for none. Defaults to ESE with HSigmoid.
        use_spp (bool): Insert an SPP (5, 9, 13 pools) after the middle
            block, as the deepest neck stage does. Defaults to False.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 num_block: int,
                 block_cfg: ConfigType = dict(
                     type='PPYOLOEBasicBlock', shortcut=True, use_alpha=True),
                 stride: int = 1,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.1, eps=1e-5),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 attention_cfg: OptMultiConfig = dict(
                     type='EffectiveSELayer', act_cfg=dict(type='HSigmoid')),
                 use_spp: bool = False):
        super().__init__()
        if attention_cfg is not None and not isinstance(attention_cfg, dict):
            raise TypeError('CSPResLayer: `attention_cfg` must be a dict or '
                            f'None, but got {attention_cfg!r}')
        if stride not in (1, 2):
            raise ValueError(
                f'CSPResLayer: `stride` must be 1 or 2, but got {stride}')
        self.num_block, self.block_cfg = num_block, block_cfg
        self.norm_cfg, self.act_cfg = norm_cfg, act_cfg
        self.use_spp = use_spp

        def conv(c_in: int, c_out: int, k: int = 1, s: int = 1):
            return ConvModule(c_in, c_out, k, stride=s, padding=k // 2,
                              norm_cfg=norm_cfg, act_cfg=act_cfg)

        if stride == 2:
            split_in = merge_in = (in_channels + out_channels) // 2
            branch = split_in // 2
            self.conv_down: Optional[nn.Module] = conv(
                in_channels, split_in, 3, 2)
        else:
            split_in, merge_in = in_channels, out_channels
            branch = out_channels // 2
            self.conv_down = None
        # creation order = state_dict order of MMYOLO checkpoints
        self.conv1 = conv(split_in, branch)
        self.conv2 = conv(split_in, branch)
        self.blocks = self.build_blocks_layer(branch)
        self.conv3 = conv(merge_in, out_channels)
        self.attn = None
        if attention_cfg:
            self.attn = MODELS.build(
                dict(attention_cfg, channels=2 * branch))

    def build_blocks_layer(self, blocks_channels: int) -> nn.Module:
        """``num_block`` blocks of ``blocks_channels``, plus the SPP."""
        block_cfg = dict(self.block_cfg, in_channels=blocks_channels,
                         out_channels=blocks_channels)
        block_cfg.setdefault('norm_cfg', self.norm_cfg)
        block_cfg.setdefault('act_cfg', self.act_cfg)
        blocks = nn.Sequential()
        spp_after = (self.num_block - 1) // 2  # the middle block
        for i in range(self.num_block):
            blocks.add_module(str(i), MODELS.build(block_cfg))
            if self.use_spp and i == spp_after:
                blocks.add_module('spp', SPPFBottleneck(
                    blocks_channels, blocks_channels,
                    kernel_sizes=[5, 9, 13], use_conv_first=False,
                    conv_cfg=None, norm_cfg=self.norm_cfg,
                    act_cfg=self.act_cfg))
        return blocks

    def forward(self, x: Tensor) -> Tensor:
        if self.conv_down is not None:
            x = self.conv_down(x)
        y = torch.cat([self.conv1(x), self.blocks(self.conv2(x))], dim=1)
        if self.attn is not None:
            y = self.attn(y)
        return self.conv3(y)
