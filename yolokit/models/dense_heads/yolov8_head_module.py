"""Decoupled, anchor-free prediction branches of the YOLOv8 head."""
import math
from typing import List, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.models.utils import multi_apply
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from yolokit.registry import MODELS
from .yolov5_head_module import widened_level_channels


@MODELS.register_module()
class YOLOv8HeadModule(BaseModule):
    """YOLOv8 head module: separate classification and regression branches
    per level (no objectness).

    Each branch is two 3x3 ``ConvModule`` followed by a 1x1 ``Conv2d``. The
    regression branch predicts, for each of the four sides (left, top,
    right, bottom), a distribution over the distances ``0 .. reg_max - 1``
    (in stride units); its expectation is the predicted distance (the
    integral representation of Distribution Focal Loss).

    Args:
        num_classes (int): Number of classes, without background.
        in_channels (int | Sequence[int]): Input channels of each level
            before ``widen_factor``; an int is used for every level.
        widen_factor (float): Channel multiplier. Defaults to 1.0.
        num_base_priors (int): Priors per position. Defaults to 1.
        featmap_strides (Sequence[int]): Stride of each level.
            Defaults to (8, 16, 32).
        reg_max (int): Number of distance bins; distances range over
            ``{0, ..., reg_max - 1}``. Defaults to 16.
        norm_cfg (dict): Norm layer config.
            Defaults to ``dict(type='BN', momentum=0.03, eps=0.001)``.
        act_cfg (dict): Activation config.
            Defaults to ``dict(type='SiLU', inplace=True)``.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: Union[int, Sequence],
                 widen_factor: float = 1.0,
                 num_base_priors: int = 1,
                 featmap_strides: Sequence[int] = (8, 16, 32),
                 reg_max: int = 16,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        if reg_max < 1:
            raise ValueError(
                f'YOLOv8HeadModule: `reg_max` must be >= 1, but got {reg_max}')
        self.num_classes = num_classes
        self.featmap_strides = featmap_strides
        self.num_levels = len(self.featmap_strides)
        self.num_base_priors = num_base_priors
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        self.widen_factor = widen_factor
        self.reg_max = reg_max

        self.in_channels = widened_level_channels(type(self).__name__,
                                                  in_channels,
                                                  self.num_levels,
                                                  widen_factor)
        self._init_layers()

    def _branch(self, in_channels: int, mid_channels: int,
                out_channels: int) -> nn.Sequential:
        return nn.Sequential(
            ConvModule(
                in_channels,
                mid_channels,
                3,
                stride=1,
                padding=1,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg),
            ConvModule(
                mid_channels,
                mid_channels,
                3,
                stride=1,
                padding=1,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg), nn.Conv2d(mid_channels, out_channels,
                                                 1))

    def _init_layers(self) -> None:
        """Build ``cls_preds``, ``reg_preds`` and the ``proj`` buffer."""
        # Widths of all levels follow the finest level's input.
        reg_channels = max(16, self.in_channels[0] // 4, self.reg_max * 4)
        cls_channels = max(self.in_channels[0], self.num_classes)
        self.cls_preds = nn.ModuleList(
            self._branch(c, cls_channels, self.num_classes)
            for c in self.in_channels)
        self.reg_preds = nn.ModuleList(
            self._branch(c, reg_channels, 4 * self.reg_max)
            for c in self.in_channels)
        # Bin values of the distance distribution; rebuilt from reg_max, so
        # not part of the state_dict.
        self.register_buffer(
            'proj',
            torch.arange(self.reg_max, dtype=torch.float),
            persistent=False)

    def init_weights(self, prior_prob: float = 0.01) -> None:
        """Default init, then the prediction biases: 1.0 for the distance
        bins, and for the classes of a level of stride ``s``
        ``log(5 / num_classes / (640 / s) ** 2)`` (about 5 objects per
        640x640 image). ``prior_prob`` is unused; MMYOLO has it too.
        """
        super().init_weights()
        for reg_pred, cls_pred, stride in zip(self.reg_preds, self.cls_preds,
                                              self.featmap_strides):
            nn.init.constant_(reg_pred[-1].bias, 1.0)
            nn.init.constant_(
                cls_pred[-1].bias,
                math.log(5 / self.num_classes / (640 / stride)**2))

    def forward(self, x: Tuple[Tensor]) -> Tuple[List]:
        """Predict every level.

        Args:
            x (tuple[Tensor]): One feature map ``(B, C_i, H_i, W_i)`` per
                level.

        Returns:
            tuple[list[Tensor]]: Per level class logits ``(B, C, H, W)`` and
            distances ``(B, 4, H, W)`` in stride units; in training mode
            also the distance logits ``(B, H * W, 4, R)``.
        """
        if len(x) != self.num_levels:
            raise ValueError(f'YOLOv8HeadModule expects {self.num_levels} '
                             f'feature maps, but got {len(x)}')
        return multi_apply(self.forward_single, x, self.cls_preds,
                           self.reg_preds)

    def forward_single(self, x: Tensor, cls_pred: nn.ModuleList,
                       reg_pred: nn.ModuleList) -> Tuple:
        """One level; see :meth:`forward` for the outputs."""
        b, _, h, w = x.shape
        cls_logits = cls_pred(x)
        reg_out = reg_pred(x)
        # channels are ordered (side, bin), as in the original model
        dist_logits = reg_out.reshape(b, 4, self.reg_max,
                                      h * w).permute(0, 3, 1, 2)
        if self.reg_max == 1:
            distances = reg_out  # a single bin is the distance itself
        else:
            distances = expected_distance(dist_logits, self.proj).transpose(
                1, 2).reshape(b, 4, h, w)
        if self.training:
            return cls_logits, distances, dist_logits
        return cls_logits, distances


def expected_distance(dist_logits: Tensor, bins: Tensor) -> Tensor:
    """``(..., R)`` logits over the distances ``bins (R,)`` -> their
    expectation ``(...)``: the integral form of Distribution Focal Loss."""
    return dist_logits.softmax(-1).matmul(bins.view(-1, 1)).squeeze(-1)
