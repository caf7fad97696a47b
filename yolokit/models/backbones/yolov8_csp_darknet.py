"""CSP-Darknet backbone of YOLOv8 (3x3 conv stem, C2f blocks, SPPF)."""
from typing import List, Optional, Tuple, Union

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.utils import ConfigType, OptMultiConfig

from yolokit.registry import MODELS
from ..layers import CSPLayerWithTwoConv
from ..utils import make_divisible
from .yolov5_csp_darknet import YOLOv5CSPDarknet


@MODELS.register_module()
class YOLOv8CSPDarknet(YOLOv5CSPDarknet):
    """CSP-Darknet backbone used in YOLOv8.

    Stem: 3x3 stride-2 conv. Each stage: 3x3 stride-2 conv, then a
    :class:`CSPLayerWithTwoConv` (C2f); the last stage ends with an
    :class:`SPPFBottleneck`. Channels scale with :func:`make_divisible`,
    block counts with :func:`make_round`.

    Args:
        arch (str): Architecture; only ``'P5'``. Defaults to ``'P5'``.
        last_stage_out_channels (int): Output channels of the last stage
            before widening (1024 for n/s, 768 for m, 512 for l/x).
            Defaults to 1024.
        plugins (dict | list[dict], optional): Stage plugins, see
            :meth:`BaseBackbone.make_stage_plugins`. Defaults to None.
        deepen_factor (float): Block-count multiplier. Defaults to 1.0.
        widen_factor (float): Channel multiplier. Defaults to 1.0.
        input_channels (int): Channels of the input image. Defaults to 3.
        out_indices (Tuple[int]): Outputs to return (0 = stem).
            Defaults to (2, 3, 4).
        frozen_stages (int): Freeze the stem and stages 1..k; -1 freezes
            nothing. Defaults to -1.
        norm_cfg (dict): Norm layer config.
            Defaults to ``dict(type='BN', momentum=0.03, eps=0.001)``.
        act_cfg (dict): Activation config.
            Defaults to ``dict(type='SiLU', inplace=True)``.
        norm_eval (bool): Keep BatchNorm layers in eval mode during
            training. Defaults to False.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None (PyTorch's default conv initialization).

    Example:
        >>> import torch
        >>> from yolokit.models import YOLOv8CSPDarknet
        >>> model = YOLOv8CSPDarknet().eval()
        >>> for out in model(torch.rand(1, 3, 416, 416)):
        ...     print(tuple(out.shape))
        (1, 256, 52, 52)
        (1, 512, 26, 26)
        (1, 1024, 13, 13)
    """
    # Per stage: in_channels, out_channels, num_blocks, add_identity, use_spp.
    # The last stage's out_channels (None) is last_stage_out_channels.
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
        super().__init__(
            arch=arch,
            plugins=plugins,
            deepen_factor=deepen_factor,
            widen_factor=widen_factor,
            input_channels=input_channels,
            out_indices=out_indices,
            frozen_stages=frozen_stages,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            norm_eval=norm_eval,
            init_cfg=init_cfg)

    def _stage_settings(self, arch: str) -> list:
        settings = super()._stage_settings(arch)
        settings[-1][1] = self.last_stage_out_channels
        return settings

    def build_stem_layer(self) -> nn.Module:
        """Build the 3x3 stride-2 conv stem."""
        return ConvModule(
            self.input_channels,
            make_divisible(self.arch_setting[0][0], self.widen_factor),
            kernel_size=3,
            stride=2,
            padding=1,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def build_csp_block(self, channels: int, num_blocks: int,
                        add_identity: bool) -> nn.Module:
        """Build the stage's CSP block: a C2f (:class:`CSPLayerWithTwoConv`)."""
        return CSPLayerWithTwoConv(
            channels,
            channels,
            num_blocks=num_blocks,
            add_identity=add_identity,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
