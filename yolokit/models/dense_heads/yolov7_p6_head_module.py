"""Prediction branches of the YOLOv7 P6 heads, with optional auxiliary
branches used only in training."""
from typing import List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmdet.models.utils import multi_apply
from mmdet.utils import ConfigType
from torch import Tensor

from yolokit.registry import MODELS
from ..layers.conv_recipe import ConvRecipe
from ..layers.implicit_a import ImplicitA
from ..layers.implicit_m import ImplicitM
from .yolov5_head_module import YOLOv5HeadModule
from .yolov7_head_module import add_prior_biases


@MODELS.register_module()
class YOLOv7p6HeadModule(YOLOv5HeadModule):
    """Per level ``i``: the main branch ``main_convs_pred[i]`` is
    3x3 conv (C_i -> main_out_channels[i]), ImplicitA, 1x1 conv, ImplicitM;
    with ``use_aux`` the auxiliary branch ``aux_convs_pred[i]`` is 3x3 conv
    (C_i -> aux_out_channels[i]), 1x1 conv.

    In eval mode (or without aux) ``forward`` returns what
    :class:`YOLOv5HeadModule` returns; in training with aux each per-level
    entry is a pair ``[main, aux]`` of such tensors.

    Args:
        main_out_channels (Sequence[int]): Widths of the main 3x3 convs.
        aux_out_channels (Sequence[int]): Widths of the aux 3x3 convs.
        use_aux (bool): Build the auxiliary branches. Defaults to True.
        norm_cfg, act_cfg: Configs of the 3x3 convs.
        *args, **kwargs: As :class:`YOLOv5HeadModule`.
    """

    def __init__(self,
                 *args,
                 main_out_channels: Sequence[int] = [256, 512, 768, 1024],
                 aux_out_channels: Sequence[int] = [320, 640, 960, 1280],
                 use_aux: bool = True,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 **kwargs):
        self.main_out_channels = main_out_channels
        self.aux_out_channels = aux_out_channels
        self.use_aux = use_aux
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        super().__init__(*args, **kwargs)

    def _init_layers(self) -> None:
        conv = ConvRecipe(self.norm_cfg, self.act_cfg)
        width = self.num_base_priors * self.num_out_attrib
        self.main_convs_pred = nn.ModuleList(
            nn.Sequential(
                conv(c, mid, 3), ImplicitA(mid), nn.Conv2d(mid, width, 1),
                ImplicitM(width))
            for c, mid in zip(self.in_channels, self.main_out_channels))
        if self.use_aux:
            self.aux_convs_pred = nn.ModuleList(
                nn.Sequential(conv(c, mid, 3), nn.Conv2d(mid, width, 1))
                for c, mid in zip(self.in_channels, self.aux_out_channels))
        else:
            self.aux_convs_pred = [None] * self.num_levels

    def init_weights(self) -> None:
        """Default init, then the prior biases of the main and aux 1x1
        convs (first call only).

        NOTE: MMYOLO 0.6.0 writes the aux conv's biases into the main conv
        here (a typo); this only changes the starting point of training
        from scratch, and here each conv gets its own offsets.
        """
        first_call = not self.is_init
        super(YOLOv5HeadModule, self).init_weights()
        if not first_call:
            return
        for i, stride in enumerate(self.featmap_strides):
            add_prior_biases(self.main_convs_pred[i][2], self.num_base_priors,
                             self.num_classes, stride)
            if self.use_aux:
                add_prior_biases(self.aux_convs_pred[i][1],
                                 self.num_base_priors, self.num_classes,
                                 stride)

    def forward(self, x: Tuple[Tensor]) -> Tuple[List]:
        if len(x) != self.num_levels:
            raise ValueError(f'YOLOv7p6HeadModule expects {self.num_levels} '
                             f'feature maps, but got {len(x)}')
        return multi_apply(self.forward_single, x, self.main_convs_pred,
                           self.aux_convs_pred)

    def forward_single(
        self, x: Tensor, convs: nn.Module, aux_convs: Optional[nn.Module]
    ) -> Tuple[Union[Tensor, List[Tensor]], ...]:
        main = super().forward_single(x, convs)
        if not self.training or not self.use_aux:
            return main
        aux = super().forward_single(x, aux_convs)
        return tuple([m, a] for m, a in zip(main, aux))
