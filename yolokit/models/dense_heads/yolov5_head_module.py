"""Prediction convolutions of the YOLOv5 head."""
import math
from typing import List, Sequence, Tuple, Union

import torch.nn as nn
from mmdet.models.utils import multi_apply
from mmdet.utils import OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from yolokit.registry import MODELS
from ..utils import make_divisible


@MODELS.register_module()
class YOLOv5HeadModule(BaseModule):
    """YOLOv5 head module: one unshared 1x1 conv per level.

    Each conv predicts, for every prior at every position, ``4`` box values,
    ``1`` objectness and ``num_classes`` class scores (in that order).

    Args:
        num_classes (int): Number of classes, without background.
        in_channels (int | Sequence[int]): Input channels of each level
            before ``widen_factor``; an int is used for every level.
        widen_factor (float): Channel multiplier. Defaults to 1.0.
        num_base_priors (int): Number of priors per position. Defaults to 3.
        featmap_strides (Sequence[int]): Stride of each level.
            Defaults to (8, 16, 32).
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: Union[int, Sequence],
                 widen_factor: float = 1.0,
                 num_base_priors: int = 3,
                 featmap_strides: Sequence[int] = (8, 16, 32),
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        self.widen_factor = widen_factor
        self.featmap_strides = featmap_strides
        self.num_out_attrib = 5 + self.num_classes
        self.num_levels = len(self.featmap_strides)
        self.num_base_priors = num_base_priors

        if isinstance(in_channels, int):
            in_channels = [in_channels] * self.num_levels
        if len(in_channels) != self.num_levels:
            raise ValueError(
                f'YOLOv5HeadModule: in_channels has {len(in_channels)} '
                f'entries but featmap_strides has {self.num_levels} levels')
        self.in_channels = [
            make_divisible(c, widen_factor) for c in in_channels
        ]
        self._init_layers()

    def _init_layers(self) -> None:
        """Build ``convs_pred``."""
        self.convs_pred = nn.ModuleList(
            nn.Conv2d(c, self.num_base_priors * self.num_out_attrib, 1)
            for c in self.in_channels)

    def init_weights(self) -> None:
        """Initialize the biases of the prediction convs.

        On top of the default initialization, the objectness bias of a level
        of stride ``s`` is raised by ``log(8 / (640 / s)**2)`` (a prior of
        about 8 objects per 640x640 image) and every class bias by
        ``log(0.6 / (num_classes - 0.999999))``.
        """
        first_call = not self.is_init
        super().init_weights()
        if not first_call:
            # the offsets are relative; adding them twice would double them
            return
        cls_offset = math.log(0.6 / (self.num_classes - 0.999999))
        for conv, stride in zip(self.convs_pred, self.featmap_strides):
            bias = conv.bias.data.view(self.num_base_priors, -1)
            bias[:, 4] += math.log(8 / (640 / stride)**2)
            bias[:, 5:] += cls_offset

    def forward(self, x: Tuple[Tensor]) -> Tuple[List]:
        """Run every level.

        Args:
            x (tuple[Tensor]): One feature map ``(B, C_i, H_i, W_i)`` per
                level.

        Returns:
            tuple[list[Tensor]]: Per-level class scores
            ``(B, na * num_classes, H, W)``, box predictions
            ``(B, na * 4, H, W)`` and objectnesses ``(B, na, H, W)``.
        """
        if len(x) != self.num_levels:
            raise ValueError(f'YOLOv5HeadModule expects {self.num_levels} '
                             f'feature maps, but got {len(x)}')
        return multi_apply(self.forward_single, x, self.convs_pred)

    def forward_single(self, x: Tensor,
                       convs: nn.Module) -> Tuple[Tensor, Tensor, Tensor]:
        """Run one level: returns class scores, box predictions and
        objectnesses."""
        pred_map = convs(x)
        bs, _, ny, nx = pred_map.shape
        pred_map = pred_map.view(bs, self.num_base_priors, self.num_out_attrib,
                                 ny, nx)
        cls_score = pred_map[:, :, 5:, ...].reshape(bs, -1, ny, nx)
        bbox_pred = pred_map[:, :, :4, ...].reshape(bs, -1, ny, nx)
        objectness = pred_map[:, :, 4:5, ...].reshape(bs, -1, ny, nx)
        return cls_score, bbox_pred, objectness
