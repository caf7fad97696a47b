"""Spatial Pyramid Pooling - Fast (SPPF), as used by YOLOv5, YOLOX, PPYOLOE."""
from typing import Sequence, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor


def _check_kernel_size(kernel_size, arg_name: str) -> None:
    # An even kernel with padding k // 2 grows the map by one pixel, which
    # would only surface later as an obscure shape mismatch in torch.cat.
    if (isinstance(kernel_size, bool) or not isinstance(kernel_size, int)
            or kernel_size < 1 or kernel_size % 2 == 0):
        raise ValueError(f'SPPFBottleneck: `{arg_name}` must be a positive '
                         f'odd int, but got {kernel_size!r}')


class SPPFBottleneck(BaseModule):
    """Spatial pyramid pooling, fast variant.

    ``conv1`` (optional 1x1) -> max-poolings -> concat -> ``conv2`` (1x1).
    With an int ``kernel_sizes`` one stride-1 pooling is applied three times
    in series (SPPF); with a sequence, one pooling per kernel size is applied
    to the same input in parallel (classic SPP). The spatial size is kept.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_sizes (int | Sequence[int]): Kernel size of the serial pooling,
            or kernel sizes of the parallel poolings. Defaults to 5.
        use_conv_first (bool): Whether a 1x1 conv reduces the channels before
            pooling. Defaults to True.
        mid_channels_scale (float): ``mid_channels = int(in_channels *
            mid_channels_scale)``; only used when ``use_conv_first`` is True.
            Defaults to 0.5.
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict): Norm layer config.
            Defaults to ``dict(type='BN', momentum=0.03, eps=0.001)``.
        act_cfg (dict): Activation config.
            Defaults to ``dict(type='SiLU', inplace=True)``.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_sizes: Union[int, Sequence[int]] = 5,
                 use_conv_first: bool = True,
                 mid_channels_scale: float = 0.5,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg)

        if use_conv_first:
            mid_channels = int(in_channels * mid_channels_scale)
            if mid_channels < 1:
                raise ValueError(
                    'SPPFBottleneck: int(in_channels * mid_channels_scale) '
                    f'must be >= 1, but in_channels={in_channels} and '
                    f'mid_channels_scale={mid_channels_scale} give '
                    f'{mid_channels}')
            self.conv1 = ConvModule(
                in_channels,
                mid_channels,
                1,
                stride=1,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg)
        else:
            mid_channels = in_channels
            self.conv1 = None

        self.kernel_sizes = kernel_sizes
        if isinstance(kernel_sizes, int):
            _check_kernel_size(kernel_sizes, 'kernel_sizes')
            self.poolings = nn.MaxPool2d(
                kernel_size=kernel_sizes, stride=1, padding=kernel_sizes // 2)
            # input + three serial poolings
            conv2_in_channels = mid_channels * 4
        else:
            if len(kernel_sizes) == 0:
                raise ValueError('SPPFBottleneck: `kernel_sizes` must be an '
                                 'int or a non-empty sequence of ints, but '
                                 'got an empty sequence')
            for i, ks in enumerate(kernel_sizes):
                _check_kernel_size(ks, f'kernel_sizes[{i}]')
            self.poolings = nn.ModuleList([
                nn.MaxPool2d(kernel_size=ks, stride=1, padding=ks // 2)
                for ks in kernel_sizes
            ])
            conv2_in_channels = mid_channels * (len(kernel_sizes) + 1)

        self.conv2 = ConvModule(
            conv2_in_channels,
            out_channels,
            1,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)

    def forward(self, x: Tensor) -> Tensor:
        """Pool ``x`` at several receptive fields and fuse the results.

        Args:
            x (Tensor): Input of shape (N, in_channels, H, W).

        Returns:
            Tensor: Output of shape (N, out_channels, H, W).
        """
        if self.conv1 is not None:
            x = self.conv1(x)
        if isinstance(self.kernel_sizes, int):
            y1 = self.poolings(x)
            y2 = self.poolings(y1)
            x = torch.cat([x, y1, y2, self.poolings(y2)], dim=1)
        else:
            x = torch.cat([x] + [pool(x) for pool in self.poolings], dim=1)
        return self.conv2(x)
