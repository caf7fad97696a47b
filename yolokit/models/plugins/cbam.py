"""CBAM, the Convolutional Block Attention Module.

Paper: https://arxiv.org/abs/1807.06521
"""
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.utils import OptMultiConfig
from mmengine.model import BaseModule

from yolokit.registry import MODELS


class ChannelAttention(BaseModule):
    """Per-channel gate from average- and max-pooled descriptors.

    Both pooled vectors go through the same two-layer 1x1-conv MLP; the sum
    is squashed by a sigmoid into a (N, C, 1, 1) weight.

    Args:
        channels (int): Input (and gate) channels.
        reduce_ratio (int): Hidden width of the MLP is
            ``int(channels / reduce_ratio)``. Defaults to 16.
        act_cfg (dict): Activation between the two MLP layers.
            Defaults to ``dict(type='ReLU')``.
    """

    def __init__(self,
                 channels: int,
                 reduce_ratio: int = 16,
                 act_cfg: dict = dict(type='ReLU')):
        super().__init__()
        hidden_channels = int(channels / reduce_ratio)
        if hidden_channels < 1:
            raise ValueError(
                'ChannelAttention: int(channels / reduce_ratio) must be >= 1, '
                f'but channels={channels} and reduce_ratio={reduce_ratio} '
                f'give {hidden_channels}; lower `reduce_ratio`')

        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.max_pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Sequential(
            ConvModule(
                in_channels=channels,
                out_channels=hidden_channels,
                kernel_size=1,
                stride=1,
                conv_cfg=None,
                act_cfg=act_cfg),
            ConvModule(
                in_channels=hidden_channels,
                out_channels=channels,
                kernel_size=1,
                stride=1,
                conv_cfg=None,
                act_cfg=None))
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the channel gate of shape (N, C, 1, 1), values in (0, 1)."""
        return self.sigmoid(
            self.fc(self.avg_pool(x)) + self.fc(self.max_pool(x)))


class SpatialAttention(BaseModule):
    """Per-pixel gate from the channel-wise mean and max maps.

    Args:
        kernel_size (int): Kernel size of the conv that turns the 2-channel
            (mean, max) map into the gate. Defaults to 7.
    """

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            # 'same' padding of k // 2 only keeps the size for odd kernels.
            raise ValueError('SpatialAttention: `kernel_size` must be a '
                             f'positive odd int, but got {kernel_size}')
        self.conv = ConvModule(
            in_channels=2,
            out_channels=1,
            kernel_size=kernel_size,
            stride=1,
            padding=kernel_size // 2,
            conv_cfg=None,
            act_cfg=dict(type='Sigmoid'))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the spatial gate of shape (N, 1, H, W), values in (0, 1)."""
        mean_map = torch.mean(x, dim=1, keepdim=True)
        max_map, _ = torch.max(x, dim=1, keepdim=True)
        return self.conv(torch.cat([mean_map, max_map], dim=1))


@MODELS.register_module()
class CBAM(BaseModule):
    """Convolutional Block Attention Module.

    Applies :class:`ChannelAttention` then :class:`SpatialAttention`, each as
    a multiplicative gate; the output has the input's shape. Usable as a
    backbone plugin: ``plugins=[dict(cfg=dict(type='CBAM'), stages=...)]``.

    Args:
        in_channels (int): Input (and output) channels.
        reduce_ratio (int): Squeeze ratio of the channel attention MLP.
            Defaults to 16.
        kernel_size (int): Kernel size of the spatial attention conv.
            Defaults to 7.
        act_cfg (dict): Activation inside the channel attention MLP.
            Defaults to ``dict(type='ReLU')``.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 reduce_ratio: int = 16,
                 kernel_size: int = 7,
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg)
        self.channel_attention = ChannelAttention(
            channels=in_channels, reduce_ratio=reduce_ratio, act_cfg=act_cfg)
        self.spatial_attention = SpatialAttention(kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gate ``x`` by channel, then by position."""
        out = self.channel_attention(x) * x
        return self.spatial_attention(out) * out
