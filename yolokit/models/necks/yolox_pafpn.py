"""Path aggregation network of YOLOX."""
from typing import List

import torch.nn as nn
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmdet.models.layers import CSPLayer
from mmdet.utils import ConfigType, OptMultiConfig

from yolokit.registry import MODELS
from .base_yolo_neck import BaseYOLONeck


@MODELS.register_module()
class YOLOXPAFPN(BaseYOLONeck):
    """Path Aggregation Network used in YOLOX.

    With the (widened) input channels ``c0, c1, c2`` (strides 8, 16, 32):

    * reduce: a 1x1 conv ``c2 -> c1`` on the deepest level, identity on the
      others;
    * top-down: nearest 2x upsampling, then ``CSPLayer(2*c1 -> c1)`` followed
      by a 1x1 conv ``c1 -> c0`` (from stride 32 to 16), and
      ``CSPLayer(2*c0 -> c0)`` (from 16 to 8);
    * bottom-up: a stride-2 3x3 conv (depthwise-separable with
      ``use_depthwise``) keeping the channels, then ``CSPLayer(2*c_i ->
      c_{i+1})``;
    * out: a 1x1 conv from every level to ``out_channels``.

    The CSP layers have no identity shortcuts in their blocks.

    Args:
        in_channels (List[int]): Input channels per level, before widening.
        out_channels (int): Output channels of every level, before
            widening.
        deepen_factor (float): Block-count multiplier. Defaults to 1.0.
        widen_factor (float): Channel multiplier (``int(c * widen)``).
            Defaults to 1.0.
        num_csp_blocks (int): Blocks per CSP layer before deepening
            (``round(n * deepen)``). Defaults to 3.
        use_depthwise (bool): Use depthwise-separable downsampling convs.
            Defaults to False.
        freeze_all (bool): Freeze the whole neck. Defaults to False.
        norm_cfg (dict): Norm layer config.
            Defaults to ``dict(type='BN', momentum=0.03, eps=0.001)``.
        act_cfg (dict): Activation config.
            Defaults to ``dict(type='SiLU', inplace=True)``.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.
    """

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
            raise ValueError('YOLOXPAFPN is built for 3 input levels, but '
                             f'got in_channels={list(in_channels)}')
        self.num_csp_blocks = round(num_csp_blocks * deepen_factor)
        self.use_depthwise = use_depthwise
        super().__init__(
            in_channels=[int(c * widen_factor) for c in in_channels],
            out_channels=int(out_channels * widen_factor),
            deepen_factor=deepen_factor,
            widen_factor=widen_factor,
            freeze_all=freeze_all,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            init_cfg=init_cfg)

    def _csp_layer(self, in_channels: int, out_channels: int) -> CSPLayer:
        return CSPLayer(
            in_channels,
            out_channels,
            num_blocks=self.num_csp_blocks,
            add_identity=False,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def _conv1x1(self, in_channels: int, out_channels: int) -> ConvModule:
        return ConvModule(
            in_channels,
            out_channels,
            1,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def build_reduce_layer(self, idx: int) -> nn.Module:
        """Build the reduce layer: 1x1 conv on the deepest level.

        Args:
            idx (int): Level index.

        Returns:
            nn.Module: The reduce layer.
        """
        if idx == 2:
            return self._conv1x1(self.in_channels[2], self.in_channels[1])
        return nn.Identity()

    def build_upsample_layer(self, *args, **kwargs) -> nn.Module:
        """Build a nearest-neighbour 2x upsampling."""
        return nn.Upsample(scale_factor=2, mode='nearest')

    def build_top_down_layer(self, idx: int) -> nn.Module:
        """Build the top-down fusion block producing level ``idx - 1``.

        Args:
            idx (int): Level index (2 or 1).

        Returns:
            nn.Module: The top-down layer.
        """
        if idx == 1:
            return self._csp_layer(self.in_channels[0] * 2,
                                   self.in_channels[0])
        if idx == 2:
            return nn.Sequential(
                self._csp_layer(self.in_channels[1] * 2, self.in_channels[1]),
                self._conv1x1(self.in_channels[1], self.in_channels[0]))
        raise ValueError(f'YOLOXPAFPN has no top-down layer {idx}')

    def build_downsample_layer(self, idx: int) -> nn.Module:
        """Build the stride-2 downsampling conv of level ``idx``.

        Args:
            idx (int): Level index.

        Returns:
            nn.Module: The downsample layer.
        """
        conv = DepthwiseSeparableConvModule \
            if self.use_depthwise else ConvModule
        return conv(
            self.in_channels[idx],
            self.in_channels[idx],
            kernel_size=3,
            stride=2,
            padding=1,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def build_bottom_up_layer(self, idx: int) -> nn.Module:
        """Build the bottom-up fusion block producing level ``idx + 1``.

        Args:
            idx (int): Level index.

        Returns:
            nn.Module: The bottom-up layer.
        """
        return self._csp_layer(self.in_channels[idx] * 2,
                               self.in_channels[idx + 1])

    def build_out_layer(self, idx: int) -> nn.Module:
        """Build the 1x1 output conv of level ``idx``.

        Args:
            idx (int): Level index.

        Returns:
            nn.Module: The out layer.
        """
        return self._conv1x1(self.in_channels[idx], self.out_channels)
