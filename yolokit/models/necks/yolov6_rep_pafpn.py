"""YOLOv6's PAN necks: Rep / CSP-Rep fusions, v3.0's BiFusion top-down.

Dims: B images, L levels (finest first), level ``i`` of size (H_i, W_i);
``w(c) = int(c * widen_factor)``, ``n = make_round(num_csp_blocks,
deepen_factor)``.
"""
from typing import List

import torch.nn as nn
from mmdet.utils import ConfigType, OptMultiConfig
from torch import Tensor

from yolokit.registry import MODELS
from ..layers import BepC3StageBlock, BiFusion, RepStageBlock
from ..layers.conv_init import PyTorchConvInitMixin
from ..layers.conv_recipe import ConvRecipe
from ..utils import make_round
from .base_yolo_neck import BaseYOLONeck, NeckLevelsError


@MODELS.register_module()
class YOLOv6RepPAFPN(PyTorchConvInitMixin, BaseYOLONeck):
    """YOLOv6 v2.0's neck (n/t/s), a PAN of :class:`RepStageBlock` fusions.

    For the P5 layout (``in = (c0, c1, c2)``, ``out = (o0, o1, o2)``):

    .. code:: text

        reduce_layers      identity, identity, 1x1 conv w(c2) -> w(o1)
        upsample_layers    2x2/2 transposed conv (biased) on w(o_{i-1})
        top_down_layers[0] Rep(w(o1 + c1) -> w(o1)), then 1x1 -> w(o0)
        top_down_layers[1] Rep(w(o0 + c0) -> w(o0))
        downsample_layers  3x3/2 conv on w(o_i)
        bottom_up_layers   Rep(w(2 o_i) -> w(o_{i+1}))
        out_layers         identity

    so level ``i`` comes out as (B, w(o_i), H_i, W_i). Every Rep fusion has
    ``n`` blocks of ``block_cfg``; the plain convs use ``norm_cfg`` and
    ``act_cfg``. Without ``init_cfg`` every conv gets PyTorch's default init.

    Args:
        in_channels (List[int]): Input channels per level, before widening.
        out_channels (List[int]): Output channels per level, before
            widening.
        deepen_factor (float): Block-count multiplier. Defaults to 1.0.
        widen_factor (float): Channel multiplier. Defaults to 1.0.
        num_csp_blocks (int): Blocks per fusion before deepening.
            Defaults to 12.
        freeze_all (bool): Freeze the whole neck. Defaults to False.
        norm_cfg (dict): Defaults to BN (momentum 0.03, eps 0.001).
        act_cfg (dict): Defaults to ReLU.
        block_cfg (dict): Fusion block config. Defaults to RepVGGBlock.
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(self,
                 in_channels: List[int],
                 out_channels: int,
                 deepen_factor: float = 1.0,
                 widen_factor: float = 1.0,
                 num_csp_blocks: int = 12,
                 freeze_all: bool = False,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='ReLU', inplace=True),
                 block_cfg: ConfigType = dict(type='RepVGGBlock'),
                 init_cfg: OptMultiConfig = None):
        self.num_csp_blocks = num_csp_blocks
        self.block_cfg = block_cfg
        super().__init__(
            in_channels=self.pan_in_channels(in_channels),
            out_channels=out_channels,
            deepen_factor=deepen_factor,
            widen_factor=widen_factor,
            freeze_all=freeze_all,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            init_cfg=init_cfg)

    # -- helpers ---------------------------------------------------------
    def pan_in_channels(self, in_channels: List[int]) -> List[int]:
        """The input channels the PAN levels take (all of them here)."""
        return in_channels

    def width(self, channels: float) -> int:
        """Widened channel count ``int(channels * widen_factor)``."""
        return int(channels * self.widen_factor)

    @property
    def convs(self) -> ConvRecipe:
        """The recipe of the neck's plain convs."""
        return ConvRecipe(self.norm_cfg, self.act_cfg)

    def build_fusion(self, in_channels: int, out_channels: int) -> nn.Module:
        """The fusion block (widened channels); CSP variants override."""
        return RepStageBlock(
            in_channels,
            out_channels,
            num_blocks=make_round(self.num_csp_blocks, self.deepen_factor),
            block_cfg=dict(self.block_cfg))

    def top_down_in_channels(self, idx: int) -> int:
        """Channels entering top-down fusion ``idx`` (upsampled + lateral),
        before widening."""
        return self.out_channels[idx - 1] + self.in_channels[idx - 1]

    # -- PAN hooks ---------------------------------------------------------
    def build_reduce_layer(self, idx: int) -> nn.Module:
        """A 1x1 conv on the coarsest level, identity elsewhere."""
        if idx != 2:
            return nn.Identity()
        return self.convs(
            self.width(self.in_channels[idx]),
            self.width(self.out_channels[idx - 1]), 1)

    def build_upsample_layer(self, idx: int) -> nn.Module:
        """A learnt 2x upsampling (transposed conv) of level ``idx``."""
        channels = self.width(self.out_channels[idx - 1])
        return nn.ConvTranspose2d(
            channels, channels, kernel_size=2, stride=2, bias=True)

    def build_top_down_layer(self, idx: int) -> nn.Module:
        """Fusion to level ``idx - 1``; from the coarsest level, followed
        by a 1x1 conv to the next level's width."""
        fuse = self.build_fusion(
            self.width(self.top_down_in_channels(idx)),
            self.width(self.out_channels[idx - 1]))
        if idx == 1:
            return fuse
        return nn.Sequential(
            fuse,
            self.convs(
                self.width(self.out_channels[idx - 1]),
                self.width(self.out_channels[idx - 2]), 1))

    def build_downsample_layer(self, idx: int) -> nn.Module:
        """A 3x3 stride-2 conv on level ``idx``."""
        channels = self.width(self.out_channels[idx])
        return self.convs(channels, channels, 3, stride=2)

    def build_bottom_up_layer(self, idx: int) -> nn.Module:
        """Fusion of the downsampled level ``idx`` with level ``idx + 1``."""
        return self.build_fusion(
            self.width(2 * self.out_channels[idx]),
            self.width(self.out_channels[idx + 1]))

    def build_out_layer(self, idx: int) -> nn.Module:
        """Identity."""
        return nn.Identity()


