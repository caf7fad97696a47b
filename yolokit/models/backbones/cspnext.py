"""CSPNeXt backbone of RTMDet (3-conv stem, CSPNeXt blocks, SPPF)."""
import copy
import math
from typing import List, Optional, Sequence, Union

import torch.nn as nn
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmdet.models.layers import CSPLayer
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig

from yolokit.registry import MODELS
from ..layers import SPPFBottleneck
from .base_backbone import BaseBackbone


@MODELS.register_module()
class CSPNeXt(BaseBackbone):
    """CSPNeXt backbone used in RTMDet.

    Stem: three 3x3 convs (the first with stride 2). Each stage: a 3x3
    stride-2 conv, an :class:`SPPFBottleneck` on the stage flagged
    ``use_spp`` (the last one), then mmdet's ``CSPLayer`` built with
    ``use_cspnext_block=True`` (CSPNeXt blocks: 3x3 conv followed by a 5x5
    depth-wise separable conv) and optional channel attention. Channels scale
    as ``int(c * widen_factor)`` and block counts as
    ``max(round(n * deepen_factor), 1)``.

    Args:
        arch (str): ``'P5'`` (outputs at strides 8/16/32) or ``'P6'`` (one
            more stage, up to stride 64). Defaults to ``'P5'``.
        deepen_factor (float): Block-count multiplier. Defaults to 1.0.
        widen_factor (float): Channel multiplier. Defaults to 1.0.
        input_channels (int): Channels of the input image. Defaults to 3.
        out_indices (Sequence[int]): Outputs to return (0 = stem).
            Defaults to (2, 3, 4).
        frozen_stages (int): Freeze the stem and stages 1..k; -1 freezes
            nothing. Defaults to -1.
        plugins (dict | list[dict], optional): Stage plugins, see
            :meth:`BaseBackbone.make_stage_plugins`. Defaults to None.
        use_depthwise (bool): Use depth-wise separable convs for the
            downsampling convs and inside the CSP layers. Defaults to False.
        expand_ratio (float): Hidden-channel ratio of the CSP layers.
            Defaults to 0.5.
        arch_ovewrite (list, optional): Replaces the arch table; one
            ``[in, out, num_blocks, add_identity, use_spp]`` entry per stage.
            (The misspelling is MMYOLO's API.) Defaults to None.
        channel_attention (bool): Add channel attention to each CSP layer.
            Defaults to True.
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation config.
            Defaults to ``dict(type='SiLU', inplace=True)``.
        norm_eval (bool): Keep BatchNorm layers in eval mode during
            training. Defaults to False.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to Kaiming-uniform (``a=sqrt(5)``, fan_in) on Conv2d,
            i.e. PyTorch's default conv initialization.

    Example:
        >>> import torch
        >>> from yolokit.models import CSPNeXt
        >>> model = CSPNeXt().eval()
        >>> for out in model(torch.rand(1, 3, 416, 416)):
        ...     print(tuple(out.shape))
        (1, 256, 52, 52)
        (1, 512, 26, 26)
        (1, 1024, 13, 13)
    """
    # Per stage: in_channels, out_channels, num_blocks, add_identity, use_spp
    arch_settings = {
        'P5': [[64, 128, 3, True, False], [128, 256, 6, True, False],
               [256, 512, 6, True, False], [512, 1024, 3, False, True]],
        'P6': [[64, 128, 3, True, False], [128, 256, 6, True, False],
               [256, 512, 6, True, False], [512, 768, 3, True, False],
               [768, 1024, 3, False, True]]
    }

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
        if arch_ovewrite:
            arch_setting = _check_arch_ovewrite(arch_ovewrite)
        elif arch in self.arch_settings:
            arch_setting = copy.deepcopy(self.arch_settings[arch])
        else:
            raise ValueError(f'CSPNeXt: `arch` must be one of '
                             f'{sorted(self.arch_settings)}, but got {arch!r}')
        # read by the build_*_layer methods that the base __init__ calls
        self.channel_attention = channel_attention
        self.use_depthwise = use_depthwise
        self.conv = DepthwiseSeparableConvModule \
            if use_depthwise else ConvModule
        self.expand_ratio = expand_ratio
        self.conv_cfg = conv_cfg
        super().__init__(
            arch_setting,
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
        """Build the stem: three 3x3 convs, the first one with stride 2."""
        stem_channels = int(self.arch_setting[0][0] * self.widen_factor)
        mid_channels = int(self.arch_setting[0][0] * self.widen_factor // 2)
        return nn.Sequential(
            ConvModule(
                self.input_channels,
                mid_channels,
                3,
                padding=1,
                stride=2,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg),
            ConvModule(
                mid_channels,
                mid_channels,
                3,
                padding=1,
                stride=1,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg),
            ConvModule(
                mid_channels,
                stem_channels,
                3,
                padding=1,
                stride=1,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg))

    def build_stage_layer(self, stage_idx: int, setting: list) -> list:
        """Build one stage: downsampling conv, optional SPPF, CSP layer.

        Args:
            stage_idx (int): Index of the stage (0-based).
            setting (list): ``[in, out, num_blocks, add_identity, use_spp]``.

        Returns:
            list[nn.Module]: The stage's layers.
        """
        in_channels, out_channels, num_blocks, add_identity, use_spp = setting
        in_channels = int(in_channels * self.widen_factor)
        out_channels = int(out_channels * self.widen_factor)
        num_blocks = max(round(num_blocks * self.deepen_factor), 1)

        stage = [
            self.conv(
                in_channels,
                out_channels,
                3,
                stride=2,
                padding=1,
                conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg)
        ]
        if use_spp:
            stage.append(
                SPPFBottleneck(
                    out_channels,
                    out_channels,
                    kernel_sizes=5,
                    conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg,
                    act_cfg=self.act_cfg))
        stage.append(
            CSPLayer(
                out_channels,
                out_channels,
                num_blocks=num_blocks,
                add_identity=add_identity,
                use_depthwise=self.use_depthwise,
                use_cspnext_block=True,
                expand_ratio=self.expand_ratio,
                channel_attention=self.channel_attention,
                conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg))
        return stage


def _check_arch_ovewrite(arch_ovewrite: list) -> list:
    """Validate a user arch table and return a copy of it."""
    if not isinstance(arch_ovewrite, (list, tuple)):
        raise TypeError('CSPNeXt: arch_ovewrite must be a list of '
                        '[in_channels, out_channels, num_blocks, add_identity, '
                        f'use_spp] entries, but got {arch_ovewrite!r}')
    for i, setting in enumerate(arch_ovewrite):
        if not isinstance(setting, (list, tuple)) or len(setting) != 5:
            raise ValueError(
                f'CSPNeXt: arch_ovewrite[{i}] must be [in_channels, '
                'out_channels, num_blocks, add_identity, use_spp], but got '
                f'{setting!r}')
    return [list(setting) for setting in arch_ovewrite]
