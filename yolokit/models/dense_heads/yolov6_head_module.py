"""Prediction branches of the YOLOv6 head (v2 "efficient decoupled" and the
v3.0 variant with a distance distribution).

Dims: B images, C classes, H x W a level's grid, R distance bins
(``reg_max + num_base_priors``; only when ``reg_max > 1``).
"""
from typing import List, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.models.utils import multi_apply
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule, bias_init_with_prob
from torch import Tensor

from yolokit.registry import MODELS
from .yolov8_head_module import expected_distance

# YOLOv6 starts every class logit at the bias of a 1 % prior probability
CLS_PRIOR_PROB = 0.01


def yolov6_level_channels(in_channels: Union[int, Sequence[int]],
                          num_levels: int, widen_factor: float) -> List[int]:
    """Per-level widths: ``int(c * widen_factor)`` (truncation, not the
    rounding to 8 of YOLOv5); an int stands for every level."""
    if isinstance(in_channels, int):
        in_channels = [in_channels] * num_levels
    if len(in_channels) != num_levels:
        raise ValueError(
            f'YOLOv6HeadModule: in_channels has {len(in_channels)} entries '
            f'but featmap_strides has {num_levels} levels')
    return [int(c * widen_factor) for c in in_channels]


@MODELS.register_module()
class YOLOv6HeadModule(BaseModule):
    """YOLOv6 head module: per level a shared 1x1 stem, then a 3x3 conv and
    a 1x1 prediction conv for each of classification and regression.

    With ``reg_max <= 1`` (v2.0 and the small v3.0 models) the regression
    conv predicts the four side distances (left, top, right, bottom) in
    stride units directly. With ``reg_max > 1`` (v3.0 m/l) it predicts, per
    side, logits over the ``R = reg_max + num_base_priors`` distances
    ``0 .. R - 1``, and the distance is their softmax expectation.

    Args:
        num_classes (int): Number of classes, without background.
        in_channels (int | Sequence[int]): Input channels of each level
            before ``widen_factor``; an int is used for every level.
        widen_factor (float): Channel multiplier. Defaults to 1.0.
        num_base_priors (int): Priors per position. Defaults to 1.
        reg_max (int): Largest distance bin; ``<= 1`` disables the
            distribution. Defaults to 0.
        featmap_strides (Sequence[int]): Stride of each level.
            Defaults to (8, 16, 32).
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
                 reg_max=0,
                 featmap_strides: Sequence[int] = (8, 16, 32),
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        if num_classes < 1:
            raise ValueError('YOLOv6HeadModule: num_classes must be >= 1, '
                             f'but got {num_classes}')
        if reg_max < 0:
            raise ValueError('YOLOv6HeadModule: reg_max must be >= 0, but '
                             f'got {reg_max}')
        self.num_classes = num_classes
        self.featmap_strides = featmap_strides
        self.num_levels = len(self.featmap_strides)
        self.num_base_priors = num_base_priors
        self.reg_max = reg_max
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        self.in_channels = yolov6_level_channels(in_channels, self.num_levels,
                                                 widen_factor)
        self._init_layers()

    @property
    def uses_distribution(self) -> bool:
        """Whether the regression branch predicts per-side distributions."""
        return self.reg_max > 1

    @property
    def num_bins(self) -> int:
        """``R``: distance bins per side (1 without a distribution)."""
        return self.reg_max + self.num_base_priors

    def _conv(self, channels: int, kernel_size: int) -> ConvModule:
        return ConvModule(
            channels,
            channels,
            kernel_size,
            stride=1,
            padding=kernel_size // 2,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def _init_layers(self) -> None:
        """Build the five per-level ModuleLists (their names and the order
        stem, cls, reg inside a level are checkpoint keys)."""
        self.cls_convs = nn.ModuleList()
        self.reg_convs = nn.ModuleList()
        self.cls_preds = nn.ModuleList()
        self.reg_preds = nn.ModuleList()
        self.stems = nn.ModuleList()
        if self.uses_distribution:
            # bin values 0 .. R - 1; derived from reg_max, so not saved
            self.register_buffer(
                'proj',
                torch.arange(self.num_bins, dtype=torch.float),
                persistent=False)
        # without a distribution (reg_max 0 or 1) MMYOLO still sizes the
        # regression output as (num_base_priors + reg_max) * 4
        reg_out = (self.num_base_priors + self.reg_max) * 4
        for c in self.in_channels:
            self.stems.append(self._conv(c, 1))
            self.cls_convs.append(self._conv(c, 3))
            self.reg_convs.append(self._conv(c, 3))
            self.cls_preds.append(
                nn.Conv2d(c, self.num_base_priors * self.num_classes, 1))
            self.reg_preds.append(nn.Conv2d(c, reg_out, 1))

    def init_weights(self) -> None:
        """Default init, then zero prediction weights with biases at a 1 %
        class probability and a distance (or bin logit) of 1."""
        super().init_weights()
        cls_bias = bias_init_with_prob(CLS_PRIOR_PROB)
        for preds, bias in ((self.cls_preds, cls_bias), (self.reg_preds, 1.)):
            for conv in preds:
                nn.init.zeros_(conv.weight)
                nn.init.constant_(conv.bias, bias)

    def forward(self, x: Tuple[Tensor]) -> Tuple[List]:
        """Predict every level.

        Args:
            x (tuple[Tensor]): One feature map ``(B, C_i, H_i, W_i)`` per
                level.

        Returns:
            tuple[list[Tensor]]: Per level class logits ``(B, A * C, H, W)``
            and distances ``(B, 4, H, W)`` in stride units. In training mode
            also the regression outputs: ``(B, H * W, 4, R)`` logits with a
            distribution, else the distances again.
        """
        if len(x) != self.num_levels:
            raise ValueError(f'YOLOv6HeadModule expects {self.num_levels} '
                             f'feature maps, but got {len(x)}')
        return multi_apply(self.forward_single, x, self.stems, self.cls_convs,
                           self.cls_preds, self.reg_convs, self.reg_preds)

    def forward_single(self, x: Tensor, stem: nn.Module, cls_conv: nn.Module,
                       cls_pred: nn.Module, reg_conv: nn.Module,
                       reg_pred: nn.Module) -> Tuple[Tensor, ...]:
        """One level; see :meth:`forward` for the outputs."""
        b, _, h, w = x.shape
        shared = stem(x)
        cls_logits = cls_pred(cls_conv(shared))
        reg_out = reg_pred(reg_conv(shared))
        if self.uses_distribution:
            # channels are ordered (side, bin) in the original model
            reg_out = reg_out.reshape(b, 4, self.num_bins,
                                      h * w).permute(0, 3, 1, 2)
            distances = expected_distance(reg_out,
                                          self.proj).transpose(1, 2).reshape(
                                              b, 4, h, w)
        else:
            distances = reg_out
        if self.training:
            return cls_logits, distances, reg_out
        return cls_logits, distances
