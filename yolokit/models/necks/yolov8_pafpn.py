"""YOLOv8's PAFPN: YOLOv5's without lateral convs, with C2f fusions."""
from typing import List, Union

import torch.nn as nn
from mmdet.utils import ConfigType, OptMultiConfig

from yolokit.registry import MODELS
from ..layers import CSPLayerWithTwoConv
from .yolov5_pafpn import YOLOv5PAFPN


@MODELS.register_module()
class YOLOv8PAFPN(YOLOv5PAFPN):
    """YOLOv8's neck: concat the raw maps, fuse them with C2f blocks.

    Nothing is reduced before a concat, so the fusion producing level ``i``
    sees both levels' full widths: top-down ``C2f(md(in[i] + in[i+1]) ->
    md(out[i]))``, bottom-up ``C2f(md(out[i-1] + out[i]) -> md(out[i]))``,
    where ``md = make_divisible(., widen_factor)`` and every C2f
    (:class:`CSPLayerWithTwoConv`) has ``make_round(num_csp_blocks,
    deepen_factor)`` blocks without shortcuts. Upsampling, the 3x3/2
    downsampling convs (``md(in[i])`` channels) and the identity outputs
    are YOLOv5's, so the outputs are (B, md(out[i]), H_i, W_i) when
    ``in_channels == out_channels``, as in every YOLOv8 config.

    Args:
        in_channels (List[int]): Input channels per level, before widening.
        out_channels (int | List[int]): Output channels per level (an int
            is used for every level), before widening.
        num_csp_blocks (int): Blocks per C2f before deepening.
            Defaults to 3.
        Others: as :class:`YOLOv5PAFPN`.
    """
    fusion_type = CSPLayerWithTwoConv  # C2f

    def __init__(self,
                 in_channels: List[int],
                 out_channels: Union[List[int], int],
                 deepen_factor: float = 1.0,
                 widen_factor: float = 1.0,
                 num_csp_blocks: int = 3,
                 freeze_all: bool = False,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 init_cfg: OptMultiConfig = None):
        if isinstance(out_channels, int):
            out_channels = [out_channels] * len(in_channels)
        super().__init__(in_channels, out_channels, deepen_factor,
                         widen_factor, num_csp_blocks, freeze_all, norm_cfg,
                         act_cfg, init_cfg)

    def build_reduce_layer(self, idx: int) -> nn.Module:
        """Identity on every level (no lateral 1x1 conv)."""
        return nn.Identity()

    def build_top_down_layer(self, idx: int) -> nn.Module:
        """C2f over the upsampled level ``idx`` and level ``idx - 1``."""
        return self.build_fusion(
            self.width(self.in_channels[idx - 1] + self.in_channels[idx]),
            self.width(self.out_channels[idx - 1]))

    def build_bottom_up_layer(self, idx: int) -> nn.Module:
        """C2f over the downsampled level ``idx`` and level ``idx + 1``."""
        return self.build_fusion(
            self.width(self.out_channels[idx] + self.out_channels[idx + 1]),
            self.width(self.out_channels[idx + 1]))
