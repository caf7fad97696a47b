"""CSP-Darknet backbone of YOLOv5 (v6.1+, 6x6 conv stem, SPPF)."""
import copy
from typing import List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.models.layers import CSPLayer
from mmdet.utils import ConfigType, OptMultiConfig

from yolokit.registry import MODELS
from ..layers import SPPFBottleneck
from ..utils import make_divisible, make_round
from .base_backbone import BaseBackbone


@MODELS.register_module()
class YOLOv5CSPDarknet(BaseBackbone):
    """CSP-Darknet backbone used in YOLOv5.

    Stem: 6x6 stride-2 conv. Each stage: 3x3 stride-2 conv, then a
    ``CSPLayer`` (C3); the last stage ends with an :class:`SPPFBottleneck`.
    Channels scale with :func:`make_divisible`, block counts with
    :func:`make_round`.

    Args:
        arch (str): ``'P5'`` (4 stages, strides up to 32) or ``'P6'``
            (5 stages, strides up to 64). Defaults to ``'P5'``.
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
            Defaults to None (PyTorch's default conv initialization, as the
            original YOLOv5).

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
        if arch not in self.arch_settings:
            raise ValueError(f'{type(self).__name__}: `arch` must be one of '
                             f'{sorted(self.arch_settings)}, but got {arch!r}')
        super().__init__(
            self._stage_settings(arch),
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

    def _stage_settings(self, arch: str) -> list:
        """A copy of the stage table of ``arch`` (subclasses may edit it)."""
        return copy.deepcopy(self.arch_settings[arch])

    def build_stem_layer(self) -> nn.Module:
        """Build the 6x6 stride-2 conv stem."""
        return ConvModule(
            self.input_channels,
            make_divisible(self.arch_setting[0][0], self.widen_factor),
            kernel_size=6,
            stride=2,
            padding=2,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def build_stage_layer(self, stage_idx: int, setting: list) -> list:
        """Build one stage: downsampling conv, CSP block, optional SPPF.

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
        stage = [
            ConvModule(
                in_channels,
                out_channels,
                kernel_size=3,
                stride=2,
                padding=1,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg),
            self.build_csp_block(out_channels, num_blocks, add_identity)
        ]
        if use_spp:
            stage.append(
                SPPFBottleneck(
                    out_channels,
                    out_channels,
                    kernel_sizes=5,
                    norm_cfg=self.norm_cfg,
                    act_cfg=self.act_cfg))
        return stage

    def build_csp_block(self, channels: int, num_blocks: int,
                        add_identity: bool) -> nn.Module:
        """Build the stage's CSP block: a ``CSPLayer`` (C3) for YOLOv5."""
        return CSPLayer(
            channels,
            channels,
            num_blocks=num_blocks,
            add_identity=add_identity,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def _plugin_in_channels(self, setting: list) -> int:
        # The stage really outputs make_divisible(out, widen); the base
        # class's int(out * widen) differs for non-standard widen factors
        # (e.g. 0.33) and would give plugins the wrong channel count.
        return make_divisible(setting[1], self.widen_factor)

    def init_weights(self) -> None:
        """Initialize the parameters.

        Without ``init_cfg``, every Conv2d gets PyTorch's default
        initialization again (as in the original YOLOv5); otherwise
        ``init_cfg`` is applied.
        """
        if self.init_cfg is None:
            for m in self.modules():
                if isinstance(m, torch.nn.Conv2d):
                    m.reset_parameters()
        else:
            super().init_weights()