class _CSPFusionMixin:
    """Fusions are :class:`BepC3StageBlock` (YOLOv6 m/l): ``hidden_ratio``
    split, ``block_act_cfg`` on their 1x1 convs.

    Holds the constructor of both CSP necks: MMYOLO gives them the same
    arguments (their base's plus ``hidden_ratio`` and ``block_act_cfg``, in
    this order), and both bases take the same positional arguments.
    """

    def __init__(self,
                 in_channels: List[int],
                 out_channels: int,
                 deepen_factor: float = 1.0,
                 widen_factor: float = 1.0,
                 hidden_ratio: float = 0.5,
                 num_csp_blocks: int = 12,
                 freeze_all: bool = False,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='ReLU', inplace=True),
                 block_act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 block_cfg: ConfigType = dict(type='RepVGGBlock'),
                 init_cfg: OptMultiConfig = None):
        self.hidden_ratio = hidden_ratio
        self.block_act_cfg = block_act_cfg
        super().__init__(in_channels, out_channels, deepen_factor,
                         widen_factor, num_csp_blocks, freeze_all, norm_cfg,
                         act_cfg, block_cfg, init_cfg)

    def build_fusion(self, in_channels: int, out_channels: int) -> nn.Module:
        """A BepC3 fusion block (widened channels)."""
        return BepC3StageBlock(
            in_channels,
            out_channels,
            num_blocks=make_round(self.num_csp_blocks, self.deepen_factor),
            hidden_ratio=self.hidden_ratio,
            block_cfg=dict(self.block_cfg),
            norm_cfg=self.norm_cfg,
            act_cfg=self.block_act_cfg)


@MODELS.register_module()
class YOLOv6CSPRepPAFPN(_CSPFusionMixin, YOLOv6RepPAFPN):
    """:class:`YOLOv6RepPAFPN` with BepC3 fusions (YOLOv6 v2.0 m/l).

    Args:
        hidden_ratio (float): Hidden-channel ratio of the fusions.
            Defaults to 0.5.
        block_act_cfg (dict): Activation of the fusions' 1x1 convs.
            Defaults to SiLU.
        Others: as :class:`YOLOv6RepPAFPN`.
    """


