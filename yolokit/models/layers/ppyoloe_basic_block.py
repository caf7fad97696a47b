"""Residual block of PP-YOLOE's CSP-ResNet: a 3x3 conv, then a RepVGG."""
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.utils import ConfigType
from torch import Tensor

from yolokit.registry import MODELS
from .rep_vgg_block import RepVGGBlock


@MODELS.register_module()
class PPYOLOEBasicBlock(nn.Module):
    """``y = conv2(conv1(x)) (+ x)``, (B, C_in, H, W) -> (B, C_out, H, W).

    ``conv1`` is a 3x3 ConvModule, ``conv2`` a RepVGG block without the
    BatchNorm identity branch (``use_bn_first=False``), optionally with the
    learnt 1x1-branch scale of PP-YOLOE+ (``use_alpha``). The residual sum
    needs ``in_channels == out_channels``.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        norm_cfg (dict): Norm of both convs. Defaults to
            ``dict(type='BN', momentum=0.1, eps=1e-5)``.
        act_cfg (dict, optional): Activation of both convs. Defaults to SiLU.
        shortcut (bool): Add the input to the output. Defaults to True.
        use_alpha (bool): Learnt scale on the RepVGG 1x1 branch.
            Defaults to False.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.1, eps=1e-5),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 shortcut: bool = True,
                 use_alpha: bool = False):
        super().__init__()
        if act_cfg is not None and not isinstance(act_cfg, dict):
            raise TypeError('PPYOLOEBasicBlock: `act_cfg` must be a dict or '
                            f'None, but got {act_cfg!r}')
        if shortcut and in_channels != out_channels:
            raise ValueError(
                'PPYOLOEBasicBlock: shortcut=True needs in_channels == '
                f'out_channels, but got {in_channels} and {out_channels}')
        self.conv1 = ConvModule(
            in_channels, out_channels, 3, stride=1, padding=1,
            norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv2 = RepVGGBlock(
            out_channels, out_channels, use_alpha=use_alpha,
            act_cfg=act_cfg, norm_cfg=norm_cfg, use_bn_first=False)
        self.shortcut = shortcut

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv2(self.conv1(x))
        return x + y if self.shortcut else y
