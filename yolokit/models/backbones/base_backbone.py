"""Abstract stem + N-stage backbone shared by the YOLO series."""
from abc import ABCMeta, abstractmethod
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_plugin_layer
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from mmengine.registry import DefaultScope
from torch.nn.modules.batchnorm import _BatchNorm

from yolokit.registry import MODELS


@MODELS.register_module()
class BaseBackbone(BaseModule, metaclass=ABCMeta):
    """Backbone made of a stem layer followed by stage layers.

    .. code:: text

        input -> stem -> stage1 -> stage2 -> ... -> stageN
        (N = 4 for P5 models, 5 for P6 models)

    Children are registered as ``stem`` and ``stage1`` ... ``stageN`` (each
    stage an ``nn.Sequential`` of the layers from :meth:`build_stage_layer`,
    followed by its plugins); ``self.layers`` lists those names in order.
    Output index 0 is the stem, index i the i-th stage.

    Args:
        arch_setting (list): One architecture entry per stage.
        deepen_factor (float): Multiplier of the number of blocks per stage.
            Defaults to 1.0.
        widen_factor (float): Multiplier of the channels. Defaults to 1.0.
        input_channels (int): Channels of the input image. Defaults to 3.
        out_indices (Sequence[int]): Indices of the layers whose outputs are
            returned, within ``range(len(arch_setting) + 1)``.
            Defaults to (2, 3, 4).
        frozen_stages (int): Freeze (eval mode, no gradient) the stem and
            stages 1..``frozen_stages``; 0 freezes the stem only, -1 nothing.
            Defaults to -1.
        plugins (dict | list[dict], optional): Plugins appended to stages.
            Each dict holds ``cfg`` (the plugin config) and optionally
            ``stages`` (a bool per stage; missing means every stage).
            Defaults to None.
        norm_cfg (dict, optional): Norm layer config. Defaults to None.
        act_cfg (dict, optional): Activation config. Defaults to None.
        norm_eval (bool): Keep every BatchNorm in eval mode (frozen running
            statistics) even in training mode. Defaults to False.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.
    """

    def __init__(self,
                 arch_setting: list,
                 deepen_factor: float = 1.0,
                 widen_factor: float = 1.0,
                 input_channels: int = 3,
                 out_indices: Sequence[int] = (2, 3, 4),
                 frozen_stages: int = -1,
                 plugins: Optional[Union[dict, List[dict]]] = None,
                 norm_cfg: ConfigType = None,
                 act_cfg: ConfigType = None,
                 norm_eval: bool = False,
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg)
        self.num_stages = len(arch_setting)
        self.arch_setting = arch_setting

        valid_indices = range(len(arch_setting) + 1)
        assert set(out_indices).issubset(valid_indices), (
            f'"out_indices" must be a subset of range(0, '
            f'{len(arch_setting) + 1}) (0 is the stem, i the i-th of '
            f'{len(arch_setting)} stages). But received {out_indices}')

        if frozen_stages not in range(-1, len(arch_setting) + 1):
            raise ValueError('"frozen_stages" must be in range(-1, '
                             'len(arch_setting) + 1). But received '
                             f'{frozen_stages}')

        self.input_channels = input_channels
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.widen_factor = widen_factor
        self.deepen_factor = deepen_factor
        self.norm_eval = norm_eval
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        self.plugins = plugins

        self.stem = self.build_stem_layer()
        self.layers = ['stem']

        for idx, setting in enumerate(arch_setting):
            stage = list(self.build_stage_layer(idx, setting))
            if plugins is not None:
                stage += self.make_stage_plugins(plugins, idx, setting)
            self.add_module(f'stage{idx + 1}', nn.Sequential(*stage))
            self.layers.append(f'stage{idx + 1}')

    @abstractmethod
    def build_stem_layer(self) -> nn.Module:
        """Build the stem layer."""

    @abstractmethod
    def build_stage_layer(self, stage_idx: int, setting: list) -> list:
        """Build the layers of one stage.

        Args:
            stage_idx (int): Index of the stage (0-based).
            setting (list): The stage's entry of ``arch_setting``.

        Returns:
            list[nn.Module]: The stage's layers, in order.
        """

    def _plugin_in_channels(self, setting: list) -> int:
        """Channels fed to a plugin appended to a stage with ``setting``."""
        return int(setting[1] * self.widen_factor)

    def make_stage_plugins(self, plugins: Union[dict, List[dict]],
                           stage_idx: int, setting: list) -> List[nn.Module]:
        """Build the plugins that go after the blocks of one stage.

        Example:
            >>> plugins = [
            ...     dict(cfg=dict(type='xxx', arg1='xxx'),
            ...          stages=(False, True, True, True)),
            ...     dict(cfg=dict(type='yyy'),
            ...          stages=(True, True, True, True)),
            ... ]

            Stage 0 becomes ``conv1 -> conv2 -> conv3 -> yyy`` and stage 1
            ``conv1 -> conv2 -> conv3 -> xxx -> yyy``. Plugins without
            ``stages`` go into every stage.

        Args:
            plugins (dict | list[dict]): Plugin entries, each with ``cfg``
                and optional ``stages`` (one bool per stage).
            stage_idx (int): Index of the stage (0-based).
            setting (list): The stage's entry of ``arch_setting``; its output
                channels give the plugins' ``in_channels``.

        Returns:
            list[nn.Module]: The plugins of this stage, in config order.
        """
        if isinstance(plugins, dict):
            plugins = [plugins]
        in_channels = self._plugin_in_channels(setting)
        plugin_layers = []
        for i, plugin in enumerate(plugins):
            if not isinstance(plugin, dict) or 'cfg' not in plugin:
                raise TypeError(
                    f'plugins[{i}] must be a dict with a "cfg" key (and '
                    f'optionally "stages"), but got {plugin!r}')
            plugin = plugin.copy()
            stages = plugin.pop('stages', None)
            assert stages is None or len(stages) == self.num_stages, (
                f'plugins[{i}]["stages"] must have one entry per stage '
                f'({self.num_stages}), but got {stages}')
            if stages is None or stages[stage_idx]:
                plugin_layers.append(
                    self._build_plugin(plugin['cfg'], in_channels))
        return plugin_layers

    @staticmethod
    def _build_plugin(cfg: dict, in_channels: int) -> nn.Module:
        # mmcv resolves plugin types in the registry of the current default
        # scope. Without any scope (yolokit used as a plain library) it would
        # only search mmcv/mmengine and miss yolokit plugins such as CBAM.
        scope = (None if DefaultScope.get_current_instance() is not None else
                 'yolokit')
        with DefaultScope.overwrite_default_scope(scope):
            _, layer = build_plugin_layer(cfg, in_channels=in_channels)
        return layer

    def _freeze_stages(self) -> None:
        """Put the stem and the first ``frozen_stages`` stages in eval mode
        and stop their gradients."""
        if self.frozen_stages >= 0:
            for i in range(self.frozen_stages + 1):
                m = getattr(self, self.layers[i])
                m.eval()
                for param in m.parameters():
                    param.requires_grad = False

    def train(self, mode: bool = True) -> 'BaseBackbone':
        """Set training mode, keeping frozen stages (and, with
        ``norm_eval``, all BatchNorm layers) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def forward(self, x: torch.Tensor) -> tuple:
        """Run the stem and all stages.

        Args:
            x (Tensor): Batch of images from the data preprocessor.

        Returns:
            tuple[Tensor]: Outputs of the layers listed in ``out_indices``.
        """
        outs = []
        for i, layer_name in enumerate(self.layers):
            x = getattr(self, layer_name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
