"""CSP-Darknet of YOLOX (Focus stem, parallel SPP before the last C3)."""
from typing import List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmdet.models.backbones.csp_darknet import Focus
from mmdet.utils import ConfigType, OptMultiConfig

from yolokit.registry import MODELS
from ..layers import SPPFBottleneck
from ..utils import make_divisible
from .csp_backbone import CSPStageBackbone, StageSpec, select_arch


@MODELS.register_module()
class YOLOXCSPDarknet(CSPStageBackbone):
    """YOLOX's feature extractor: a Focus stem and four C3 stages.

    For a (B, 3, H, W) image at ``widen_factor=1``:

    .. code:: text

        index  layer   content                                channels stride
        0      stem    Focus: space-to-depth (12 ch), 3x3 conv  64       2
        1      stage1  3x3/2 conv, C3 (3 blocks)                128      4
        2      stage2  3x3/2 conv, C3 (9 blocks)                256      8
        3      stage3  3x3/2 conv, C3 (9 blocks)                512      16
        4      stage4  3x3/2 conv, SPP(5, 9, 13), C3 (3, no     1024     32
                       shortcut)

    Output ``i`` is (B, C_i, H / s_i, W / s_i). The Focus stem (MMDetection's)
    stacks the four pixel phases of each 2x2 cell before its conv and is
    built for 3-channel images. The SPP runs its max-pools in parallel on the
    same input (:class:`SPPFBottleneck` with a kernel tuple). Channels are
    scaled with :func:`make_divisible`, block counts with :func:`make_round`.
    ``use_depthwise`` (YOLOX-nano) makes only the stride-2 convs depth-wise
    separable; the C3 blocks stay dense.

    Args:
        arch (str): Only ``'P5'``. Defaults to ``'P5'``.
        use_depthwise (bool): Depth-wise separable stride-2 convs.
            Defaults to False.
        spp_kernal_sizes (Sequence[int]): Kernel sizes of the parallel
            max-pools (the misspelling is MMYOLO's public name).
            Defaults to (5, 9, 13).
        Others: as :class:`BaseBackbone`; the convs keep mmcv's init.

    Raises:
        UnknownArchError: ``arch`` is not a key of ``arch_settings``.

    Example:
        >>> import torch
        >>> from yolokit.models import YOLOXCSPDarknet
        >>> model = YOLOXCSPDarknet()
        >>> _ = model.eval()
        >>> inputs = torch.rand(1, 3, 416, 416)
        >>> for level_out in model(inputs):
        ...     print(tuple(level_out.shape))
        (1, 256, 52, 52)
        (1, 512, 26, 26)
        (1, 1024, 13, 13)
    """
    # Per stage: in_channels, out_channels, num_blocks, add_identity, use_spp
    arch_settings = {
        'P5': [[64, 128, 3, True, False], [128, 256, 9, True, False],
               [256, 512, 9, True, False], [512, 1024, 3, False, True]],
    }
    spp_before_csp = True

    def __init__(self,
                 arch: str = 'P5',
                 plugins: Optional[Union[dict, List[dict]]] = None,
                 deepen_factor: float = 1.0,
                 widen_factor: float = 1.0,
                 input_channels: int = 3,
                 out_indices: Tuple[int] = (2, 3, 4),
                 frozen_stages: int = -1,
                 use_depthwise: bool = False,
                 spp_kernal_sizes: Sequence[int] = (5, 9, 13),
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 norm_eval: bool = False,
                 init_cfg: OptMultiConfig = None):
        specs = select_arch(type(self).__name__, self.arch_settings, arch)
        self.use_depthwise = use_depthwise
        self.spp_kernal_sizes = spp_kernal_sizes
        super().__init__(specs, deepen_factor, widen_factor, input_channels,
                         out_indices, frozen_stages, plugins, norm_cfg,
                         act_cfg, norm_eval, init_cfg)

    def build_stem_layer(self) -> nn.Module:
        """Build the Focus stem (3 input channels, stride 2)."""
        return Focus(
            3,
            make_divisible(64, self.widen_factor),
            kernel_size=3,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def build_spp_block(self, spec: StageSpec) -> nn.Module:
        """The parallel SPP with ``spp_kernal_sizes``."""
        return SPPFBottleneck(
            spec.out_channels,
            spec.out_channels,
            kernel_sizes=self.spp_kernal_sizes,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
