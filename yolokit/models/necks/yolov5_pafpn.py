"""YOLOv5's PAFPN: C3 fusions, no output convs."""
from typing import List, Union

import torch.nn as nn
from mmdet.models.layers import CSPLayer
from mmdet.utils import ConfigType, OptMultiConfig

from yolokit.registry import MODELS
from ..layers.conv_init import PyTorchConvInitMixin
from ..utils import make_divisible, make_round
from .pafpn_layout import PAFPNLayout


@MODELS.register_module()
class YOLOv5PAFPN(PyTorchConvInitMixin, PAFPNLayout):
    """YOLOv5's neck: the :class:`PAFPNLayout` with C3 fusion blocks.

    For ``in_channels = [256, 512, 1024]`` (strides 8/16/32) at
    ``widen_factor=1``, with ``x_i`` the inputs and C3 MMDetection's
    ``CSPLayer`` without shortcuts:

    .. code:: text

        t2 = 1x1(x2)                        1024 -> 512         stride 32
        t1 = 1x1(C3(cat(up(t2), x1)))       1024 -> 512 -> 256  stride 16
        y0 = t0 = C3(cat(up(t1), x0))       512 -> 256          stride 8
        y1 = C3(cat(3x3/2(y0), t1))         512 -> 512          stride 16
        y2 = C3(cat(3x3/2(y1), t2))         1024 -> 1024        stride 32

    So output ``i`` is (B, md(in_channels[i]), H_i, W_i) with ``md =
    make_divisible(., widen_factor)``, every width (doubled ones included)
    is rounded that way, and each C3 has ``make_round(num_csp_blocks,
    deepen_factor)`` bottlenecks.

    Args:
        in_channels (List[int]): Input channels per level, before widening.
        out_channels (int | List[int]): Stored; the output widths follow
            ``in_channels`` (the YOLOv5 configs pass the same list).
        num_csp_blocks (int): Bottlenecks per C3 before deepening.
            Defaults to 1.
        Others: as :class:`BaseYOLONeck`. Without ``init_cfg`` every conv
        gets PyTorch's default initialisation, as the original YOLOv5.
    """
    fusion_type = CSPLayer  # C3

    def __init__(self,
                 in_channels: List[int],
                 out_channels: Union[List[int], int],
                 deepen_factor: float = 1.0,
                 widen_factor: float = 1.0,
                 num_csp_blocks: int = 1,
                 freeze_all: bool = False,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 init_cfg: OptMultiConfig = None):
        self.num_csp_blocks = num_csp_blocks
        super().__init__(in_channels, out_channels, deepen_factor,
                         widen_factor, freeze_all, norm_cfg, act_cfg, init_cfg)

    def width(self, channels: int) -> int:
        """``make_divisible(channels, widen_factor)``."""
        return make_divisible(channels, self.widen_factor)

    def build_fusion(self, in_channels: int, out_channels: int) -> nn.Module:
        """A ``fusion_type`` block without shortcuts."""
        return self.fusion_type(
            in_channels,
            out_channels,
            num_blocks=make_round(self.num_csp_blocks, self.deepen_factor),
            add_identity=False,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
