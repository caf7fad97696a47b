"""YOLOv6's backbones: EfficientRep (n/t/s) and CSPBep (m/l)."""
from typing import List, NamedTuple, Optional, Tuple, Union

import torch.nn as nn
from mmdet.utils import ConfigType, OptMultiConfig

from yolokit.registry import MODELS
from ..layers import (BepC3StageBlock, CSPSPPFBottleneck, RepStageBlock,
                      SPPFBottleneck)
from ..layers.conv_init import PyTorchConvInitMixin
from ..utils import make_round
from .base_backbone import BaseBackbone


class RepStageSpec(NamedTuple):
    """One row of ``arch_settings``, before widening / deepening."""
    in_channels: int
    out_channels: int
    num_blocks: int
    use_spp: bool


def _build_block(block_cfg: ConfigType, in_channels: int, out_channels: int,
                 **kwargs) -> nn.Module:
    cfg = dict(block_cfg)
    cfg.update(in_channels=in_channels, out_channels=out_channels, **kwargs)
    return MODELS.build(cfg)


@MODELS.register_module()
class YOLOv6EfficientRep(PyTorchConvInitMixin, BaseBackbone):
    """EfficientRep: a stride-2 rep block stem and four rep stages.

    At ``widen_factor=1``, for a (B, 3, H, W) image:

    .. code:: text

        index  layer   content                                 ch    stride
        0      stem    3x3/2 block                             64    2
        1      stage1  3x3/2 block, RepStageBlock (6 blocks)   128   4
        2      stage2  3x3/2 block, RepStageBlock (12)         256   8
        3      stage3  3x3/2 block, RepStageBlock (18)         512   16
        4      stage4  3x3/2 block, RepStageBlock (6), SPPF    1024  32

    Each stage is ``Sequential(Sequential(down, stage_block), [spp])``
    (the nesting gives the checkpoint keys ``stageN.0.0``/``stageN.0.1``/
    ``stageN.1``). Blocks are ``block_cfg`` (RepVGGBlock); channels scale
    as ``int(c * widen_factor)``, block counts with :func:`make_round`.
    ``use_cspsppf`` (YOLOv6 3.0) swaps the SPPF for
    :class:`CSPSPPFBottleneck`; both have k = 5.

    Args:
        arch (str): Only ``'P5'``. Defaults to ``'P5'``.
        use_cspsppf (bool): Use the CSP SPPF. Defaults to False.
        block_cfg (dict): Config of the rep blocks. Defaults to
            ``dict(type='RepVGGBlock')``.
        norm_cfg, act_cfg (dict): Configs of the SPPF convs (the rep
            blocks use their own defaults). Defaults: BN (momentum 0.03,
            eps 0.001), ReLU.
        Others: as :class:`BaseBackbone`. Without ``init_cfg`` every conv
        gets PyTorch's default init.
    """
    # Per stage: in_channels, out_channels, num_blocks, use_spp
    arch_settings = {
        'P5': [[64, 128, 6, False], [128, 256, 12, False],
               [256, 512, 18, False], [512, 1024, 6, True]]
    }

    def __init__(self,
                 arch: str = 'P5',
                 plugins: Optional[Union[dict, List[dict]]] = None,
                 deepen_factor: float = 1.0,
                 widen_factor: float = 1.0,
                 input_channels: int = 3,
                 out_indices: Tuple[int] = (2, 3, 4),
                 frozen_stages: int = -1,
                 use_cspsppf: bool = False,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='ReLU', inplace=True),
                 norm_eval: bool = False,
                 block_cfg: ConfigType = dict(type='RepVGGBlock'),
                 init_cfg: OptMultiConfig = None):
        if arch not in self.arch_settings:
            raise ValueError(f'{type(self).__name__}: arch must be one of '
                             f'{sorted(self.arch_settings)}, but got '
                             f'{arch!r}')
        self.block_cfg = block_cfg
        self.use_cspsppf = use_cspsppf
        super().__init__(
            self.arch_settings[arch],
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

    def build_stem_layer(self) -> nn.Module:
        """A 3x3 stride-2 ``block_cfg`` block."""
        return _build_block(
            self.block_cfg,
            self.input_channels,
            int(self.arch_setting[0][0] * self.widen_factor),
            kernel_size=3,
            stride=2)

    def build_stage_block(self, channels: int, num_blocks: int) -> nn.Module:
        """The ``channels -> channels`` block after the downsampling."""
        return RepStageBlock(
            channels, channels, num_blocks=num_blocks,
            block_cfg=self.block_cfg)

    def build_stage_layer(self, stage_idx: int, setting: list) -> list:
        """``[Sequential(down, stage block)]`` plus the SPPF if any."""
        spec = RepStageSpec(*setting)
        cin = int(spec.in_channels * self.widen_factor)
        cout = int(spec.out_channels * self.widen_factor)
        down = _build_block(
            self.block_cfg, cin, cout, kernel_size=3, stride=2)
        stage = [
            nn.Sequential(
                down,
                self.build_stage_block(
                    cout, make_round(spec.num_blocks, self.deepen_factor)))
        ]
        if spec.use_spp:
            spp_type = CSPSPPFBottleneck if self.use_cspsppf \
                else SPPFBottleneck
            stage.append(
                spp_type(
                    cout,
                    cout,
                    kernel_sizes=5,
                    norm_cfg=self.norm_cfg,
                    act_cfg=self.act_cfg))
        return stage


@MODELS.register_module()
class YOLOv6CSPBep(YOLOv6EfficientRep):
    """CSPBep: EfficientRep with :class:`BepC3StageBlock` stages (m/l).

    The stage block splits into ``int(c * hidden_ratio)`` channels; its
    1x1 convs use ``norm_cfg``/``act_cfg``. ``block_cfg`` defaults to
    ``ConvWrapper`` (a plain biased conv + SiLU).

    ``use_cspsppf`` is accepted and ignored (always the plain SPPF), as in
    MMYOLO 0.6.0.

    Args:
        hidden_ratio (float): Hidden-channel ratio of the BepC3 blocks.
            Defaults to 0.5.
        act_cfg (dict): Defaults to SiLU.
        Others: as :class:`YOLOv6EfficientRep`.
    """

    def __init__(self,
                 arch: str = 'P5',
                 plugins: Optional[Union[dict, List[dict]]] = None,
                 deepen_factor: float = 1.0,
                 widen_factor: float = 1.0,
                 input_channels: int = 3,
                 hidden_ratio: float = 0.5,
                 out_indices: Tuple[int] = (2, 3, 4),
                 frozen_stages: int = -1,
                 use_cspsppf: bool = False,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 norm_eval: bool = False,
                 block_cfg: ConfigType = dict(type='ConvWrapper'),
                 init_cfg: OptMultiConfig = None):
        self.hidden_ratio = hidden_ratio
        super().__init__(
            arch=arch,
            plugins=plugins,
            deepen_factor=deepen_factor,
            widen_factor=widen_factor,
            input_channels=input_channels,
            out_indices=out_indices,
            frozen_stages=frozen_stages,
            # MMYOLO 0.6.0's CSPBep drops this flag, so yolov6_v3_m/l (whose
            # config inherits use_cspsppf=True) build the plain SPPF; their
            # checkpoints and module trees depend on that
            use_cspsppf=False,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            norm_eval=norm_eval,
            block_cfg=block_cfg,
            init_cfg=init_cfg)

    def build_stage_block(self, channels: int, num_blocks: int) -> nn.Module:
        """A BepC3 block on ``channels``."""
        return BepC3StageBlock(
            channels,
            channels,
            num_blocks=num_blocks,
            hidden_ratio=self.hidden_ratio,
            block_cfg=self.block_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
