"""Effective squeeze-excitation: one 1x1 conv gates every channel."""
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.utils import ConfigType
from torch import Tensor

from yolokit.registry import MODELS


@MODELS.register_module()
class EffectiveSELayer(nn.Module):
    """``y = x * act(fc(mean_hw(x)))`` (Lee & Park, CenterMask, 2020).

    Unlike the classic SE block there is no channel reduction: a single
    biased 1x1 conv ``fc`` maps the (B, C, 1, 1) channel means to C gates.
    (B, C, H, W) -> (B, C, H, W).

    Args:
        channels (int): Input and output channels.
        act_cfg (dict): Gate activation. Defaults to ``dict(type='HSigmoid')``.
    """

    def __init__(self,
                 channels: int,
                 act_cfg: ConfigType = dict(type='HSigmoid')):
        super().__init__()
        if not isinstance(act_cfg, dict):
            raise TypeError('EffectiveSELayer: `act_cfg` must be a dict, but '
                            f'got {act_cfg!r}')
        self.fc = ConvModule(channels, channels, 1, act_cfg=None)
        self.activate = MODELS.build(dict(act_cfg))

    def forward(self, x: Tensor) -> Tensor:
        gates = self.activate(self.fc(x.mean((2, 3), keepdim=True)))
        return x * gates
