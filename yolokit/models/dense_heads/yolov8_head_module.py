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
from ..utils import make_divisible


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

        if isinstance(in_channels, int):
            in_channels = [in_channels] * self.num_levels
        if len(in_channels) != self.num_levels:
            raise ValueError(
                f'YOLOv8HeadModule: in_channels has {len(in_channels)} '
                f'entries but featmap_strides has {self.num_levels} levels')
        self.in_channels = [
            make_divisible(c, widen_factor) for c in in_channels
        ]
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
        """Initialize the weights and the prediction biases.

        The regression biases are set to 1.0 and the class biases of a level
        of stride ``s`` to ``log(5 / num_classes / (640 / s)**2)`` (about 5
        objects per 640x640 image). ``prior_prob`` is unused; it is kept for
        API compatibility.
        """
        super().init_weights()
        for reg_pred, cls_pred, stride in zip(self.reg_preds, self.cls_preds,
                                              self.featmap_strides):
            reg_pred[-1].bias.data[:] = 1.0
            cls_pred[-1].bias.data[:self.num_classes] = math.log(
                5 / self.num_classes / (640 / stride)**2)

    def forward(self, x: Tuple[Tensor]) -> Tuple[List]:
        """Run every level.

        Args:
            x (tuple[Tensor]): One feature map ``(B, C_i, H_i, W_i)`` per
                level.

        Returns:
            tuple[list[Tensor]]: Per-level class scores
            ``(B, num_classes, H, W)`` and distances ``(B, 4, H, W)`` (in
            stride units); in training mode also the distance logits
            ``(B, H * W, 4, reg_max)``.
        """
        if len(x) != self.num_levels:
            raise ValueError(f'YOLOv8HeadModule expects {self.num_levels} '
                             f'feature maps, but got {len(x)}')
        return multi_apply(self.forward_single, x, self.cls_preds,
                           self.reg_preds)

    def forward_single(self, x: Tensor, cls_pred: nn.ModuleList,
                       reg_pred: nn.ModuleList) -> Tuple:
        """Run one level; see :meth:`forward` for the outputs."""
        b, _, h, w = x.shape
        cls_logit = cls_pred(x)
        reg_out = reg_pred(x)
        # channels are ordered (side, bin), as in the original model
        bbox_dist_preds = reg_out.reshape(b, 4, self.reg_max,
                                          h * w).permute(0, 3, 1, 2)
        if self.reg_max > 1:
            # expectation over the bins: (B, HW, 4)
            bbox_preds = bbox_dist_preds.softmax(3).matmul(
                self.proj.view(-1, 1)).squeeze(-1)
            bbox_preds = bbox_preds.transpose(1, 2).reshape(b, -1, h, w)
        else:
            # a single bin is the distance itself
            bbox_preds = reg_out
        if self.training:
            return cls_logit, bbox_preds, bbox_dist_preds
        return cls_logit, bbox_preds
