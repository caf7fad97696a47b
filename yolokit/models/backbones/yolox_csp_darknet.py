"""CSP-Darknet backbone of YOLOX (Focus stem, parallel SPP)."""
import copy
from typing import List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmdet.models.backbones.csp_darknet import Focus
from mmdet.models.layers import CSPLayer
from mmdet.utils import ConfigType, OptMultiConfig

from yolokit.registry import MODELS
from ..layers import SPPFBottleneck
from ..utils import make_divisible, make_round
from .base_backbone import BaseBackbone


@MODELS.register_module()
class YOLOXCSPDarknet(BaseBackbone):
    """CSP-Darknet backbone used in YOLOX.

    Stem: MMDetection's ``Focus`` (space-to-depth, then a 3x3 conv), stride
    2. Each of the four stages: a stride-2 3x3 conv (depthwise-separable
    with ``use_depthwise``), in the last stage followed by a parallel SPP
    (:class:`SPPFBottleneck` with the kernel sizes ``spp_kernal_sizes``),
    then an MMDetection ``CSPLayer``. Channels scale with
    :func:`make_divisible`, block counts with :func:`make_round`. As in
    MMYOLO, ``use_depthwise`` only affects the stride-2 convs: the CSP
    layers always use dense 3x3 convs.

    Args:
        arch (str): Architecture; only ``'P5'``. Defaults to ``'P5'``.
        plugins (dict | list[dict], optional): Stage plugins, see
            :meth:`BaseBackbone.make_stage_plugins`. Defaults to None.
        deepen_factor (float): Block-count multiplier. Defaults to 1.0.
        widen_factor (float): Channel multiplier. Defaults to 1.0.
        input_channels (int): Channels of the input image. The Focus stem is
            built for 3-channel images, as in MMYOLO. Defaults to 3.
        out_indices (Tuple[int]): Outputs to return (0 = stem).
            Defaults to (2, 3, 4).
        frozen_stages (int): Freeze the stem and stages 1..k; -1 freezes
            nothing. Defaults to -1.
        use_depthwise (bool): Use depthwise-separable stride-2 convs.
            Defaults to False.
        spp_kernal_sizes (Sequence[int]): Kernel sizes of the parallel SPP
            max-poolings (the misspelling is MMYOLO's public name).
            Defaults to (5, 9, 13).
        norm_cfg (dict): Norm layer config.
            Defaults to ``dict(type='BN', momentum=0.03, eps=0.001)``.
        act_cfg (dict): Activation config.
            Defaults to ``dict(type='SiLU', inplace=True)``.
        norm_eval (bool): Keep BatchNorm layers in eval mode during
            training. Defaults to False.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.

    Example:
        >>> import torch
        >>> from yolokit.models import YOLOXCSPDarknet
        >>> model = YOLOXCSPDarknet()
        >>> model.eval()
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
        if arch not in self.arch_settings:
            raise ValueError(f'YOLOXCSPDarknet: `arch` must be one of '
                             f'{sorted(self.arch_settings)}, but got {arch!r}')
        # read by build_stage_layer, which the base class calls
        self.use_depthwise = use_depthwise
        self.spp_kernal_sizes = spp_kernal_sizes
        super().__init__(
            copy.deepcopy(self.arch_settings[arch]),
            deepen_factor,
            widen_factor,
            input_channels=input_channels,
            out_indices=out_indices,
            frozen_stages=frozen_stages,
            plugins=plugins,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            norm_eval=norm_eval,
            init_cfg=init_cfg)

    def build_stem_layer(self) -> nn.Module:
        """Build the Focus stem (3 input channels, stride 2)."""
        return Focus(
            3,
            make_divisible(64, self.widen_factor),
            kernel_size=3,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def build_stage_layer(self, stage_idx: int, setting: list) -> list:
        """Build one stage: downsampling conv, optional SPP, CSP layer.

        Args:
            stage_idx (int): Index of the stage (0-based).
            setting (list): ``[in, out, num_blocks, add_identity, use_spp]``.

        Returns:
            list[nn.Module]: The stage's layers.
        """
        in_channels, out_channels, num_blocks, add_identity, use_spp = setting

        in_channels = make_divisible(in_channels, self.widen_factor)
        out_channels = make_divisible(out_channels, self.widen_factor)
        num_blocks = make_round(num_blocks, self.deepen_factor)
        conv = DepthwiseSeparableConvModule \
            if self.use_depthwise else ConvModule
        stage = [
            conv(
                in_channels,
                out_channels,
                kernel_size=3,
                stride=2,
                padding=1,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg)
        ]
        if use_spp:
            stage.append(
                SPPFBottleneck(
                    out_channels,
                    out_channels,
                    kernel_sizes=self.spp_kernal_sizes,
                    norm_cfg=self.norm_cfg,
                    act_cfg=self.act_cfg))
        stage.append(
            CSPLayer(
                out_channels,
                out_channels,
                num_blocks=num_blocks,
                add_identity=add_identity,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg))
        return stage

    def _plugin_in_channels(self, setting: list) -> int:
        # The stage really outputs make_divisible(out, widen), which differs
        # from the base class's int(out * widen) for e.g. widen 0.375.
        return make_divisible(setting[1], self.widen_factor)
