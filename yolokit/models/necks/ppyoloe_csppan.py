"""CSP-PAN neck of PP-YOLOE: every fusion is a chain of CSPResLayers."""
from typing import List

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.utils import ConfigType, OptMultiConfig

from yolokit.models.layers import CSPResLayer
from yolokit.registry import MODELS
from .base_yolo_neck import BaseYOLONeck


@MODELS.register_module()
class PPYOLOECSPPAFPN(BaseYOLONeck):
    """PAN whose reduce (deepest level only), top-down and bottom-up layers
    are ``num_csplayer`` stride-1 :class:`CSPResLayer` s without attention;
    the up path halves channels with a 1x1 conv before the 2x nearest
    upsampling, the down path is a 3x3/s2 conv. Outputs are the bottom-up
    maps unchanged (level ``i``: (B, out_channels[i] * widen, H_i, W_i)).

    Args:
        in_channels (List[int]): Input channels per level (before
            ``widen_factor``). Defaults to [256, 512, 1024].
        out_channels (List[int]): Output channels per level (before
            ``widen_factor``). Defaults to [256, 512, 1024].
        deepen_factor (float): Multiplier of ``num_blocks_per_layer``.
        widen_factor (float): Channel multiplier.
        freeze_all (bool): Freeze the whole neck. Defaults to False.
        num_csplayer (int): CSPResLayers per fusion. Defaults to 1.
        num_blocks_per_layer (int): Blocks per CSPResLayer (before
            ``deepen_factor``). Defaults to 3.
        block_cfg (dict): Defaults to ``dict(type='PPYOLOEBasicBlock',
            shortcut=False, use_alpha=False)``.
        norm_cfg (dict): Defaults to ``dict(type='BN', momentum=0.1,
            eps=1e-5)``.
        act_cfg (dict): Defaults to SiLU.
        drop_block_cfg (dict, optional): A layer (e.g. ``mmdet.DropBlock``)
            appended to every CSPResLayer chain. Defaults to None.
        init_cfg (dict or list[dict], optional): Initialization config.
        use_spp (bool): SPP inside the deepest reduce layer.
            Defaults to False.
    """

    def __init__(self,
                 in_channels: List[int] = [256, 512, 1024],
                 out_channels: List[int] = [256, 512, 1024],
                 deepen_factor: float = 1.0,
                 widen_factor: float = 1.0,
                 freeze_all: bool = False,
                 num_csplayer: int = 1,
                 num_blocks_per_layer: int = 3,
                 block_cfg: ConfigType = dict(
                     type='PPYOLOEBasicBlock', shortcut=False,
                     use_alpha=False),
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.1, eps=1e-5),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 drop_block_cfg: ConfigType = None,
                 init_cfg: OptMultiConfig = None,
                 use_spp: bool = False):
        if drop_block_cfg is not None and not isinstance(drop_block_cfg,
                                                         dict):
            raise TypeError('PPYOLOECSPPAFPN: `drop_block_cfg` must be a dict '
                            f'or None, but got {drop_block_cfg!r}')
        self.block_cfg = block_cfg
        self.num_csplayer = num_csplayer
        self.num_blocks_per_layer = round(num_blocks_per_layer * deepen_factor)
        self.use_spp = use_spp  # only the deepest reduce layer
        self.drop_block_cfg = drop_block_cfg
        super().__init__(
            in_channels=[int(c * widen_factor) for c in in_channels],
            out_channels=[int(c * widen_factor) for c in out_channels],
            deepen_factor=deepen_factor, widen_factor=widen_factor,
            freeze_all=freeze_all, norm_cfg=norm_cfg, act_cfg=act_cfg,
            init_cfg=init_cfg)

    def _csp_chain(self, in_channels: int, out_channels: int,
                   use_spp: bool = False) -> nn.Sequential:
        """``num_csplayer`` CSPResLayers (+ drop block)."""
        layers: List[nn.Module] = [
            CSPResLayer(
                in_channels=in_channels if i == 0 else out_channels,
                out_channels=out_channels,
                num_block=self.num_blocks_per_layer,
                block_cfg=self.block_cfg, norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg, attention_cfg=None, use_spp=use_spp)
            for i in range(self.num_csplayer)
        ]
        if self.drop_block_cfg:
            layers.append(MODELS.build(self.drop_block_cfg))
        return nn.Sequential(*layers)

    def build_reduce_layer(self, idx: int) -> nn.Module:
        """A CSP chain on the deepest level; identity elsewhere."""
        if idx != len(self.in_channels) - 1:
            return nn.Identity()
        return self._csp_chain(self.in_channels[idx], self.out_channels[idx],
                               use_spp=self.use_spp)

    def build_upsample_layer(self, idx: int) -> nn.Module:
        """1x1 conv to half the channels, then 2x nearest upsampling."""
        channels = self.out_channels[idx]
        return nn.Sequential(
            ConvModule(channels, channels // 2, 1, stride=1, padding=0,
                       norm_cfg=self.norm_cfg, act_cfg=self.act_cfg),
            nn.Upsample(scale_factor=2, mode='nearest'))

    def build_top_down_layer(self, idx: int) -> nn.Module:
        """Fuses the halved upsampled map with the finer input level."""
        return self._csp_chain(
            self.in_channels[idx - 1] + self.out_channels[idx] // 2,
            self.out_channels[idx - 1])

    def build_downsample_layer(self, idx: int) -> nn.Module:
        """3x3 stride-2 conv, channels kept."""
        channels = self.out_channels[idx]
        return ConvModule(channels, channels, 3, stride=2, padding=1,
                          norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)

    def build_bottom_up_layer(self, idx: int) -> nn.Module:
        """Fuses the downsampled map with the coarser top-down map."""
        return self._csp_chain(
            self.out_channels[idx + 1] + self.out_channels[idx],
            self.out_channels[idx + 1])

    def build_out_layer(self, *args, **kwargs) -> nn.Module:
        return nn.Identity()
