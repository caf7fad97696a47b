"""CSP-Darknet of YOLOv5 v6.1+ (6x6 conv stem, C3 stages, SPPF)."""
from typing import List, Optional, Tuple, Union

import torch.nn as nn
from mmdet.utils import ConfigType, OptMultiConfig

from yolokit.registry import MODELS
from ..layers.conv_init import PyTorchConvInitMixin
from ..layers.conv_recipe import ConvRecipe
from ..utils import make_divisible
from .csp_backbone import CSPStageBackbone, select_arch


@MODELS.register_module()
class YOLOv5CSPDarknet(PyTorchConvInitMixin, CSPStageBackbone):
    """YOLOv5's feature extractor: five stride-2 layers of C3 blocks.

    For a (B, 3, H, W) image and the P5 table at ``widen_factor=1``:

    .. code:: text

        index  layer   content                           channels  stride
        0      stem    6x6/2 conv                        64        2
        1      stage1  3x3/2 conv, C3 (3 blocks)         128       4
        2      stage2  3x3/2 conv, C3 (6 blocks)         256       8
        3      stage3  3x3/2 conv, C3 (9 blocks)         512       16
        4      stage4  3x3/2 conv, C3 (3 blocks), SPPF   1024      32

    The P6 table inserts a 768-channel stage4 without SPPF, so stage5
    (1024 channels, stride 64) ends with the SPPF (k = 5). Output ``i`` is
    (B, C_i, H / s_i, W / s_i). Channels are scaled with
    :func:`make_divisible` (multiples of 8), block counts with
    :func:`make_round`; yolov5s (0.33, 0.50) has a 32-channel stem, stages
    of 64/128/256/512 channels and 1/2/3/1 blocks. The C3 block is
    MMDetection's ``CSPLayer``; every conv is conv -> BN -> SiLU.

    Args:
        arch (str): ``'P5'`` or ``'P6'``. Defaults to ``'P5'``.
        Others: as :class:`BaseBackbone`. Without ``init_cfg`` (the
        default), :meth:`init_weights` gives every conv PyTorch's default
        initialisation, as the original YOLOv5 does.

    Raises:
        UnknownArchError: ``arch`` is not a key of ``arch_settings``.

    Example:
        >>> import torch
        >>> from yolokit.models import YOLOv5CSPDarknet
        >>> model = YOLOv5CSPDarknet().eval()
        >>> for out in model(torch.rand(1, 3, 416, 416)):
        ...     print(tuple(out.shape))
        (1, 256, 52, 52)
        (1, 512, 26, 26)
        (1, 1024, 13, 13)
    """
    # Per stage: in_channels, out_channels, num_blocks, add_identity, use_spp
    arch_settings = {
        'P5': [[64, 128, 3, True, False], [128, 256, 6, True, False],
               [256, 512, 9, True, False], [512, 1024, 3, True, True]],
        'P6': [[64, 128, 3, True, False], [128, 256, 6, True, False],
               [256, 512, 9, True, False], [512, 768, 3, True, False],
               [768, 1024, 3, True, True]]
    }

    def __init__(self,
                 arch: str = 'P5',
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
        specs = select_arch(type(self).__name__, self.arch_settings, arch)
        super().__init__(specs, deepen_factor, widen_factor, input_channels,
                         out_indices, frozen_stages, plugins, norm_cfg,
                         act_cfg, norm_eval, init_cfg)

    def build_stem_layer(self) -> nn.Module:
        """Build the 6x6 stride-2 conv stem (padding 2)."""
        stem_channels = make_divisible(self.arch_setting[0].in_channels,
                                       self.widen_factor)
        return ConvRecipe(self.norm_cfg, self.act_cfg)(
            self.input_channels, stem_channels, 6, stride=2, padding=2)