@MODELS.register_module()
class YOLOv6RepBiPAFPN(YOLOv6RepPAFPN):
    """YOLOv6 v3.0's neck (n/t/s): top-down merges go through
    :class:`BiFusion`, which also sees the next finer level.

    ``in_channels`` has one more (finest, stride 4) entry than the outputs;
    that level only feeds the BiFusion of the finest top-down step.
    Top-down step ``i`` (level L-2 .. 0 of the remaining levels):

    .. code:: text

        t_i = top_down(BiFusion(t_{i+1}, r_i, r_{i-1}))   # r_{-1}: extra map

    with ``top_down`` a Rep fusion ``w(o_i) -> w(o_i)`` (plus the 1x1 conv
    from the coarsest level); the rest is :class:`YOLOv6RepPAFPN`'s.

    Args:
        in_channels (List[int]): ``[extra, c0, c1, c2]`` before widening.
        Others: as :class:`YOLOv6RepPAFPN`.
    """

    # same constructor as YOLOv6RepPAFPN (as in MMYOLO); only the split of
    # in_channels differs
    def pan_in_channels(self, in_channels: List[int]) -> List[int]:
        """Keep the extra finest level aside; the rest are PAN levels."""
        if len(in_channels) < 2:
            raise NeckLevelsError(
                f'{type(self).__name__}: in_channels needs the extra finest '
                f'level plus the output levels, but got {in_channels!r}')
        self.extra_in_channel = in_channels[0]
        return in_channels[1:]

    def top_down_in_channels(self, idx: int) -> int:
        """BiFusion already outputs ``out_channels[idx - 1]``."""
        return self.out_channels[idx - 1]

    def build_upsample_layer(self, idx: int) -> nn.Module:
        """BiFusion of level ``idx`` into ``idx - 1`` with ``idx - 2``."""
        finer = self.in_channels[idx - 2] if idx > 1 \
            else self.extra_in_channel
        return BiFusion(
            in_channels0=self.width(self.in_channels[idx - 1]),
            in_channels1=self.width(finer),
            out_channels=self.width(self.out_channels[idx - 1]),
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def _top_down(self, reduced: List[Tensor]) -> List[Tensor]:
        """``reduced`` = [extra, r_0 .. r_{L-1}] -> [t_0 .. t_{L-1}]."""
        maps = [reduced[-1]]
        num_levels = len(reduced) - 1
        for step, (bifuse, fuse) in enumerate(
                zip(self.upsample_layers, self.top_down_layers)):
            level = num_levels - 2 - step  # t_level; reduced[0] is extra
            maps.insert(
                0, fuse(bifuse([maps[0], reduced[level + 1], reduced[level]])))
        return maps

    def forward(self, inputs: List[Tensor]) -> tuple:
        """Fuse ``[extra, x_0 .. x_{L-1}]`` into L maps
        (B, w(o_i), H_i, W_i)."""
        if len(inputs) != len(self.in_channels) + 1:
            raise NeckLevelsError(
                f'{type(self).__name__} expects {len(self.in_channels) + 1} '
                'input levels (the extra finest one first), but got '
                f'{len(inputs)}')
        reduced = [inputs[0]] + [
            layer(x) for layer, x in zip(self.reduce_layers, inputs[1:])
        ]
        fused = self._bottom_up(self._top_down(reduced))
        return tuple(layer(x) for layer, x in zip(self.out_layers, fused))


@MODELS.register_module()
class YOLOv6CSPRepBiPAFPN(_CSPFusionMixin, YOLOv6RepBiPAFPN):
    """:class:`YOLOv6RepBiPAFPN` with BepC3 fusions (YOLOv6 v3.0 m/l).

    Args:
        hidden_ratio (float): Hidden-channel ratio of the fusions.
            Defaults to 0.5.
        block_act_cfg (dict): Activation of the fusions' 1x1 convs.
            Defaults to SiLU.
        Others: as :class:`YOLOv6RepBiPAFPN`.
    """
