"""CSPNeXt, RTMDet's backbone (3-conv stem, CSPNeXt blocks, SPPF)."""
import math
from typing import List, Optional, Sequence, Union

import torch.nn as nn
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmdet.models.layers import CSPLayer
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig

from yolokit.registry import MODELS
from ..layers.conv_recipe import ConvRecipe
from ..utils.scaling import TRUNCATED_SCALING
from .csp_backbone import (CSPStageBackbone, StageSpec, read_stage_specs,
                           select_arch)


@MODELS.register_module()
class CSPNeXt(CSPStageBackbone):
    """RTMDet's feature extractor: CSP stages of large-kernel blocks.

    For a (B, 3, H, W) image and the P5 table at ``widen_factor=1``:

    .. code:: text

        index  layer   content                                 channels  s
        0      stem    3x3/2, 3x3, 3x3 convs (32, 32, 64 ch)   64        2
        1      stage1  3x3/2 conv, CSP (3 blocks)              128       4
        2      stage2  3x3/2 conv, CSP (6 blocks)              256       8
        3      stage3  3x3/2 conv, CSP (6 blocks)              512       16
        4      stage4  3x3/2 conv, SPPF(5), CSP (3, no         1024      32
                       shortcut)

    The P6 table inserts a 768-channel stage4 (with shortcut, no SPPF), so
    stage5 (1024 channels, stride 64) holds the SPPF. Output ``i`` is
    (B, C_i, H / s_i, W / s_i). A CSP layer here is MMDetection's
    ``CSPLayer`` with CSPNeXt blocks (3x3 conv, then a 5x5 depth-wise
    separable conv) and, with ``channel_attention``, a squeeze-style
    channel gate. Channels are truncated, ``int(c * widen_factor)``, and
    block counts are ``max(round(n * deepen_factor), 1)``
    (:data:`TRUNCATED_SCALING`).

    Args:
        arch (str): ``'P5'`` or ``'P6'``. Defaults to ``'P5'``.
        use_depthwise (bool): Depth-wise separable stride-2 convs and CSP
            blocks. Defaults to False.
        expand_ratio (float): Hidden-channel ratio of the CSP layers.
            Defaults to 0.5.
        arch_ovewrite (list, optional): A table of ``[in, out, num_blocks,
            add_identity, use_spp]`` rows used instead of ``arch`` (the
            misspelling is MMYOLO's API). Defaults to None.
        channel_attention (bool): Gate each CSP layer's output channels.
            Defaults to True.
        conv_cfg (dict, optional): Conv config of the stages (the stem
            always uses ``nn.Conv2d``). Defaults to None.
        init_cfg (dict or list[dict], optional): Defaults to Kaiming-uniform
            (``a=sqrt(5)``, fan_in) on every Conv2d, i.e. PyTorch's default
            conv initialisation applied through mmengine.
        Others: as :class:`BaseBackbone`.

    Raises:
        UnknownArchError: ``arch`` is not a key of ``arch_settings`` (and
            no ``arch_ovewrite`` is given).

    Example:
        >>> import torch
        >>> from yolokit.models import CSPNeXt
        >>> p6_s = CSPNeXt(arch='P6', out_indices=(2, 3, 4, 5),
        ...                deepen_factor=0.33, widen_factor=0.5).eval()
        >>> [tuple(o.shape[1:]) for o in p6_s(torch.rand(1, 3, 320, 320))]
        [(128, 40, 40), (256, 20, 20), (384, 10, 10), (512, 5, 5)]
    """
    # Per stage: in_channels, out_channels, num_blocks, add_identity, use_spp
    arch_settings = {
        'P5': [[64, 128, 3, True, False], [128, 256, 6, True, False],
               [256, 512, 6, True, False], [512, 1024, 3, False, True]],
        'P6': [[64, 128, 3, True, False], [128, 256, 6, True, False],
               [256, 512, 6, True, False], [512, 768, 3, True, False],
               [768, 1024, 3, False, True]]
    }
    scaling = TRUNCATED_SCALING
    spp_before_csp = True

    def __init__(self,
                 arch: str = 'P5',
                 deepen_factor: float = 1.0,
                 widen_factor: float = 1.0,
                 input_channels: int = 3,
                 out_indices: Sequence[int] = (2, 3, 4),
                 frozen_stages: int = -1,
                 plugins: Optional[Union[dict, List[dict]]] = None,
                 use_depthwise: bool = False,
                 expand_ratio: float = 0.5,
                 arch_ovewrite: Optional[list] = None,
                 channel_attention: bool = True,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 norm_eval: bool = False,
                 init_cfg: OptMultiConfig = dict(
                     type='Kaiming',
                     layer='Conv2d',
                     a=math.sqrt(5),
                     distribution='uniform',
                     mode='fan_in',
                     nonlinearity='leaky_relu')):
        owner = type(self).__name__
        specs = (
            read_stage_specs(arch_ovewrite, f'{owner}: arch_ovewrite')
            if arch_ovewrite else select_arch(owner, self.arch_settings, arch))
        self.use_depthwise, self.conv_cfg = use_depthwise, conv_cfg
        self.expand_ratio = expand_ratio
        self.channel_attention = channel_attention
        # MMYOLO's attribute for the stride-2 conv type, kept for code that
        # reads it; the stages themselves follow use_depthwise
        self.conv = (
            DepthwiseSeparableConvModule if use_depthwise else ConvModule)
        super().__init__(specs, deepen_factor, widen_factor, input_channels,
                         out_indices, frozen_stages, plugins, norm_cfg,
                         act_cfg, norm_eval, init_cfg)

    def build_stem_layer(self) -> nn.Module:
        """Build the stem: 3x3/2 to half the stem width, 3x3, 3x3 to the
        full width (``int(c * widen)``, the first row's input channels)."""
        width = self.arch_setting[0].in_channels * self.widen_factor
        half, full = int(width // 2), int(width)
        convs = ConvRecipe(self.norm_cfg, self.act_cfg)
        return nn.Sequential(
            convs(self.input_channels, half, 3, stride=2),
            convs(half, half, 3), convs(half, full, 3))

    def build_csp_block(self, spec: StageSpec) -> nn.Module:
        """A ``CSPLayer`` of CSPNeXt blocks."""
        return CSPLayer(
            spec.out_channels,
            spec.out_channels,
            num_blocks=spec.num_blocks,
            add_identity=spec.add_identity,
            use_depthwise=self.use_depthwise,
            use_cspnext_block=True,
            expand_ratio=self.expand_ratio,
            channel_attention=self.channel_attention,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
