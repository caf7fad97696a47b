"""Path aggregation network of YOLOv8."""
from typing import List, Union

import torch.nn as nn
from mmdet.utils import ConfigType, OptMultiConfig

from yolokit.registry import MODELS
from ..layers import CSPLayerWithTwoConv
from ..utils import make_divisible, make_round
from .yolov5_pafpn import YOLOv5PAFPN


@MODELS.register_module()
class YOLOv8PAFPN(YOLOv5PAFPN):
    """Path Aggregation Network used in YOLOv8.

    Compared with :class:`YOLOv5PAFPN`, the inputs are not reduced (the
    reduce layers are identities, which removes the two 1x1 connection
    convs) and the fusion blocks are :class:`CSPLayerWithTwoConv` (C2f)
    without identity shortcuts. Upsampling, the 3x3 stride-2 downsampling
    convs and the identity output layers are YOLOv5's. All YOLOv8 configs
    use ``in_channels == out_channels``.

    Args:
        in_channels (List[int]): Input channels per level (before scaling).
        out_channels (int | List[int]): Output channels per level (before
            scaling).
        deepen_factor (float): Block-count multiplier. Defaults to 1.0.
        widen_factor (float): Channel multiplier. Defaults to 1.0.
        num_csp_blocks (int): Blocks per C2f layer before scaling.
            Defaults to 3.
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
                 num_csp_blocks: int = 3,
                 freeze_all: bool = False,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 init_cfg: OptMultiConfig = None):
        if isinstance(out_channels, int):
            out_channels = [out_channels] * len(in_channels)
        if len(out_channels) != len(in_channels):
            raise ValueError(
                'YOLOv8PAFPN: `out_channels` must have one entry per input '
                f'level ({len(in_channels)}), but got {out_channels}')
        super().__init__(
            in_channels=in_channels,
            out_channels=out_channels,
            deepen_factor=deepen_factor,
            widen_factor=widen_factor,
            num_csp_blocks=num_csp_blocks,
            freeze_all=freeze_all,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            init_cfg=init_cfg)

    def _c2f_layer(self, in_channels: int,
                   out_channels: int) -> CSPLayerWithTwoConv:
        return CSPLayerWithTwoConv(
            make_divisible(in_channels, self.widen_factor),
            make_divisible(out_channels, self.widen_factor),
            num_blocks=make_round(self.num_csp_blocks, self.deepen_factor),
            add_identity=False,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def build_reduce_layer(self, idx: int) -> nn.Module:
        """Build the reduce layer (identity for every level).

        Args:
            idx (int): Level index.

        Returns:
            nn.Module: ``nn.Identity``.
        """
        return nn.Identity()

    def build_top_down_layer(self, idx: int) -> nn.Module:
        """Build the C2f fusing the upsampled level ``idx`` with level
        ``idx - 1``.

        Args:
            idx (int): Level index of the upsampled (coarser) input.

        Returns:
            nn.Module: The top-down layer.
        """
        return self._c2f_layer(
            self.in_channels[idx - 1] + self.in_channels[idx],
            self.out_channels[idx - 1])

    def build_bottom_up_layer(self, idx: int) -> nn.Module:
        """Build the C2f fusing the downsampled level ``idx`` with level
        ``idx + 1``.

        Args:
            idx (int): Level index of the downsampled (finer) input.

        Returns:
            nn.Module: The bottom-up layer.
        """
        return self._c2f_layer(
            self.out_channels[idx] + self.out_channels[idx + 1],
            self.out_channels[idx + 1])
