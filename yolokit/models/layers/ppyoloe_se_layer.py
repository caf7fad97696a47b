"""Channel attention of the PP-YOLOE head (ESE on pooled features)."""
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.utils import ConfigType
from torch import Tensor

# The gate conv starts near zero so every gate starts near sigmoid(0) = 0.5.
GATE_INIT_STD = 0.001


class PPYOLOESELayer(nn.Module):
    """``y = conv(feat * sigmoid(fc(avg_feat)))``.

    The head pools each level once and shares ``avg_feat`` (B, C, 1, 1)
    between its classification and regression attention, so the pooled
    input is an argument. ``conv`` is a 1x1 ConvModule (norm + act) applied
    after the gating. (B, C, H, W) -> (B, C, H, W).

    Args:
        feat_channels (int): Input and output channels.
        norm_cfg (dict): Norm of ``conv``. Defaults to
            ``dict(type='BN', momentum=0.1, eps=1e-5)``.
        act_cfg (dict): Activation of ``conv``. Defaults to SiLU.
    """

    def __init__(self,
                 feat_channels: int,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.1, eps=1e-5),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True)):
        super().__init__()
        self.fc = nn.Conv2d(feat_channels, feat_channels, 1)
        self.sig = nn.Sigmoid()
        self.conv = ConvModule(
            feat_channels, feat_channels, 1, norm_cfg=norm_cfg,
            act_cfg=act_cfg)
        nn.init.normal_(self.fc.weight, mean=0, std=GATE_INIT_STD)

    def forward(self, feat: Tensor, avg_feat: Tensor) -> Tensor:
        return self.conv(feat * self.sig(self.fc(avg_feat)))
