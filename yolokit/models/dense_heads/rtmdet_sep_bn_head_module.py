"""Prediction towers of the RTMDet head: shared convs, per-level BN."""
from typing import Sequence, Tuple

import torch.nn as nn
from mmcv.cnn import ConvModule, is_norm
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import BaseModule, bias_init_with_prob
from torch import Tensor

from yolokit.registry import MODELS


@MODELS.register_module()
class RTMDetSepBNHeadModule(BaseModule):
    """Detection head module of RTMDet ("SepBN" head).

    Every level has a classification and a regression tower of
    ``stacked_convs`` 3x3 ``ConvModule`` s, followed by the predictors
    ``rtm_cls`` and ``rtm_reg``. With ``share_conv`` the conv weights of a
    tower are shared by all levels (the level-0 ``nn.Conv2d`` objects are
    reused) while each level keeps its own BatchNorm. The predictors are
    never shared.

    Args:
        num_classes (int): Number of classes, without background.
        in_channels (int): Input channels of every level (before
            ``widen_factor``).
        widen_factor (float): Channel multiplier of ``in_channels`` and
            ``feat_channels``. Defaults to 1.0.
        num_base_priors (int): Number of priors per position. Defaults to 1.
        feat_channels (int): Hidden channels of the towers (before
            ``widen_factor``). Defaults to 256.
        stacked_convs (int): Convs per tower. Defaults to 2.
        featmap_strides (Sequence[int]): Stride of each level.
            Defaults to [8, 16, 32].
        share_conv (bool): Share the tower convs between levels.
            Defaults to True.
        pred_kernel_size (int): Kernel size of the predictors.
            Defaults to 1.
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation config.
            Defaults to ``dict(type='SiLU', inplace=True)``.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 widen_factor: float = 1.0,
                 num_base_priors: int = 1,
                 feat_channels: int = 256,
                 stacked_convs: int = 2,
                 featmap_strides: Sequence[int] = [8, 16, 32],
                 share_conv: bool = True,
                 pred_kernel_size: int = 1,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        if not isinstance(in_channels, int):
            raise TypeError('RTMDetSepBNHeadModule: in_channels must be one '
                            'int (all levels share the tower convs), but got '
                            f'{in_channels!r}')
        if num_classes < 1:
            raise ValueError('RTMDetSepBNHeadModule: num_classes must be >= '
                             f'1, but got {num_classes}')
        if stacked_convs < 1:
            raise ValueError('RTMDetSepBNHeadModule: stacked_convs must be '
                             f'>= 1, but got {stacked_convs}')
        self.share_conv = share_conv
        self.num_classes = num_classes
        self.pred_kernel_size = pred_kernel_size
        self.feat_channels = int(feat_channels * widen_factor)
        self.stacked_convs = stacked_convs
        self.num_base_priors = num_base_priors
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        self.featmap_strides = featmap_strides
        self.in_channels = int(in_channels * widen_factor)
        self._init_layers()

    def _tower(self) -> nn.ModuleList:
        return nn.ModuleList([
            ConvModule(
                self.in_channels if i == 0 else self.feat_channels,
                self.feat_channels,
                3,
                stride=1,
                padding=1,
                conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg) for i in range(self.stacked_convs)
        ])

    def _predictor(self, out_channels: int) -> nn.Conv2d:
        return nn.Conv2d(
            self.feat_channels,
            out_channels,
            self.pred_kernel_size,
            padding=self.pred_kernel_size // 2)

    def _init_layers(self) -> None:
        """Build the towers and predictors of every level."""
        self.cls_convs = nn.ModuleList()
        self.reg_convs = nn.ModuleList()
        self.rtm_cls = nn.ModuleList()
        self.rtm_reg = nn.ModuleList()
        for _ in self.featmap_strides:
            self.cls_convs.append(self._tower())
            self.reg_convs.append(self._tower())
            self.rtm_cls.append(
                self._predictor(self.num_base_priors * self.num_classes))
            self.rtm_reg.append(self._predictor(self.num_base_priors * 4))

        if self.share_conv:
            # Only the Conv2d is shared: BN statistics differ per level.
            for n in range(1, len(self.featmap_strides)):
                for i in range(self.stacked_convs):
                    self.cls_convs[n][i].conv = self.cls_convs[0][i].conv
                    self.reg_convs[n][i].conv = self.reg_convs[0][i].conv

    def init_weights(self) -> None:
        """Small random convs and a rare-object prior for the classifier.

        Every conv weight ~ N(0, 0.01) with zero bias, every norm layer the
        identity (weight 1, bias 0), and the class predictors' bias
        ``-log((1 - p) / p)`` with ``p = 0.01``, so that each class starts
        at probability 0.01 (the focal-loss prior of RetinaNet).
        """
        super().init_weights()
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, mean=0, std=0.01)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif is_norm(module):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for predictor in self.rtm_cls:
            nn.init.constant_(predictor.bias, bias_init_with_prob(0.01))

    def forward(self, feats: Tuple[Tensor, ...]) -> tuple:
        """Predict class scores and box distances on every level.

        Args:
            feats (tuple[Tensor]): One feature map per level.

        Returns:
            tuple: ``(cls_scores, bbox_preds)``, tuples with one tensor per
            level: ``(B, num_base_priors * num_classes, H, W)`` logits and
            ``(B, num_base_priors * 4, H, W)`` (left, top, right, bottom)
            distances in units of the level's stride.
        """
        if len(feats) != len(self.featmap_strides):
            raise ValueError(
                f'RTMDetSepBNHeadModule has {len(self.featmap_strides)} '
                f'levels (featmap_strides={list(self.featmap_strides)}) but '
                f'got {len(feats)} feature maps')
        cls_scores, bbox_preds = [], []
        for level, x in enumerate(feats):
            cls_feat = run_in_order(self.cls_convs[level], x)
            reg_feat = run_in_order(self.reg_convs[level], x)
            cls_scores.append(self.rtm_cls[level](cls_feat))
            bbox_preds.append(self.rtm_reg[level](reg_feat))
        return tuple(cls_scores), tuple(bbox_preds)


def run_in_order(layers: Sequence[nn.Module], x: Tensor) -> Tensor:
    """``x`` through ``layers`` one after the other (a ModuleList kept for
    its checkpoint keys ``cls_convs.{level}.{i}``, not a Sequential)."""
    for layer in layers:
        x = layer(x)
    return x
