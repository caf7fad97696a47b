"""YOLOv7's PAFPN: ELAN fusions, SPPCSPC on the deepest level."""
from typing import List

import torch.nn as nn
from mmdet.utils import ConfigType, OptMultiConfig

from yolokit.registry import MODELS
from ..layers.conv_recipe import ConvRecipe
from ..layers.max_pool_and_stride_conv_block import MaxPoolAndStrideConvBlock
from ..layers.rep_vgg_block import RepVGGBlock
from ..layers.sppfcsp_block import SPPFCSPBlock
from .base_yolo_neck import BaseYOLONeck


@MODELS.register_module()
class YOLOv7PAFPN(BaseYOLONeck):
    """The neck of every YOLOv7 (P5: 3 levels, P6: 4 levels).

    Per level ``i`` with widths ``c_i = int(out_channels[i] * widen)``:

    - reduce: an :class:`SPPFCSPBlock` (k = 5) on the deepest level, a 1x1
      conv elsewhere;
    - upsample: 1x1 conv ``c_i -> c_{i-1}``, then nearest x2; the top-down
      concat is [lateral, upsampled] (``upsample_feats_cat_first=False``);
    - top-down / bottom-up fusion: ``block_cfg`` (ELAN) from 2c to c;
    - downsample: :class:`MaxPoolAndStrideConvBlock`, or a 3x3/2 conv for
      the tiny neck or ``use_maxpool_in_downsample=False``;
    - out: P5 widens each level to 2c with a 3x3 conv (RepVGG block with
      ``use_repconv_outs``); P6 outputs the fused maps (identity) and the
      head widens them.

    Args:
        in_channels (List[int]): Input channels per level (before widen).
        out_channels (List[int]): Neck widths per level (before widen).
        block_cfg (dict): Fusion block config (``in_channels`` and
            ``out_channels`` are filled in; norm/act default to the neck's).
        deepen_factor, widen_factor: Scale factors.
        spp_expand_ratio (float): ``expand_ratio`` of the SPPCSPC block.
        is_tiny_version (bool): Tiny SPPCSPC and conv down-sampling.
        use_maxpool_in_downsample (bool): Use MP blocks to down-sample.
        use_in_channels_in_downsample (bool): The MP blocks' middle conv
            keeps its input width.
        use_repconv_outs (bool): RepVGG output convs (P5 only).
        upsample_feats_cat_first (bool): Concat order; see above.
        freeze_all, norm_cfg, act_cfg, init_cfg: As :class:`BaseYOLONeck`.
    """

    def __init__(self,
                 in_channels: List[int],
                 out_channels: List[int],
                 block_cfg: dict = dict(
                     type='ELANBlock',
                     middle_ratio=0.5,
                     block_ratio=0.25,
                     num_blocks=4,
                     num_convs_in_block=1),
                 deepen_factor: float = 1.0,
                 widen_factor: float = 1.0,
                 spp_expand_ratio: float = 0.5,
                 is_tiny_version: bool = False,
                 use_maxpool_in_downsample: bool = True,
                 use_in_channels_in_downsample: bool = False,
                 use_repconv_outs: bool = True,
                 upsample_feats_cat_first: bool = False,
                 freeze_all: bool = False,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 init_cfg: OptMultiConfig = None):
        self.is_tiny_version = is_tiny_version
        self.use_maxpool_in_downsample = use_maxpool_in_downsample
        self.use_in_channels_in_downsample = use_in_channels_in_downsample
        self.spp_expand_ratio = spp_expand_ratio
        self.use_repconv_outs = use_repconv_outs
        # a copy, so the shared default dict is never filled in
        self.block_cfg = dict(
            dict(norm_cfg=norm_cfg, act_cfg=act_cfg), **block_cfg)
        super().__init__(
            in_channels=[int(c * widen_factor) for c in in_channels],
            out_channels=[int(c * widen_factor) for c in out_channels],
            deepen_factor=deepen_factor,
            widen_factor=widen_factor,
            upsample_feats_cat_first=upsample_feats_cat_first,
            freeze_all=freeze_all,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            init_cfg=init_cfg)

    @property
    def _convs(self) -> ConvRecipe:
        return ConvRecipe(self.norm_cfg, self.act_cfg)

    def _fusion_block(self, channels: int) -> nn.Module:
        """``block_cfg`` built for (B, 2c, H, W) -> (B, c, H, W)."""
        return MODELS.build(
            dict(
                self.block_cfg,
                in_channels=2 * channels,
                out_channels=channels))

    def build_reduce_layer(self, idx: int) -> nn.Module:
        if idx == len(self.in_channels) - 1:
            return SPPFCSPBlock(
                self.in_channels[idx],
                self.out_channels[idx],
                expand_ratio=self.spp_expand_ratio,
                is_tiny_version=self.is_tiny_version,
                kernel_sizes=5,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg)
        return self._convs(self.in_channels[idx], self.out_channels[idx], 1)

    def build_upsample_layer(self, idx: int) -> nn.Module:
        return nn.Sequential(
            self._convs(self.out_channels[idx], self.out_channels[idx - 1], 1),
            nn.Upsample(scale_factor=2, mode='nearest'))

    def build_top_down_layer(self, idx: int) -> nn.Module:
        return self._fusion_block(self.out_channels[idx - 1])

    def build_downsample_layer(self, idx: int) -> nn.Module:
        src, dst = self.out_channels[idx], self.out_channels[idx + 1]
        if self.use_maxpool_in_downsample and not self.is_tiny_version:
            return MaxPoolAndStrideConvBlock(
                src,
                dst,
                use_in_channels_of_middle=self.use_in_channels_in_downsample,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg)
        return self._convs(src, dst, 3, stride=2)

    def build_bottom_up_layer(self, idx: int) -> nn.Module:
        return self._fusion_block(self.out_channels[idx + 1])

    def build_out_layer(self, idx: int) -> nn.Module:
        if len(self.in_channels) == 4:
            return nn.Identity()  # the P6 head does the widening
        width = self.out_channels[idx]
        if self.use_repconv_outs:
            return RepVGGBlock(
                width,
                2 * width,
                3,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg)
        return self._convs(width, 2 * width, 3)
