"""Decoupled prediction module of the YOLOX head."""
from typing import List, Sequence, Tuple, Union

import torch.nn as nn
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmdet.models.utils import multi_apply
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import BaseModule, bias_init_with_prob
from torch import Tensor

from yolokit.registry import MODELS


@MODELS.register_module()
class YOLOXHeadModule(BaseModule):
    """Prediction branches of the YOLOX head (arXiv 2107.08430).

    Per level, two separate towers of ``stacked_convs`` 3x3 convs process
    the input feature: the classification tower feeds a 1x1 conv to
    ``num_classes`` logits (``multi_level_conv_cls``), the regression tower
    feeds both a 1x1 conv to the 4 box deltas (``multi_level_conv_reg``)
    and a 1x1 conv to the objectness logit (``multi_level_conv_obj``).

    Args:
        num_classes (int): Number of categories excluding the background.
        in_channels (int | Sequence[int]): Input channels. An int is
            multiplied by ``widen_factor``; a sequence is used as given.
        widen_factor (float): Channel multiplier. Defaults to 1.0.
        num_base_priors (int): Priors (points) per feature-map position.
            Defaults to 1.
        feat_channels (int): Channels of the towers, before widening.
            Defaults to 256.
        stacked_convs (int): Convs per tower. Defaults to 2.
        featmap_strides (Sequence[int]): Strides of the input levels.
            Defaults to [8, 16, 32].
        use_depthwise (bool): Use depthwise-separable convs in the towers.
            Defaults to False.
        dcn_on_last_conv (bool): Use a modulated deformable conv (DCNv2,
            needs mmcv's compiled ops) as the last conv of each tower.
            Defaults to False.
        conv_bias (bool | str): Bias of the tower convs; ``'auto'`` adds a
            bias only when ``norm_cfg`` is None. Defaults to ``'auto'``.
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict): Norm layer config.
            Defaults to ``dict(type='BN', momentum=0.03, eps=0.001)``.
        act_cfg (dict): Activation config.
            Defaults to ``dict(type='SiLU', inplace=True)``.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: Union[int, Sequence],
        widen_factor: float = 1.0,
        num_base_priors: int = 1,
        feat_channels: int = 256,
        stacked_convs: int = 2,
        featmap_strides: Sequence[int] = [8, 16, 32],
        use_depthwise: bool = False,
        dcn_on_last_conv: bool = False,
        conv_bias: Union[bool, str] = 'auto',
        conv_cfg: OptConfigType = None,
        norm_cfg: ConfigType = dict(type='BN', momentum=0.03, eps=0.001),
        act_cfg: ConfigType = dict(type='SiLU', inplace=True),
        init_cfg: OptMultiConfig = None,
    ):
        super().__init__(init_cfg=init_cfg)
        if not (conv_bias == 'auto' or isinstance(conv_bias, bool)):
            raise ValueError("conv_bias must be 'auto' or a bool, got "
                             f'{conv_bias!r}')
        self.num_classes = num_classes
        self.feat_channels = int(feat_channels * widen_factor)
        self.stacked_convs = stacked_convs
        self.use_depthwise = use_depthwise
        self.dcn_on_last_conv = dcn_on_last_conv
        self.conv_bias = conv_bias
        self.num_base_priors = num_base_priors
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        self.featmap_strides = featmap_strides

        if isinstance(in_channels, int):
            in_channels = int(in_channels * widen_factor)
        self.in_channels = in_channels

        self._init_layers()

    def _level_in_channels(self, level: int) -> int:
        if isinstance(self.in_channels, int):
            return self.in_channels
        return self.in_channels[level]

    def _init_layers(self) -> None:
        """Build the towers and predictors of every level."""
        self.multi_level_cls_convs = nn.ModuleList()
        self.multi_level_reg_convs = nn.ModuleList()
        self.multi_level_conv_cls = nn.ModuleList()
        self.multi_level_conv_reg = nn.ModuleList()
        self.multi_level_conv_obj = nn.ModuleList()
        for level in range(len(self.featmap_strides)):
            in_channels = self._level_in_channels(level)
            self.multi_level_cls_convs.append(
                self._build_stacked_convs(in_channels))
            self.multi_level_reg_convs.append(
                self._build_stacked_convs(in_channels))
            self.multi_level_conv_cls.append(
                nn.Conv2d(self.feat_channels,
                          self.num_base_priors * self.num_classes, 1))
            self.multi_level_conv_reg.append(
                nn.Conv2d(self.feat_channels, self.num_base_priors * 4, 1))
            self.multi_level_conv_obj.append(
                nn.Conv2d(self.feat_channels, self.num_base_priors, 1))

    def _build_stacked_convs(self, in_channels: int) -> nn.Sequential:
        """One tower: ``stacked_convs`` 3x3 conv-norm-act blocks."""
        conv = DepthwiseSeparableConvModule \
            if self.use_depthwise else ConvModule
        layers = []
        for i in range(self.stacked_convs):
            chn = in_channels if i == 0 else self.feat_channels
            last = i == self.stacked_convs - 1
            conv_cfg = dict(type='DCNv2') \
                if self.dcn_on_last_conv and last else self.conv_cfg
            layers.append(
                conv(
                    chn,
                    self.feat_channels,
                    3,
                    stride=1,
                    padding=1,
                    conv_cfg=conv_cfg,
                    norm_cfg=self.norm_cfg,
                    act_cfg=self.act_cfg,
                    bias=self.conv_bias))
        return nn.Sequential(*layers)

    def init_weights(self) -> None:
        """Initialize the weights; the classification and objectness biases
        start at ``bias_init_with_prob(0.01)`` (sigmoid = 0.01)."""
        super().init_weights()
        bias_init = bias_init_with_prob(0.01)
        for conv_cls, conv_obj in zip(self.multi_level_conv_cls,
                                      self.multi_level_conv_obj):
            conv_cls.bias.data.fill_(bias_init)
            conv_obj.bias.data.fill_(bias_init)

    def forward(self, x: Tuple[Tensor]) -> Tuple[List]:
        """Forward the features of all levels.

        Args:
            x (tuple[Tensor]): One feature map per level.

        Returns:
            tuple[list[Tensor]]: Per-level class logits
            ``(B, num_classes, H, W)``, box deltas ``(B, 4, H, W)`` and
            objectness logits ``(B, 1, H, W)``.
        """
        if len(x) != len(self.featmap_strides):
            raise ValueError(
                f'YOLOXHeadModule has {len(self.featmap_strides)} levels '
                f'(featmap_strides={list(self.featmap_strides)}) but got '
                f'{len(x)} feature maps')
        return multi_apply(self.forward_single, x, self.multi_level_cls_convs,
                           self.multi_level_reg_convs,
                           self.multi_level_conv_cls,
                           self.multi_level_conv_reg,
                           self.multi_level_conv_obj)

    def forward_single(self, x: Tensor, cls_convs: nn.Module,
                       reg_convs: nn.Module, conv_cls: nn.Module,
                       conv_reg: nn.Module,
                       conv_obj: nn.Module) -> Tuple[Tensor, Tensor, Tensor]:
        """Forward the feature of one level.

        The objectness comes from the regression tower, as in YOLOX.

        Returns:
            tuple[Tensor, Tensor, Tensor]: Class logits, box deltas and
            objectness logits.
        """
        cls_feat = cls_convs(x)
        reg_feat = reg_convs(x)
        return conv_cls(cls_feat), conv_reg(reg_feat), conv_obj(reg_feat)
