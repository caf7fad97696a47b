"""YOLOX's PAFPN: C3 fusions, 1x1 output convs to one width."""
from typing import List

import torch.nn as nn
from mmdet.models.layers import CSPLayer
from mmdet.utils import ConfigType, OptMultiConfig

from yolokit.registry import MODELS
from .base_yolo_neck import NeckLevelsError
from .pafpn_layout import PAFPNLayout, widen_levels


@MODELS.register_module()
class YOLOXPAFPN(PAFPNLayout):
    """YOLOX's neck: the :class:`PAFPNLayout` with C3 fusions and a 1x1
    conv per output.

    For ``in_channels = [256, 512, 1024]`` (strides 8/16/32) at
    ``widen_factor=1`` the inner maps are YOLOv5's (:class:`YOLOv5PAFPN`:
    256/512/1024 channels after the bottom-up path), then every level goes
    through a 1x1 conv to ``out_channels``, so output ``i`` is
    (B, int(out_channels * widen_factor), H_i, W_i). Channels are scaled by
    truncation (``int(c * widen_factor)``, stored in ``self.in_channels``)
    and every C3 (MMDetection's ``CSPLayer``, no shortcuts) has
    ``round(num_csp_blocks * deepen_factor)`` bottlenecks.

    Args:
        in_channels (List[int]): Input channels of the 3 levels, before
            widening.
        out_channels (int): Channels of every output, before widening.
        num_csp_blocks (int): Bottlenecks per C3 before deepening.
            Defaults to 3.
        use_depthwise (bool): Depth-wise separable 3x3/2 downsampling
            convs (YOLOX-nano). Defaults to False.
        Others: as :class:`BaseYOLONeck`; the convs keep mmcv's init.

    Raises:
        NeckLevelsError: ``in_channels`` has not 3 levels.
        TypeError: ``out_channels`` is not an int.
    """
    out_kernel_size = 1
    depthwise_downsample = True

    def __init__(self,
                 in_channels: List[int],
                 out_channels: int,
                 deepen_factor: float = 1.0,
                 widen_factor: float = 1.0,
                 num_csp_blocks: int = 3,
                 use_depthwise: bool = False,
                 freeze_all: bool = False,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 init_cfg: OptMultiConfig = None):
        if len(in_channels) != 3:
            raise NeckLevelsError('YOLOXPAFPN is built for 3 input levels, '
                                  f'but got in_channels={list(in_channels)}')
        in_channels, out_channels = widen_levels('YOLOXPAFPN', in_channels,
                                                 out_channels, widen_factor)
        self.num_csp_blocks = round(num_csp_blocks * deepen_factor)
        self.use_depthwise = use_depthwise
        super().__init__(in_channels, out_channels, deepen_factor,
                         widen_factor, freeze_all, norm_cfg, act_cfg, init_cfg)

    def build_fusion(self, in_channels: int, out_channels: int) -> nn.Module:
        """A C3 block without shortcuts."""
        return CSPLayer(
            in_channels,
            out_channels,
            num_blocks=self.num_csp_blocks,
            add_identity=False,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
