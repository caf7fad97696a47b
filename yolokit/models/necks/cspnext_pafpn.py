"""RTMDet's PAFPN: CSPNeXt fusions, 3x3 output convs to one width."""
import math
from typing import Sequence

import torch.nn as nn
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmdet.models.layers import CSPLayer
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig

from yolokit.registry import MODELS
from .pafpn_layout import PAFPNLayout, widen_levels


@MODELS.register_module()
class CSPNeXtPAFPN(PAFPNLayout):
    """RTMDet's neck: the :class:`PAFPNLayout` with CSPNeXt fusions and a
    3x3 conv per output.

    For ``in_channels = [256, 512, 1024]`` (strides 8/16/32) at
    ``widen_factor=1`` the inner maps have 256/512/1024 channels, as in
    YOLOv5's neck; every level then goes through a 3x3 conv to
    ``out_channels``, so output ``i`` is (B, int(out_channels *
    widen_factor), H_i, W_i) at the input's resolution. Any number of
    levels >= 2 works (P6 models use 4). A fusion is MMDetection's
    ``CSPLayer`` of CSPNeXt blocks (3x3 conv, 5x5 depth-wise separable
    conv) without shortcuts or channel attention, with
    ``round(num_csp_blocks * deepen_factor)`` blocks; channels are
    truncated (``int(c * widen_factor)``, stored in ``self.in_channels``).

    Args:
        in_channels (Sequence[int]): Input channels per level, before
            widening.
        out_channels (int): Channels of every output, before widening.
        num_csp_blocks (int): Blocks per fusion before deepening.
            Defaults to 3.
        use_depthwise (bool): Depth-wise separable convs everywhere (the
            1x1 laterals, the 3x3/2 downsampling and the output convs).
            Defaults to False.
        expand_ratio (float): Hidden-channel ratio of the fusions.
            Defaults to 0.5.
        upsample_cfg (dict): Arguments of ``nn.Upsample``.
            Defaults to ``dict(scale_factor=2, mode='nearest')``.
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        init_cfg (dict or list[dict], optional): Defaults to Kaiming-uniform
            (``a=sqrt(5)``, fan_in) on every Conv2d.
        Others: as :class:`BaseYOLONeck`.

    Raises:
        NeckLevelsError: Fewer than 2 levels.
        TypeError: ``out_channels`` is not an int.
    """
    out_kernel_size = 3
    depthwise_laterals = True
    depthwise_downsample = True

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: int,
                 deepen_factor: float = 1.0,
                 widen_factor: float = 1.0,
                 num_csp_blocks: int = 3,
                 freeze_all: bool = False,
                 use_depthwise: bool = False,
                 expand_ratio: float = 0.5,
                 upsample_cfg: ConfigType = dict(
                     scale_factor=2, mode='nearest'),
                 conv_cfg: OptConfigType = None,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 init_cfg: OptMultiConfig = dict(
                     type='Kaiming',
                     layer='Conv2d',
                     a=math.sqrt(5),
                     distribution='uniform',
                     mode='fan_in',
                     nonlinearity='leaky_relu')):
        in_channels, out_channels = widen_levels('CSPNeXtPAFPN', in_channels,
                                                 out_channels, widen_factor)
        self.num_csp_blocks = round(num_csp_blocks * deepen_factor)
        self.use_depthwise, self.conv_cfg = use_depthwise, conv_cfg
        self.expand_ratio, self.upsample_cfg = expand_ratio, upsample_cfg
        # MMYOLO's attribute for the conv type, kept for code that reads it;
        # the layers themselves follow use_depthwise
        self.conv = (
            DepthwiseSeparableConvModule if use_depthwise else ConvModule)
        super().__init__(in_channels, out_channels, deepen_factor,
                         widen_factor, freeze_all, norm_cfg, act_cfg, init_cfg)

    def build_fusion(self, in_channels: int, out_channels: int) -> nn.Module:
        """A ``CSPLayer`` of CSPNeXt blocks without shortcuts."""
        return CSPLayer(
            in_channels,
            out_channels,
            num_blocks=self.num_csp_blocks,
            add_identity=False,
            use_cspnext_block=True,
            expand_ratio=self.expand_ratio,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
