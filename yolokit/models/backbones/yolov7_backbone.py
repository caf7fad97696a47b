"""YOLOv7's ELAN backbones (tiny, L, X and the P6 W/E/D/E2E variants)."""
from typing import List, Optional, Tuple, Union

import torch.nn as nn
from mmdet.models.backbones.csp_darknet import Focus
from mmdet.utils import ConfigType, OptMultiConfig

from yolokit.registry import MODELS
from ..layers.conv_recipe import ConvRecipe
from ..layers.max_pool_and_stride_conv_block import MaxPoolAndStrideConvBlock
from .base_backbone import BaseBackbone, UnknownArchError


def _elan(ratio: float, num_blocks: int) -> dict:
    """ELAN block config whose middle and group widths are ``ratio * C_in``
    and whose groups hold two 3x3 convs."""
    return dict(
        type='ELANBlock',
        middle_ratio=ratio,
        block_ratio=ratio,
        num_blocks=num_blocks,
        num_convs_in_block=2)


_TINY_FIRST = dict(type='TinyDownSampleBlock', middle_ratio=0.5)
_TINY = dict(type='TinyDownSampleBlock', middle_ratio=1.0)
_E2E = dict(_elan(0.4, 3), type='EELANBlock', num_elan_block=2)


@MODELS.register_module()
class YOLOv7Backbone(BaseBackbone):
    """YOLOv7 feature extractor: a stem, then 4 (P5) or 5 (P6) stages that
    each halve the size and end with an ELAN-style block.

    Stage layout per arch (``d`` = down-sampling layer before the block):

    .. code:: text

        arch   stem                        d (stage 1 / later stages)
        Tiny   3x3/2, 3x3/2                none / 2x2 max-pool
        L, X   3x3, 3x3/2, 3x3             3x3/2 conv / MP block
        W      Focus (space-to-depth)      3x3/2 conv
        E,D,E2E Focus                      MP block keeping C_in mid

    The last stride is 32 (P5) or 64 (P6); with ``out_indices=(2, 3, 4)``
    YOLOv7-l gives (B, 512, H/8), (B, 1024, H/16), (B, 1024, H/32).
    The stage convs follow ``norm_cfg``/``act_cfg`` (the tiny configs pass
    LeakyReLU(0.1)).

    Args:
        arch (str): One of ``'Tiny'``, ``'L'``, ``'X'``, ``'W'``, ``'E'``,
            ``'D'``, ``'E2E'``. Defaults to ``'L'``.
        Others: as :class:`BaseBackbone`.

    Raises:
        UnknownArchError: ``arch`` is not a key of ``arch_settings``.
    """
    # Per stage: in_channels, out_channels, block config
    arch_settings = {
        'Tiny': [[64, 64, _TINY_FIRST], [64, 128, _TINY], [128, 256, _TINY],
                 [256, 512, _TINY]],
        'L': [[64, 256, _elan(0.5, 2)], [256, 512, _elan(0.5, 2)],
              [512, 1024, _elan(0.5, 2)], [1024, 1024,
                                           _elan(0.25, 2)]],
        'X': [[80, 320, _elan(0.4, 3)], [320, 640, _elan(0.4, 3)],
              [640, 1280, _elan(0.4, 3)], [1280, 1280,
                                           _elan(0.2, 3)]],
        'W': [[64, 128, _elan(0.5, 2)], [128, 256, _elan(0.5, 2)],
              [256, 512, _elan(0.5, 2)], [512, 768, _elan(0.5, 2)],
              [768, 1024, _elan(0.5, 2)]],
        'E': [[80, 160, _elan(0.4, 3)], [160, 320, _elan(0.4, 3)],
              [320, 640, _elan(0.4, 3)], [640, 960, _elan(0.4, 3)],
              [960, 1280, _elan(0.4, 3)]],
        'D': [[96, 192, _elan(1 / 3, 4)], [192, 384, _elan(1 / 3, 4)],
              [384, 768, _elan(1 / 3, 4)], [768, 1152,
                                            _elan(1 / 3, 4)],
              [1152, 1536, _elan(1 / 3, 4)]],
        'E2E': [[80, 160, _E2E], [160, 320, _E2E], [320, 640, _E2E],
                [640, 960, _E2E], [960, 1280, _E2E]],
    }
    _P6_ARCHS = ('W', 'E', 'D', 'E2E')

    def __init__(self,
                 arch: str = 'L',
                 deepen_factor: float = 1.0,
                 widen_factor: float = 1.0,
                 input_channels: int = 3,
                 out_indices: Tuple[int] = (2, 3, 4),
                 frozen_stages: int = -1,
                 plugins: Optional[Union[dict, List[dict]]] = None,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 norm_eval: bool = False,
                 init_cfg: OptMultiConfig = None):
        if arch not in self.arch_settings:
            raise UnknownArchError(
                f'YOLOv7Backbone: `arch` must be one of '
                f'{sorted(self.arch_settings)}, but got {arch!r}')
        self.arch = arch
        super().__init__([list(row) for row in self.arch_settings[arch]],
                         deepen_factor,
                         widen_factor,
                         input_channels=input_channels,
                         out_indices=out_indices,
                         plugins=plugins,
                         frozen_stages=frozen_stages,
                         norm_cfg=norm_cfg,
                         act_cfg=act_cfg,
                         norm_eval=norm_eval,
                         init_cfg=init_cfg)

    @property
    def _convs(self) -> ConvRecipe:
        return ConvRecipe(self.norm_cfg, self.act_cfg)

    def build_stem_layer(self) -> nn.Module:
        """Tiny: two 3x3/2 convs; L/X: 3x3, 3x3/2, 3x3; P6: Focus."""
        width = int(self.arch_setting[0][0] * self.widen_factor)
        conv = self._convs
        # NOTE: the stem input is fixed at 3 channels like MMYOLO's
        if self.arch == 'Tiny':
            return nn.Sequential(
                conv(3, width // 2, 3, stride=2),
                conv(width // 2, width, 3, stride=2))
        if self.arch in ('L', 'X'):
            return nn.Sequential(
                conv(3, width // 2, 3), conv(width // 2, width, 3, stride=2),
                conv(width, width, 3))
        return Focus(
            3,
            width,
            kernel_size=3,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def build_stage_layer(self, stage_idx: int, setting: list) -> list:
        """[down-sampling layer (if any), block]."""
        in_channels, out_channels, block_cfg = setting
        in_channels = int(in_channels * self.widen_factor)
        out_channels = int(out_channels * self.widen_factor)
        if self.arch in self._P6_ARCHS:
            block_in = out_channels  # the down-sampler already widened
        elif self.arch in ('L', 'X') and stage_idx == 0:
            block_in = out_channels // 2
        else:
            block_in = in_channels
        block = MODELS.build(
            dict(
                dict(norm_cfg=self.norm_cfg, act_cfg=self.act_cfg),
                **block_cfg,
                in_channels=block_in,
                out_channels=out_channels))
        down = self._build_downsample_layer(stage_idx, in_channels,
                                            out_channels)
        return [block] if down is None else [down, block]

    def _build_downsample_layer(self, stage_idx: int, in_channels: int,
                                out_channels: int) -> Optional[nn.Module]:
        conv = self._convs
        if self.arch == 'Tiny':
            return None if stage_idx == 0 else nn.MaxPool2d(2, 2)
        if self.arch == 'W':
            return conv(in_channels, out_channels, 3, stride=2)
        if self.arch in ('L', 'X'):
            if stage_idx == 0:
                return conv(in_channels, out_channels // 2, 3, stride=2)
            return MaxPoolAndStrideConvBlock(
                in_channels,
                in_channels,
                use_in_channels_of_middle=False,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg)
        return MaxPoolAndStrideConvBlock(
            in_channels,
            out_channels,
            use_in_channels_of_middle=True,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
