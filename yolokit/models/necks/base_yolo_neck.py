"""Abstract path-aggregation (PAN) neck shared by the YOLO series."""
from abc import ABCMeta, abstractmethod
from typing import List, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from yolokit.registry import MODELS


class NeckLevelsError(ValueError, AssertionError):
    """The levels given to a neck do not fit: channel lists of different
    lengths, too few levels, or another number of input maps than
    ``in_channels`` has. Both bases because MMYOLO asserts on these while
    yolokit raised ``ValueError`` before."""


#: The six ``nn.ModuleList`` children, in registration order. Their names
#: and order are the state_dict keys of MMYOLO neck checkpoints.
PAN_LAYER_NAMES = ('reduce_layers', 'upsample_layers', 'top_down_layers',
                   'downsample_layers', 'bottom_up_layers', 'out_layers')


def pan_build_order(num_levels: int) -> List[Tuple[str, int]]:
    """``(layer list, level index)`` pairs in the order layers are built.

    Level 0 is the finest. The top-down pairs run from the deepest level
    (``L-1``) up to 1, the bottom-up pairs from 0 to ``L-2``; an upsample
    or downsample layer is built just before the fusion layer it feeds.
    """
    order = [('reduce_layers', i) for i in range(num_levels)]
    for i in range(num_levels - 1, 0, -1):
        order += [('upsample_layers', i), ('top_down_layers', i)]
    for i in range(num_levels - 1):
        order += [('downsample_layers', i), ('bottom_up_layers', i)]
    return order + [('out_layers', i) for i in range(num_levels)]


def check_out_channels(owner: str, in_channels: Sequence[int],
                       out_channels: Union[int, Sequence[int]]) -> None:
    """A per-level ``out_channels`` list must match ``in_channels``."""
    if not isinstance(out_channels, int) and \
            len(out_channels) != len(in_channels):
        raise NeckLevelsError(
            f'{owner}: out_channels must be an int or one value per level '
            f'of in_channels={list(in_channels)}, but got {out_channels!r}')


