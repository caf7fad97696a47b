"""Abstract path-aggregation (PAN) neck shared by the YOLO series."""
from abc import ABCMeta, abstractmethod
from typing import List, Union

import torch
import torch.nn as nn
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from yolokit.registry import MODELS


@MODELS.register_module()
class BaseYOLONeck(BaseModule, metaclass=ABCMeta):
    """PAN neck: per-level reduce, top-down fusion, bottom-up fusion, out.

    For ``L`` input levels (strides 8/16/32 for P5, up to 64 for P6):

    .. code:: text

        reduce_outs[i] = reduce_layers[i](inputs[i])
        top-down, from the deepest level:
            inner = top_down_layers[j](cat(upsample_layers[j](inner),
                                            reduce_outs[i - 1]))
        bottom-up, from the finest level:
            out = bottom_up_layers[i](cat(downsample_layers[i](out),
                                          inner_outs[i + 1]))
        results[i] = out_layers[i](outs[i])

    Subclasses supply the six ``build_*_layer(idx)`` methods. The
    ``ModuleList`` attribute names and build order fix the checkpoint keys.

    Args:
        in_channels (List[int]): Input channels per level.
        out_channels (int | List[int]): Output channels per level.
        deepen_factor (float): Block-count multiplier. Defaults to 1.0.
        widen_factor (float): Channel multiplier. Defaults to 1.0.
        upsample_feats_cat_first (bool): In the top-down path, put the
            upsampled feature first in the concatenation. Defaults to True
            (only YOLOv7 uses False).
        freeze_all (bool): Freeze the whole neck: no gradients, BatchNorm in
            eval mode. Defaults to False.
        norm_cfg (dict, optional): Norm layer config. Defaults to None.
        act_cfg (dict, optional): Activation config. Defaults to None.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.
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
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.deepen_factor = deepen_factor
        self.widen_factor = widen_factor
        self.upsample_feats_cat_first = upsample_feats_cat_first
        self.freeze_all = freeze_all
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg

        num_levels = len(in_channels)
        self.reduce_layers = nn.ModuleList(
            [self.build_reduce_layer(idx) for idx in range(num_levels)])

        self.upsample_layers = nn.ModuleList()
        self.top_down_layers = nn.ModuleList()
        for idx in range(num_levels - 1, 0, -1):
            self.upsample_layers.append(self.build_upsample_layer(idx))
            self.top_down_layers.append(self.build_top_down_layer(idx))

        self.downsample_layers = nn.ModuleList()
        self.bottom_up_layers = nn.ModuleList()
        for idx in range(num_levels - 1):
            self.downsample_layers.append(self.build_downsample_layer(idx))
            self.bottom_up_layers.append(self.build_bottom_up_layer(idx))

        self.out_layers = nn.ModuleList(
            [self.build_out_layer(idx) for idx in range(num_levels)])

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

    def _freeze_all(self) -> None:
        """Stop all gradients and freeze BatchNorm statistics."""
        for m in self.modules():
            if isinstance(m, _BatchNorm):
                m.eval()
            for param in m.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'BaseYOLONeck':
        """Set training mode; with ``freeze_all`` the neck stays frozen."""
        super().train(mode)
        if self.freeze_all:
            self._freeze_all()
        return self

    def forward(self, inputs: List[torch.Tensor]) -> tuple:
        """Fuse the multi-level features.

        Args:
            inputs (List[Tensor]): One feature map per level, finest first.

        Returns:
            tuple[Tensor]: One output per level, same spatial sizes.
        """
        num_levels = len(self.in_channels)
        assert len(inputs) == num_levels, (
            f'{type(self).__name__} expects {num_levels} input levels '
            f'(in_channels={self.in_channels}), but got {len(inputs)}')

        reduce_outs = [
            self.reduce_layers[idx](inputs[idx]) for idx in range(num_levels)
        ]

        # top-down path; inner_outs[0] is always the finest level so far
        inner_outs = [reduce_outs[-1]]
        for idx in range(num_levels - 1, 0, -1):
            layer_idx = num_levels - 1 - idx
            upsample_feat = self.upsample_layers[layer_idx](inner_outs[0])
            feat_low = reduce_outs[idx - 1]
            if self.upsample_feats_cat_first:
                fused = torch.cat([upsample_feat, feat_low], 1)
            else:
                fused = torch.cat([feat_low, upsample_feat], 1)
            inner_outs.insert(0, self.top_down_layers[layer_idx](fused))

        # bottom-up path
        outs = [inner_outs[0]]
        for idx in range(num_levels - 1):
            downsample_feat = self.downsample_layers[idx](outs[-1])
            outs.append(self.bottom_up_layers[idx](torch.cat(
                [downsample_feat, inner_outs[idx + 1]], 1)))

        return tuple(self.out_layers[idx](outs[idx])
                     for idx in range(num_levels))
