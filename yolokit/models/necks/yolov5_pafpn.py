"""Path aggregation network of YOLOv5."""
from typing import List, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.models.layers import CSPLayer
from mmdet.utils import ConfigType, OptMultiConfig

from yolokit.registry import MODELS
from ..utils import make_divisible, make_round
from .base_yolo_neck import BaseYOLONeck


@MODELS.register_module()
class YOLOv5PAFPN(BaseYOLONeck):
    """Path Aggregation Network used in YOLOv5.

    The deepest level is reduced by a 1x1 conv; top-down and bottom-up
    fusions are ``CSPLayer`` blocks without identity shortcuts; there are no
    extra output convs. Output level ``i`` has
    ``make_divisible(in_channels[i], widen_factor)`` channels.

    Args:
        in_channels (List[int]): Input channels per level (before scaling).
        out_channels (int | List[int]): Output channels per level; stored
            for reference, the layer widths follow ``in_channels``.
        deepen_factor (float): Block-count multiplier. Defaults to 1.0.
        widen_factor (float): Channel multiplier. Defaults to 1.0.
        num_csp_blocks (int): Bottlenecks per CSP layer before scaling.
            Defaults to 1.
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
                 out_channels: Union[List[int], int],
                 deepen_factor: float = 1.0,
                 widen_factor: float = 1.0,
                 num_csp_blocks: int = 1,
                 freeze_all: bool = False,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 init_cfg: OptMultiConfig = None):
        # Needed by the build_* methods the base __init__ calls.
        self.num_csp_blocks = num_csp_blocks
        super().__init__(
            in_channels=in_channels,
            out_channels=out_channels,
            deepen_factor=deepen_factor,
            widen_factor=widen_factor,
            freeze_all=freeze_all,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            init_cfg=init_cfg)

    def init_weights(self) -> None:
        """Initialize the weights.

        Without ``init_cfg``, every Conv2d gets PyTorch's default
        initialization again (as in the original YOLOv5); otherwise
        ``init_cfg`` is applied.
        """
        if self.init_cfg is None:
            for m in self.modules():
                if isinstance(m, torch.nn.Conv2d):
                    m.reset_parameters()
        else:
            super().init_weights()

    def _channels(self, idx: int, multiple: int = 1) -> int:
        return make_divisible(self.in_channels[idx] * multiple,
                              self.widen_factor)

    def _csp_layer(self, in_channels: int, out_channels: int) -> CSPLayer:
        return CSPLayer(
            in_channels,
            out_channels,
            num_blocks=make_round(self.num_csp_blocks, self.deepen_factor),
            add_identity=False,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def build_reduce_layer(self, idx: int) -> nn.Module:
        """Build the reduce layer: 1x1 conv on the deepest level, else
        identity.

        Args:
            idx (int): Level index.

        Returns:
            nn.Module: The reduce layer.
        """
        if idx == len(self.in_channels) - 1:
            return ConvModule(
                self._channels(idx),
                self._channels(idx - 1),
                1,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg)
        return nn.Identity()

    def build_upsample_layer(self, *args, **kwargs) -> nn.Module:
        """Build a 2x nearest-neighbour upsampling."""
        return nn.Upsample(scale_factor=2, mode='nearest')

    def build_top_down_layer(self, idx: int) -> nn.Module:
        """Build the top-down fusion block producing level ``idx - 1``.

        A CSP layer; except for the finest level, followed by a 1x1 conv
        that matches the channels of the next finer level.

        Args:
            idx (int): Level index of the upsampled (coarser) input.

        Returns:
            nn.Module: The top-down layer.
        """
        csp_layer = self._csp_layer(
            self._channels(idx - 1, 2), self._channels(idx - 1))
        if idx == 1:
            return csp_layer
        return nn.Sequential(
            csp_layer,
            ConvModule(
                self._channels(idx - 1),
                self._channels(idx - 2),
                kernel_size=1,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg))

    def build_downsample_layer(self, idx: int) -> nn.Module:
        """Build the 3x3 stride-2 conv from level ``idx`` to ``idx + 1``.

        Args:
            idx (int): Level index.

        Returns:
            nn.Module: The downsample layer.
        """
        return ConvModule(
            self._channels(idx),
            self._channels(idx),
            kernel_size=3,
            stride=2,
            padding=1,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def build_bottom_up_layer(self, idx: int) -> nn.Module:
        """Build the bottom-up CSP fusion block producing level ``idx + 1``.

        Args:
            idx (int): Level index of the downsampled (finer) input.

        Returns:
            nn.Module: The bottom-up layer.
        """
        return self._csp_layer(self._channels(idx, 2), self._channels(idx + 1))

    def build_out_layer(self, *args, **kwargs) -> nn.Module:
        """Build the output layer (identity)."""
        return nn.Identity()
