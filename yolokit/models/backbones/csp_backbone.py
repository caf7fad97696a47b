"""Stage builder shared by the CSP backbones (YOLOv5, YOLOv8, YOLOX, RTMDet).

Every stage of these backbones is a stride-2 3x3 conv followed by a CSP
block, and the last stage also has a spatial pyramid pooling block (SPPF)
before or after it. The backbones differ in their stem, their CSP block,
the SPP kernels and position, and their width/depth rounding; a subclass of
:class:`CSPStageBackbone` states only those.
"""
from typing import Dict, List, NamedTuple, Sequence, Tuple

import torch.nn as nn
from mmdet.models.layers import CSPLayer

from ..layers import SPPFBottleneck
from ..layers.conv_recipe import ConvRecipe
from ..utils.scaling import DIVISIBLE_SCALING, ScalingRule
from .base_backbone import BaseBackbone, UnknownArchError


class StageSpec(NamedTuple):
    """One row of a CSP backbone's ``arch_settings`` table."""
    in_channels: int
    out_channels: int
    num_blocks: int
    add_identity: bool  # shortcut inside the CSP block's bottlenecks
    use_spp: bool  # the stage also gets an SPPF block

    def scaled(self, rule: ScalingRule, widen_factor: float,
               deepen_factor: float) -> 'StageSpec':
        """The row for one model size: widened channels, deepened blocks."""
        return self._replace(
            in_channels=rule.width(self.in_channels, widen_factor),
            out_channels=rule.width(self.out_channels, widen_factor),
            num_blocks=rule.depth(self.num_blocks, deepen_factor))


def read_stage_specs(rows: Sequence[Sequence],
                     arg_name: str) -> List[StageSpec]:
    """``rows`` of ``[in, out, num_blocks, add_identity, use_spp]`` as
    :class:`StageSpec`; ``arg_name`` names the table in errors."""
    if not isinstance(rows, (list, tuple)):
        raise TypeError(f'{arg_name} must be a list of [in_channels, '
                        'out_channels, num_blocks, add_identity, use_spp] '
                        f'rows, but got {rows!r}')
    for i, row in enumerate(rows):
        if not isinstance(row, (list, tuple)) or len(row) != 5:
            raise ValueError(
                f'{arg_name}[{i}] must be [in_channels, out_channels, '
                f'num_blocks, add_identity, use_spp], but got {row!r}')
    return [StageSpec(*row) for row in rows]


def select_arch(owner: str, arch_settings: Dict[str, list],
                arch: str) -> List[StageSpec]:
    """The stage rows of ``arch`` (a fresh list; the table is not shared).
    """
    if arch not in arch_settings:
        raise UnknownArchError(
            f'{owner}: `arch` must be one of {sorted(arch_settings)}, but '
            f'got {arch!r}')
    return read_stage_specs(arch_settings[arch], f'{owner}.arch_settings')


def stage_layout(use_spp: bool, spp_before_csp: bool) -> Tuple[str, ...]:
    """Order of the blocks after a stage's stride-2 conv.

    YOLOv5/YOLOv8 pool after the CSP block, YOLOX/CSPNeXt before it. The
    order is the stage's ``nn.Sequential`` index, hence part of the
    checkpoint keys (``stage4.1`` vs ``stage4.2``).
    """
    if not use_spp:
        return ('csp', )
    return ('spp', 'csp') if spp_before_csp else ('csp', 'spp')


class CSPStageBackbone(BaseBackbone):
    """A backbone whose stage ``i`` turns (B, C_{i-1}, H, W) into
    (B, C_i, H / 2, W / 2) with ``[3x3/2 conv, CSP block (+ SPPF)]``.

    It is built like :class:`BaseBackbone`, with ``arch_setting`` a list of
    :class:`StageSpec` rows before scaling. Subclasses set the class
    attributes ``scaling`` (width/depth rule) and ``spp_before_csp``, set
    the instance attributes their builders read before calling
    ``__init__`` (which builds the layers), and implement
    :meth:`build_stem_layer`; they override :meth:`build_csp_block` and
    :meth:`build_spp_block` for other blocks than C3 and a k=5 SPPF.
    Instance attributes ``use_depthwise`` and ``conv_cfg`` set that way
    change the stride-2 convs (``conv_cfg`` also the C3 and SPPF blocks).
    """
    scaling: ScalingRule = DIVISIBLE_SCALING
    spp_before_csp: bool = False
    use_depthwise: bool = False
    conv_cfg = None

    def scale_stage(self, setting: Sequence) -> StageSpec:
        """The stage row ``setting`` scaled to this model's size."""
        return StageSpec(*setting).scaled(self.scaling, self.widen_factor,
                                          self.deepen_factor)

    def _stage_out_channels(self, setting: Sequence) -> int:
        # the channels the stage really has, e.g. make_divisible(128, 0.33)
        # = 48 where the base class's int(128 * 0.33) would give 42
        return self.scale_stage(setting).out_channels

    def build_stage_layer(self, stage_idx: int, setting: Sequence) -> list:
        """Build one stage: stride-2 conv, then the CSP/SPPF blocks in the
        order of :func:`stage_layout`.

        Args:
            stage_idx (int): Index of the stage (0-based).
            setting (StageSpec): The stage's row before scaling.

        Returns:
            list[nn.Module]: The stage's layers.
        """
        spec = self.scale_stage(setting)
        convs = ConvRecipe(self.norm_cfg, self.act_cfg, self.conv_cfg,
                           self.use_depthwise)
        downsample = convs(spec.in_channels, spec.out_channels, 3, stride=2)
        build = dict(csp=self.build_csp_block, spp=self.build_spp_block)
        layout = stage_layout(spec.use_spp, self.spp_before_csp)
        return [downsample] + [build[kind](spec) for kind in layout]

    def build_csp_block(self, spec: StageSpec) -> nn.Module:
        """The stage's CSP block, ``out_channels`` in and out: a C3 block
        (MMDetection's ``CSPLayer``) of ``spec.num_blocks`` bottlenecks."""
        return CSPLayer(
            spec.out_channels,
            spec.out_channels,
            num_blocks=spec.num_blocks,
            add_identity=spec.add_identity,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def build_spp_block(self, spec: StageSpec) -> nn.Module:
        """The pooling block of a stage with ``use_spp``: a serial k=5
        :class:`SPPFBottleneck`, ``out_channels`` in and out."""
        return SPPFBottleneck(
            spec.out_channels,
            spec.out_channels,
            kernel_sizes=5,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