@MODELS.register_module()
class BaseYOLONeck(BaseModule, metaclass=ABCMeta):
    """PAN neck: reduce each level, fuse top-down, then fuse bottom-up.

    Dims: B images, L levels (level 0 the finest: strides 8/16/32 for P5,
    up to 64 for P6), level ``i`` of size (H_i, W_i). With ``r_i`` the
    reduced inputs, ``t_i`` the top-down and ``p_i`` the bottom-up maps:

    .. code:: text

        r_i     = reduce_layers[i](x_i)
        t_{L-1} = r_{L-1}
        t_i     = top_down_layers[L-2-i](cat(up(t_{i+1}), r_i)),  i = L-2..0
                  up = upsample_layers[L-2-i]
        p_0     = t_0
        p_i     = bottom_up_layers[i-1](cat(down(p_{i-1}), t_i)), i = 1..L-1
                  down = downsample_layers[i-1]
        y_i     = out_layers[i](p_i)                    # (B, C_i, H_i, W_i)

    With ``upsample_feats_cat_first=False`` (YOLOv7) the top-down concat is
    ``cat(r_i, up(t_{i+1}))``. Subclasses build the layers in the six
    ``build_*_layer(idx)`` hooks; :func:`pan_build_order` gives the order
    they are called in and ``idx`` each receives.

    Args:
        in_channels (List[int]): Input channels per level.
        out_channels (int | List[int]): Output channels, one value or one
            per level.
        deepen_factor (float): Block-count multiplier. Defaults to 1.0.
        widen_factor (float): Channel multiplier. Defaults to 1.0.
        upsample_feats_cat_first (bool): Put the upsampled map first in the
            top-down concat. Defaults to True.
        freeze_all (bool): Keep the whole neck without gradients and its
            BatchNorm layers in eval mode. Defaults to False.
        norm_cfg (dict, optional): Norm layer config. Defaults to None.
        act_cfg (dict, optional): Activation config. Defaults to None.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.

    Raises:
        NeckLevelsError: ``out_channels`` is a list of another length than
            ``in_channels``.
    """

    def __init__(self,
                 in_channels: List[int],
                 out_channels: Union[int, List[int]],
                 deepen_factor: float = 1.0,
                 widen_factor: float = 1.0,
                 upsample_feats_cat_first: bool = True,
                 freeze_all: bool = False,
                 norm_cfg: ConfigType = None,
                 act_cfg: ConfigType = None,
                 init_cfg: OptMultiConfig = None,
                 **kwargs):
        super().__init__(init_cfg)
        check_out_channels(type(self).__name__, in_channels, out_channels)
        # the build_* hooks read these
        self.in_channels, self.out_channels = in_channels, out_channels
        self.deepen_factor, self.widen_factor = deepen_factor, widen_factor
        self.norm_cfg, self.act_cfg = norm_cfg, act_cfg
        self.upsample_feats_cat_first = upsample_feats_cat_first
        self.freeze_all = freeze_all

        hooks = dict(
            zip(PAN_LAYER_NAMES,
                (self.build_reduce_layer, self.build_upsample_layer,
                 self.build_top_down_layer, self.build_downsample_layer,
                 self.build_bottom_up_layer, self.build_out_layer)))
        for name in PAN_LAYER_NAMES:
            self.add_module(name, nn.ModuleList())
        for name, idx in pan_build_order(len(in_channels)):
            getattr(self, name).append(hooks[name](idx))

    @abstractmethod
    def build_reduce_layer(self, idx: int) -> nn.Module:
        """Build the layer applied to input level ``idx`` first."""

    @abstractmethod
    def build_upsample_layer(self, idx: int) -> nn.Module:
        """Build the upsampling from level ``idx`` to ``idx - 1``."""

    @abstractmethod
    def build_top_down_layer(self, idx: int) -> nn.Module:
        """Build the fusion block producing top-down level ``idx - 1``."""

    @abstractmethod
    def build_downsample_layer(self, idx: int) -> nn.Module:
        """Build the downsampling from level ``idx`` to ``idx + 1``."""

    @abstractmethod
    def build_bottom_up_layer(self, idx: int) -> nn.Module:
        """Build the fusion block producing bottom-up level ``idx + 1``."""

    @abstractmethod
    def build_out_layer(self, idx: int) -> nn.Module:
        """Build the last layer of output level ``idx``."""

    def train(self, mode: bool = True) -> 'BaseYOLONeck':
        """Set training mode; with ``freeze_all`` the neck stays frozen."""
        super().train(mode)
        if self.freeze_all:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
            for param in self.parameters():
                param.requires_grad = False
        return self

    def _top_down(self, reduced: List[Tensor]) -> List[Tensor]:
        """``t_0 .. t_{L-1}`` of the class docstring."""
        maps = [reduced[-1]]
        for upsample, fuse, lateral in zip(self.upsample_layers,
                                           self.top_down_layers,
                                           reversed(reduced[:-1])):
            up = upsample(maps[0])
            pair = [up, lateral] if self.upsample_feats_cat_first else \
                [lateral, up]
            maps.insert(0, fuse(torch.cat(pair, 1)))
        return maps

    def _bottom_up(self, top_down: List[Tensor]) -> List[Tensor]:
        """``p_0 .. p_{L-1}`` of the class docstring."""
        maps = [top_down[0]]
        for downsample, fuse, lateral in zip(self.downsample_layers,
                                             self.bottom_up_layers,
                                             top_down[1:]):
            maps.append(fuse(torch.cat([downsample(maps[-1]), lateral], 1)))
        return maps

    def forward(self, inputs: List[Tensor]) -> tuple:
        """Fuse the multi-level features.

        Args:
            inputs (List[Tensor]): One map (B, in_channels[i], H_i, W_i) per
                level, finest first.

        Returns:
            tuple[Tensor]: One map per level, (B, C_i, H_i, W_i).
        """
        if len(inputs) != len(self.in_channels):
            raise NeckLevelsError(
                f'{type(self).__name__} expects {len(self.in_channels)} '
                f'input levels (in_channels={self.in_channels}), but got '
                f'{len(inputs)}')
        reduced = [layer(x) for layer, x in zip(self.reduce_layers, inputs)]
        fused = self._bottom_up(self._top_down(reduced))
        return tuple(layer(x) for layer, x in zip(self.out_layers, fused))
