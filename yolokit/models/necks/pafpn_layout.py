"""Layer layout shared by the YOLOv5, YOLOX and RTMDet PAFPN necks.

With ``c_i`` the neck's channels at level ``i`` (``L`` levels, 0 finest),
the layers :class:`BaseYOLONeck` wires together are:

.. code:: text

    reduce      level L-1: 1x1 conv c_{L-1} -> c_{L-2}; others: identity
    upsample    2x nearest (or ``upsample_cfg``)
    top-down    idx (L-1..1): fusion 2 c_{idx-1} -> c_{idx-1}, then for
                idx > 1 a 1x1 conv c_{idx-1} -> c_{idx-2}
    downsample  idx (0..L-2): 3x3/2 conv c_idx -> c_idx
    bottom-up   idx (0..L-2): fusion 2 c_idx -> c_{idx+1}
    out         identity, or a k x k conv c_i -> out_channels

so each concat joins two maps of equal channels (the 1x1 convs prepare the
next finer level's width) and the output at level ``i`` keeps level ``i``'s
resolution. A neck supplies its fusion block, its width rule and its conv
types; ``2 c`` is written ``width(2 * in_channels[i])`` because YOLOv5
rounds the doubled count up to a multiple of 8 on its own.
"""
from abc import abstractmethod
from typing import List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmdet.utils import ConfigType, OptMultiConfig

from ..layers.conv_recipe import ConvRecipe
from .base_yolo_neck import BaseYOLONeck, NeckLevelsError


def widen_levels(owner: str, in_channels: Sequence[int], out_channels: int,
                 widen_factor: float) -> Tuple[List[int], int]:
    """``int(c * widen_factor)`` of every input level and of the single
    ``out_channels`` (the YOLOX and RTMDet rule)."""
    if not isinstance(out_channels, int):
        raise TypeError(f'{owner}: out_channels must be one int (the '
                        'channels of every output level), but got '
                        f'{out_channels!r}')
    widened = [int(c * widen_factor) for c in in_channels]
    return widened, int(out_channels * widen_factor)


class PAFPNLayout(BaseYOLONeck):
    """:class:`BaseYOLONeck` with the layers of the module docstring.

    It takes :class:`BaseYOLONeck`'s arguments in order, without
    ``upsample_feats_cat_first`` (always True). Subclasses implement
    :meth:`build_fusion`, may override :meth:`width`, and may change the
    class attributes ``out_kernel_size`` (None: identity out layers),
    ``upsample_cfg``, ``depthwise_laterals`` / ``depthwise_downsample``
    (which convs follow ``use_depthwise``), ``use_depthwise`` and
    ``conv_cfg``; instance attributes set before ``__init__`` win.

    Raises:
        NeckLevelsError: Fewer than 2 levels.
    """
    out_kernel_size: Optional[int] = None
    upsample_cfg = dict(scale_factor=2, mode='nearest')
    depthwise_laterals = False
    depthwise_downsample = False
    use_depthwise = False
    conv_cfg = None

    def __init__(self, in_channels: Sequence[int],
                 out_channels: Union[int, Sequence[int]], deepen_factor: float,
                 widen_factor: float, freeze_all: bool, norm_cfg: ConfigType,
                 act_cfg: ConfigType, init_cfg: OptMultiConfig):
        if len(in_channels) < 2:
            raise NeckLevelsError(
                f'{type(self).__name__} needs at least 2 input levels, but '
                f'got in_channels={list(in_channels)}')
        super().__init__(
            in_channels,
            out_channels,
            deepen_factor,
            widen_factor,
            upsample_feats_cat_first=True,
            freeze_all=freeze_all,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            init_cfg=init_cfg)

    def width(self, channels: int) -> int:
        """The neck's channels for ``channels`` of ``in_channels`` scale;
        identity for necks whose ``in_channels`` are already widened."""
        return channels

    @abstractmethod
    def build_fusion(self, in_channels: int, out_channels: int) -> nn.Module:
        """The block that fuses a concat, ``in_channels -> out_channels``.
        """

    def _conv(self, depthwise_role: bool) -> ConvRecipe:
        return ConvRecipe(self.norm_cfg, self.act_cfg, self.conv_cfg,
                          depthwise_role and self.use_depthwise)

    def _level(self, idx: int) -> int:
        return self.width(self.in_channels[idx])

    def _doubled(self, idx: int) -> int:
        return self.width(2 * self.in_channels[idx])

    def build_reduce_layer(self, idx: int) -> nn.Module:
        """1x1 conv to the next finer width on the deepest level, else
        identity."""
        if idx != len(self.in_channels) - 1:
            return nn.Identity()
        lateral = self._conv(self.depthwise_laterals)
        return lateral(self._level(idx), self._level(idx - 1), 1)

    def build_upsample_layer(self, *args, **kwargs) -> nn.Module:
        """An ``nn.Upsample(**upsample_cfg)``, 2x nearest by default."""
        return nn.Upsample(**self.upsample_cfg)

    def build_top_down_layer(self, idx: int) -> nn.Module:
        """Fusion producing top-down level ``idx - 1``; above the finest
        level followed by a 1x1 conv to level ``idx - 2``'s width."""
        fusion = self.build_fusion(
            self._doubled(idx - 1), self._level(idx - 1))
        if idx == 1:
            return fusion
        lateral = self._conv(self.depthwise_laterals)
        return nn.Sequential(
            fusion, lateral(self._level(idx - 1), self._level(idx - 2), 1))

    def build_downsample_layer(self, idx: int) -> nn.Module:
        """3x3 stride-2 conv from level ``idx`` to ``idx + 1``."""
        down = self._conv(self.depthwise_downsample)
        return down(self._level(idx), self._level(idx), 3, stride=2)

    def build_bottom_up_layer(self, idx: int) -> nn.Module:
        """Fusion producing bottom-up level ``idx + 1``."""
        return self.build_fusion(self._doubled(idx), self._level(idx + 1))

    def build_out_layer(self, idx: int) -> nn.Module:
        """Identity, or a ``out_kernel_size`` conv to ``out_channels``."""
        if self.out_kernel_size is None:
            return nn.Identity()
        lateral = self._conv(self.depthwise_laterals)
        return lateral(
            self._level(idx), self.out_channels, self.out_kernel_size)
