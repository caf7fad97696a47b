"""CSP-Darknet of YOLOv8 (3x3 conv stem, C2f stages, SPPF)."""
from typing import List, Optional, Tuple, Union

import torch.nn as nn
from mmdet.utils import ConfigType, OptMultiConfig

from yolokit.registry import MODELS
from ..layers import CSPLayerWithTwoConv
from ..layers.conv_init import PyTorchConvInitMixin
from ..layers.conv_recipe import ConvRecipe
from ..utils import make_divisible
from .csp_backbone import CSPStageBackbone, StageSpec, select_arch


@MODELS.register_module()
class YOLOv8CSPDarknet(PyTorchConvInitMixin, CSPStageBackbone):
    """YOLOv8's feature extractor: YOLOv5's layout with C2f blocks.

    For a (B, 3, H, W) image at ``widen_factor=1``:

    .. code:: text

        index  layer   content                            channels  stride
        0      stem    3x3/2 conv                         64        2
        1      stage1  3x3/2 conv, C2f (3 blocks)         128       4
        2      stage2  3x3/2 conv, C2f (6 blocks)         256       8
        3      stage3  3x3/2 conv, C2f (6 blocks)         512       16
        4      stage4  3x3/2 conv, C2f (3 blocks), SPPF   L         32

    ``L = last_stage_out_channels``: the larger models (m: 768, l/x: 512)
    keep the last stage narrower than the 2x-per-stage rule would. Output
    ``i`` is (B, C_i, H / s_i, W / s_i). Channels are scaled with
    :func:`make_divisible`, block counts with :func:`make_round`; the C2f
    block is :class:`CSPLayerWithTwoConv` and the SPPF has k = 5.

    Args:
        arch (str): Only ``'P5'``; another raises :class:`UnknownArchError`.
            Defaults to ``'P5'``.
        last_stage_out_channels (int): ``L`` above, before widening.
            Defaults to 1024.
        Others: as :class:`BaseBackbone`; :meth:`init_weights` as in
        :class:`YOLOv5CSPDarknet`.

    Example:
        >>> import torch
        >>> from yolokit.models import YOLOv8CSPDarknet
        >>> m_size = YOLOv8CSPDarknet(  # yolov8m: last stage 768 * 0.75
        ...     last_stage_out_channels=768, deepen_factor=0.67,
        ...     widen_factor=0.75).eval()
        >>> [tuple(o.shape) for o in m_size(torch.rand(1, 3, 416, 416))]
        [(1, 192, 52, 52), (1, 384, 26, 26), (1, 576, 13, 13)]
    """
    # Per stage: in_channels, out_channels, num_blocks, add_identity, use_spp.
    # None in the last row stands for last_stage_out_channels.
    arch_settings = {
        'P5': [[64, 128, 3, True, False], [128, 256, 6, True, False],
               [256, 512, 6, True, False], [512, None, 3, True, True]],
    }

    def __init__(self,
                 arch: str = 'P5',
                 last_stage_out_channels: int = 1024,
                 plugins: Optional[Union[dict, List[dict]]] = None,
                 deepen_factor: float = 1.0,
                 widen_factor: float = 1.0,
                 input_channels: int = 3,
                 out_indices: Tuple[int] = (2, 3, 4),
                 frozen_stages: int = -1,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 norm_eval: bool = False,
                 init_cfg: OptMultiConfig = None):
        self.last_stage_out_channels = last_stage_out_channels
        specs = select_arch(type(self).__name__, self.arch_settings, arch)
        specs[-1] = specs[-1]._replace(out_channels=last_stage_out_channels)
        super().__init__(specs, deepen_factor, widen_factor, input_channels,
                         out_indices, frozen_stages, plugins, norm_cfg,
                         act_cfg, norm_eval, init_cfg)

    def build_stem_layer(self) -> nn.Module:
        """Build the 3x3 stride-2 conv stem."""
        stem_channels = make_divisible(self.arch_setting[0].in_channels,
                                       self.widen_factor)
        return ConvRecipe(self.norm_cfg, self.act_cfg)(
            self.input_channels, stem_channels, 3, stride=2)

    def build_csp_block(self, spec: StageSpec) -> nn.Module:
        """A C2f block (:class:`CSPLayerWithTwoConv`)."""
        return CSPLayerWithTwoConv(
            spec.out_channels,
            spec.out_channels,
            num_blocks=spec.num_blocks,
            add_identity=spec.add_identity,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
