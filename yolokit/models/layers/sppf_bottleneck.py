"""Spatial pyramid pooling: serial (SPPF) or parallel (SPP) max-pooling."""
from typing import Sequence, Union

import torch
import torch.nn as nn
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from .conv_recipe import ConvRecipe


def _check_kernel_size(kernel_size, arg_name: str) -> None:
    # An even kernel with padding k // 2 grows the map by one pixel, which
    # would only surface later as an obscure shape mismatch in torch.cat.
    if (isinstance(kernel_size, bool) or not isinstance(kernel_size, int)
            or kernel_size < 1 or kernel_size % 2 == 0):
        raise ValueError(f'SPPFBottleneck: `{arg_name}` must be a positive '
                         f'odd int, but got {kernel_size!r}')


def _same_size_max_pool(kernel_size: int) -> nn.MaxPool2d:
    return nn.MaxPool2d(kernel_size, stride=1, padding=kernel_size // 2)


def serial_pyramid(x: Tensor, pool: nn.Module, depth: int = 3) -> Tensor:
    """``cat(x, pool(x), pool(pool(x)), ...)`` with ``depth`` poolings.

    (B, C, H, W) -> (B, (depth + 1) C, H, W). Three stride-1 k=5 max-pools
    in series see 5x5, 9x9 and 13x13 windows, i.e. they equal SPP's
    parallel (5, 9, 13) pools at a fraction of the cost.
    """
    maps = [x]
    for _ in range(depth):
        maps.append(pool(maps[-1]))
    return torch.cat(maps, dim=1)


class SPPFBottleneck(BaseModule):
    """``y = conv2(cat(x', max-pools of x'))``, ``x' = conv1(x)``.

    ``conv1`` (1x1, ``in -> mid = int(in * mid_channels_scale)``) is
    optional; without it ``mid = in``. An int ``kernel_sizes`` k gives the
    fast serial form (:func:`serial_pyramid`, three k x k pools, ``conv2``
    fuses ``4 * mid`` channels); a sequence gives one pool per size applied
    to ``x'`` in parallel (``conv2`` fuses ``(len + 1) * mid``). Every pool
    has stride 1 and 'same' padding, so (B, in, H, W) -> (B, out, H, W).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_sizes (int | Sequence[int]): Serial pool size, or parallel
            pool sizes; odd. Defaults to 5.
        use_conv_first (bool): Build ``conv1``. YOLOv5/YOLOX do, PPYOLOE
            does not. Defaults to True.
        mid_channels_scale (float): ``mid / in`` when ``conv1`` is built.
            Defaults to 0.5.
        conv_cfg, norm_cfg, act_cfg (dict): Configs of ``conv1`` and
            ``conv2`` (defaults: ``nn.Conv2d``, BN with momentum 0.03 and
            eps 0.001, SiLU).
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
        if isinstance(kernel_sizes, int):
            _check_kernel_size(kernel_sizes, 'kernel_sizes')
        elif len(kernel_sizes) == 0:
            raise ValueError('SPPFBottleneck: `kernel_sizes` must be an int '
                             'or a non-empty sequence of ints, but got an '
                             'empty sequence')
        else:
            for i, size in enumerate(kernel_sizes):
                _check_kernel_size(size, f'kernel_sizes[{i}]')
        mid_channels = in_channels
        if use_conv_first:
            mid_channels = int(in_channels * mid_channels_scale)
        if mid_channels < 1:
            raise ValueError(
                'SPPFBottleneck: int(in_channels * mid_channels_scale) must '
                f'be >= 1, but in_channels={in_channels} and '
                f'mid_channels_scale={mid_channels_scale} give '
                f'{mid_channels}')

        convs = ConvRecipe(norm_cfg, act_cfg, conv_cfg)
        # conv1 / poolings / conv2 are MMYOLO's names (checkpoint keys)
        self.conv1 = convs(in_channels, mid_channels, 1) \
            if use_conv_first else None
        self.kernel_sizes = kernel_sizes
        if isinstance(kernel_sizes, int):
            self.poolings = _same_size_max_pool(kernel_sizes)
            num_maps = 4
        else:
            self.poolings = nn.ModuleList(
                _same_size_max_pool(size) for size in kernel_sizes)
            num_maps = len(kernel_sizes) + 1
        self.conv2 = convs(num_maps * mid_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        """(B, in, H, W) -> (B, out, H, W), see the class docstring."""
        if self.conv1 is not None:
            x = self.conv1(x)
        if isinstance(self.poolings, nn.ModuleList):
            pyramid = torch.cat([x] + [pool(x) for pool in self.poolings], 1)
        else:
            pyramid = serial_pyramid(x, self.poolings)
        return self.conv2(pyramid)
