"""One object that builds every conv -> norm -> act unit of a module."""
from typing import NamedTuple, Optional

import torch.nn as nn
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmdet.utils import OptConfigType


class ConvRecipe(NamedTuple):
    """The configs shared by the convs of a backbone, neck or brick.

    A YOLO module builds many ``ConvModule`` (conv -> norm -> act) units that
    differ only in channels, kernel and stride; the recipe holds what they
    share, so a call site reads like the layer it makes::

        convs = ConvRecipe(norm_cfg, act_cfg)
        down = convs(64, 128, 3, stride=2)      # 3x3/2, padding 1
        dw = convs.depthwise(True)(64, 64, 3)   # depth-wise separable

    Padding defaults to ``kernel_size // 2``, which keeps the size of an odd
    kernel at stride 1 and halves it (rounding up) at stride 2.

    Attributes:
        norm_cfg (dict, optional): Norm layer config, None for no norm (the
            conv then gets a bias, mmcv's ``bias='auto'``).
        act_cfg (dict, optional): Activation config, None for none.
        conv_cfg (dict, optional): Conv layer config, None for ``nn.Conv2d``.
        use_depthwise (bool): Build ``DepthwiseSeparableConvModule`` (a
            k x k depth-wise conv then a 1x1 point-wise conv, each with norm
            and act) instead of ``ConvModule``.
    """
    norm_cfg: OptConfigType
    act_cfg: OptConfigType
    conv_cfg: OptConfigType = None
    use_depthwise: bool = False

    def depthwise(self, use_depthwise: bool) -> 'ConvRecipe':
        """The same recipe, with or without depth-wise separable convs."""
        return self._replace(use_depthwise=use_depthwise)

    def __call__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int,
                 stride: int = 1,
                 padding: Optional[int] = None) -> nn.Module:
        """Build one unit: (B, in, H, W) -> (B, out, H', W')."""
        unit = (
            DepthwiseSeparableConvModule if self.use_depthwise else ConvModule)
        return unit(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2 if padding is None else padding,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
