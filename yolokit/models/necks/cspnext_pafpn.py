"""Path aggregation network of RTMDet, built from CSPNeXt blocks."""
import math
from typing import Sequence

import torch.nn as nn
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmdet.models.layers import CSPLayer
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig

from yolokit.registry import MODELS
from .base_yolo_neck import BaseYOLONeck


@MODELS.register_module()
class CSPNeXtPAFPN(BaseYOLONeck):
    """Path Aggregation Network with CSPNeXt blocks (RTMDet).

    The deepest level is reduced by a 1x1 conv; each top-down fusion is a
    ``CSPLayer`` (CSPNeXt blocks, no identity) that, except for the finest
    level, is followed by a 1x1 conv halving the channels for the next
    fusion; the bottom-up path downsamples with 3x3 stride-2 convs; every
    level ends in a 3x3 conv to ``out_channels``.

    Args:
        in_channels (Sequence[int]): Input channels per level (before
            scaling by ``widen_factor``).
        out_channels (int): Output channels of every level (before scaling).
        deepen_factor (float): Block-count multiplier; each CSP layer has
            ``round(num_csp_blocks * deepen_factor)`` blocks.
            Defaults to 1.0.
        widen_factor (float): Channel multiplier. Defaults to 1.0.
        num_csp_blocks (int): CSPNeXt blocks per CSP layer before scaling.
            Defaults to 3.
        freeze_all (bool): Freeze the whole neck. Defaults to False.
        use_depthwise (bool): Use depth-wise separable convs for the
            reduce/downsample/out convs. Defaults to False.
        expand_ratio (float): Hidden-channel ratio of the CSP layers.
            Defaults to 0.5.
        upsample_cfg (dict): Arguments of ``nn.Upsample``.
            Defaults to ``dict(scale_factor=2, mode='nearest')``.
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation config.
            Defaults to ``dict(type='SiLU', inplace=True)``.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to Kaiming-uniform (``a=sqrt(5)``, fan_in) on Conv2d.
    """

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
        if len(in_channels) < 2:
            raise ValueError('CSPNeXtPAFPN needs at least 2 input levels, '
                             f'but got in_channels={list(in_channels)}')
        if not isinstance(out_channels, int):
            raise TypeError('CSPNeXtPAFPN: out_channels must be one int (the '
                            'channels of every output level), but got '
                            f'{out_channels!r}')
        # read by the build_*_layer methods that the base __init__ calls
        self.num_csp_blocks = round(num_csp_blocks * deepen_factor)
        self.conv = DepthwiseSeparableConvModule \
            if use_depthwise else ConvModule
        self.upsample_cfg = upsample_cfg
        self.expand_ratio = expand_ratio
        self.conv_cfg = conv_cfg
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
            use_cspnext_block=True,
            expand_ratio=self.expand_ratio,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def build_reduce_layer(self, idx: int) -> nn.Module:
        """The deepest level gets a 1x1 conv to the next level's channels;
        the others pass through.

        Args:
            idx (int): Level index.

        Returns:
            nn.Module: The reduce layer.
        """
        if idx == len(self.in_channels) - 1:
            return self.conv(
                self.in_channels[idx],
                self.in_channels[idx - 1],
                1,
                conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg)
        return nn.Identity()

    def build_upsample_layer(self, *args, **kwargs) -> nn.Module:
        """Build an ``nn.Upsample`` from ``upsample_cfg``."""
        return nn.Upsample(**self.upsample_cfg)

    def build_top_down_layer(self, idx: int) -> nn.Module:
        """Fusion producing top-down level ``idx - 1``.

        Args:
            idx (int): Index of the coarser input level (``>= 1``).

        Returns:
            nn.Module: A CSP layer; above the finest level followed by a
            1x1 conv to the channels of level ``idx - 2``.
        """
        csp_layer = self._csp_layer(self.in_channels[idx - 1] * 2,
                                    self.in_channels[idx - 1])
        if idx == 1:
            return csp_layer
        return nn.Sequential(
            csp_layer,
            self.conv(
                self.in_channels[idx - 1],
                self.in_channels[idx - 2],
                kernel_size=1,
                conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg))

    def build_downsample_layer(self, idx: int) -> nn.Module:
        """3x3 stride-2 conv from level ``idx`` to ``idx + 1``.

        Args:
            idx (int): Level index.

        Returns:
            nn.Module: The downsample layer.
        """
        return self.conv(
            self.in_channels[idx],
            self.in_channels[idx],
            kernel_size=3,
            stride=2,
            padding=1,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def build_bottom_up_layer(self, idx: int) -> nn.Module:
        """CSP layer producing bottom-up level ``idx + 1``.

        Args:
            idx (int): Level index.

        Returns:
            nn.Module: The bottom-up layer.
        """
        return self._csp_layer(self.in_channels[idx] * 2,
                               self.in_channels[idx + 1])

    def build_out_layer(self, idx: int) -> nn.Module:
        """3x3 conv from level ``idx`` to ``out_channels``.

        Args:
            idx (int): Level index.

        Returns:
            nn.Module: The out layer.
        """
        return self.conv(
            self.in_channels[idx],
            self.out_channels,
            3,
            padding=1,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
