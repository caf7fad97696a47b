"""CSP-ResNet backbone of PP-YOLOE / PP-YOLOE+."""
from typing import List, Optional, Sequence, Union

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.utils import ConfigType, OptMultiConfig

from yolokit.models.layers import CSPResLayer
from yolokit.registry import MODELS
from .base_backbone import BaseBackbone, UnknownArchError


@MODELS.register_module()
class PPYOLOECSPResNet(BaseBackbone):
    """Stem (two or three 3x3 convs, stride 2 overall) and four stride-2
    :class:`CSPResLayer` stages; the ``out_indices`` default (2, 3, 4)
    gives strides 8, 16, 32.

    Unlike the other yolokit backbones the rows of ``arch_setting`` are
    scaled here (``int(c * widen_factor)``, ``round(n * deepen_factor)``)
    before the base class sees them, as MMYOLO does.

    Args:
        arch (str): Key of ``arch_settings``; only 'P5'. Defaults to 'P5'.
        deepen_factor (float): Block-count multiplier. Defaults to 1.0.
        widen_factor (float): Channel multiplier. Defaults to 1.0.
        input_channels (int): Image channels. Defaults to 3.
        out_indices (Sequence[int]): Layers to output (0 = stem).
            Defaults to (2, 3, 4).
        frozen_stages (int): Freeze the stem and stages up to this one;
            -1 freezes nothing. Defaults to -1.
        plugins (dict | list[dict], optional): Stage plugins.
        arch_ovewrite (list, optional): Rows ``[c_in, c_out, n]`` replacing
            ``arch_settings[arch]`` (MMYOLO's spelling).
        block_cfg (dict): Block of every stage. Defaults to
            ``dict(type='PPYOLOEBasicBlock', shortcut=True, use_alpha=True)``.
        norm_cfg (dict): Defaults to ``dict(type='BN', momentum=0.1,
            eps=1e-5)``.
        act_cfg (dict): Defaults to SiLU.
        attention_cfg (dict): Stage attention. Defaults to ESE with HSigmoid.
        norm_eval (bool): Keep BatchNorms in eval mode. Defaults to False.
        init_cfg (dict or list[dict], optional): Initialization config.
        use_large_stem (bool): Three stem convs (PP-YOLOE+) instead of two.
            Defaults to False.
    """
    # rows: in_channels, out_channels, num_blocks (before scaling)
    arch_settings = {
        'P5': [[64, 128, 3], [128, 256, 6], [256, 512, 6], [512, 1024, 3]]
    }

    def __init__(self,
                 arch: str = 'P5',
                 deepen_factor: float = 1.0,
                 widen_factor: float = 1.0,
                 input_channels: int = 3,
                 out_indices: Sequence[int] = (2, 3, 4),
                 frozen_stages: int = -1,
                 plugins: Optional[Union[dict, List[dict]]] = None,
                 arch_ovewrite: Optional[list] = None,
                 block_cfg: ConfigType = dict(
                     type='PPYOLOEBasicBlock', shortcut=True, use_alpha=True),
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.1, eps=1e-5),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 attention_cfg: ConfigType = dict(
                     type='EffectiveSELayer', act_cfg=dict(type='HSigmoid')),
                 norm_eval: bool = False,
                 init_cfg: OptMultiConfig = None,
                 use_large_stem: bool = False):
        if arch_ovewrite:
            rows = arch_ovewrite
        elif arch in self.arch_settings:
            rows = self.arch_settings[arch]
        else:
            raise UnknownArchError(
                f'PPYOLOECSPResNet: unknown arch {arch!r}; expected one of '
                f'{sorted(self.arch_settings)}')
        scaled = [[int(c_in * widen_factor), int(c_out * widen_factor),
                   round(n * deepen_factor)] for c_in, c_out, n in rows]
        self.block_cfg = block_cfg
        self.use_large_stem = use_large_stem
        self.attention_cfg = attention_cfg
        super().__init__(
            scaled, deepen_factor, widen_factor,
            input_channels=input_channels, out_indices=out_indices,
            plugins=plugins, frozen_stages=frozen_stages,
            norm_cfg=norm_cfg, act_cfg=act_cfg, norm_eval=norm_eval,
            init_cfg=init_cfg)

    def _stage_out_channels(self, setting: list) -> int:
        return setting[1]  # rows are already widened

    def _conv3x3(self, c_in: int, c_out: int, stride: int) -> ConvModule:
        return ConvModule(c_in, c_out, 3, stride=stride, padding=1,
                          norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)

    def build_stem_layer(self) -> nn.Module:
        """3x3/s2 to half the first width, (3x3 at half width,) 3x3 up."""
        width = self.arch_setting[0][0]
        convs = [self._conv3x3(self.input_channels, width // 2, 2)]
        if self.use_large_stem:
            convs.append(self._conv3x3(width // 2, width // 2, 1))
        convs.append(self._conv3x3(width // 2, width, 1))
        return nn.Sequential(*convs)

    def build_stage_layer(self, stage_idx: int, setting: list) -> list:
        """One stride-2 CSPResLayer."""
        c_in, c_out, num_blocks = setting
        return [CSPResLayer(
            in_channels=c_in, out_channels=c_out, num_block=num_blocks,
            block_cfg=self.block_cfg, stride=2, norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg, attention_cfg=self.attention_cfg,
            use_spp=False)]
