"""Prediction convs of the PP-YOLOE head (ESE-gated stems, DFL bins)."""
from typing import List, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule, bias_init_with_prob
from torch import Tensor

from yolokit.models.layers import PPYOLOESELayer
from yolokit.registry import MODELS


def expected_distance(dist_logits: Tensor, proj: Tensor) -> Tensor:
    """Side distances as the mean of a softmax over ``reg_max + 1`` bins.

    Args:
        dist_logits (Tensor[B, HW, 4, R + 1]): Bin logits per side.
        proj (Tensor[R + 1]): Bin values 0..R.

    Returns:
        Tensor[B, HW, 4]: Expected distance per side, in stride units.
    """
    return dist_logits.softmax(-1) @ proj


@MODELS.register_module()
class PPYOLOEHeadModule(BaseModule):
    """Per level: ``cls = cls_pred(cls_stem(x, pool(x)) + x)`` and
    ``reg = reg_pred(reg_stem(x, pool(x)))``, both preds 3x3 convs.

    ``forward`` returns, per level ``i`` of size (H_i, W_i):
    class logits (B, K, H_i, W_i), side distances (B, 4, H_i, W_i) and, in
    training mode, the raw bin logits (B, H_i W_i, 4, R + 1) for the DFL
    (R = ``reg_max``; with ``reg_max <= 1`` the distances are the conv
    output itself and the third item is that same map).

    Args:
        num_classes (int): Number of classes K.
        in_channels (int | Sequence[int]): Channels per level (before
            ``widen_factor``); an int means the same for every level.
        widen_factor (float): Channel multiplier. Defaults to 1.0.
        num_base_priors (int): Priors per grid point. Defaults to 1.
        featmap_strides (Sequence[int]): Defaults to (8, 16, 32).
        reg_max (int): Largest distance bin R. Defaults to 16.
        norm_cfg (dict): Defaults to ``dict(type='BN', momentum=0.1,
            eps=1e-5)``.
        act_cfg (dict): Defaults to SiLU.
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: Union[int, Sequence],
                 widen_factor: float = 1.0,
                 num_base_priors: int = 1,
                 featmap_strides: Sequence[int] = (8, 16, 32),
                 reg_max: int = 16,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.1, eps=1e-5),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        self.featmap_strides = featmap_strides
        self.num_levels = len(featmap_strides)
        self.num_base_priors = num_base_priors
        self.norm_cfg, self.act_cfg = norm_cfg, act_cfg
        self.reg_max = reg_max
        if isinstance(in_channels, int):
            in_channels = [in_channels] * self.num_levels
        elif len(in_channels) != self.num_levels:
            raise ValueError(
                'PPYOLOEHeadModule: in_channels must have one entry per '
                f'featmap stride {tuple(featmap_strides)}, but got '
                f'{list(in_channels)}')
        self.in_channels = [int(c * widen_factor) for c in in_channels]
        self._init_layers()

    def _init_layers(self) -> None:
        # state_dict order: cls_preds, reg_preds, cls_stems, reg_stems
        self.cls_preds = nn.ModuleList()
        self.reg_preds = nn.ModuleList()
        self.cls_stems = nn.ModuleList()
        self.reg_stems = nn.ModuleList()
        for c in self.in_channels:
            for stems in (self.cls_stems, self.reg_stems):
                stems.append(PPYOLOESELayer(
                    c, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg))
        for c in self.in_channels:
            self.cls_preds.append(nn.Conv2d(c, self.num_classes, 3, padding=1))
            self.reg_preds.append(
                nn.Conv2d(c, 4 * (self.reg_max + 1), 3, padding=1))
        self.register_buffer(
            'proj', torch.arange(self.reg_max + 1, dtype=torch.float),
            persistent=False)

    def init_weights(self, prior_prob: float = 0.01) -> None:
        """Zero pred kernels; class bias for ``prior_prob`` foreground
        probability, box bias 1 (uniform bins)."""
        super().init_weights()
        for conv in self.cls_preds:
            conv.weight.data.fill_(0.)
            conv.bias.data.fill_(bias_init_with_prob(prior_prob))
        for conv in self.reg_preds:
            conv.weight.data.fill_(0.)
            conv.bias.data.fill_(1.0)

    def forward(self, x: Tuple[Tensor, ...]) -> Tuple[List[Tensor], ...]:
        if len(x) != self.num_levels:
            raise ValueError(
                f'PPYOLOEHeadModule: expected {self.num_levels} feature maps '
                f'(strides {tuple(self.featmap_strides)}), got {len(x)}')
        per_level = [
            self.forward_single(feat, *mods) for feat, mods in zip(
                x, zip(self.cls_stems, self.cls_preds, self.reg_stems,
                       self.reg_preds))
        ]
        return tuple(map(list, zip(*per_level)))

    def forward_single(self, x: Tensor, cls_stem: nn.Module,
                       cls_pred: nn.Module, reg_stem: nn.Module,
                       reg_pred: nn.Module) -> Tuple[Tensor, ...]:
        b, _, h, w = x.shape
        avg_feat = F.adaptive_avg_pool2d(x, (1, 1))  # shared by both stems
        cls_logit = cls_pred(cls_stem(x, avg_feat) + x)
        reg_out = reg_pred(reg_stem(x, avg_feat))
        if self.reg_max > 1:
            # (B, 4 (R+1), H, W) -> (B, HW, 4, R+1)
            dist_logits = reg_out.reshape(b, 4, self.reg_max + 1,
                                          h * w).permute(0, 3, 1, 2)
            bbox_pred = expected_distance(dist_logits, self.proj)
            bbox_pred = bbox_pred.transpose(1, 2).reshape(b, 4, h, w)
        else:
            dist_logits = bbox_pred = reg_out
        if self.training:
            return cls_logit, bbox_pred, dist_logits
        return cls_logit, bbox_pred
