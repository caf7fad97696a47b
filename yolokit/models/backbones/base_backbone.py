"""Abstract stem + N-stage backbone shared by the YOLO series."""
from abc import ABCMeta, abstractmethod
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_plugin_layer
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from mmengine.registry import DefaultScope
from torch.nn.modules.batchnorm import _BatchNorm

from yolokit.registry import MODELS
from yolokit.utils.errors import PlainMessageKeyError


class BackboneArgumentError(ValueError, AssertionError):
    """A backbone argument outside its allowed values.

    MMYOLO raises ``ValueError`` for ``frozen_stages`` and fails an assert
    for ``out_indices`` and plugin ``stages``; this class is both, so code
    catching either keeps working.
    """


class UnknownArchError(PlainMessageKeyError, ValueError):
    """``arch`` names no row set of ``arch_settings``; a ``KeyError`` like
    MMYOLO's dict look-up."""


class PluginEntryError(PlainMessageKeyError, TypeError):
    """A ``plugins`` entry that is not a dict with a ``cfg`` key; MMYOLO
    fails on ``plugin['cfg']`` with a ``KeyError``."""


class StagePlugin(NamedTuple):
    """One checked ``plugins`` entry."""
    cfg: dict
    stages: Optional[Tuple[bool, ...]]  # one flag per stage; None: all

    def applies_to(self, stage_idx: int) -> bool:
        return self.stages is None or bool(self.stages[stage_idx])


def layer_names(num_stages: int) -> List[str]:
    """``['stem', 'stage1', ..., 'stageN']``.

    These child names are the first part of every state_dict key of a
    MMYOLO backbone checkpoint (``stage2.1.blocks.0.conv1.conv.weight``).
    """
    return ['stem'] + [f'stage{i}' for i in range(1, num_stages + 1)]


def check_out_indices(out_indices: Sequence[int], num_stages: int) -> None:
    """Each index must name a layer: 0 is the stem, i the i-th stage."""
    allowed = range(num_stages + 1)
    if not set(out_indices) <= set(allowed):
        raise BackboneArgumentError(
            f'out_indices must be a subset of range(0, {num_stages + 1}) '
            f'(0 is the stem, i the i-th of {num_stages} stages), but got '
            f'{tuple(out_indices)}')


def check_frozen_stages(frozen_stages: int, num_stages: int) -> None:
    """-1 freezes nothing, k freezes the stem and stages 1..k."""
    if frozen_stages not in range(-1, num_stages + 1):
        raise BackboneArgumentError(
            f'frozen_stages must be in range(-1, {num_stages + 1}) (-1: '
            'nothing, 0: the stem, k: the stem and stages 1..k), but got '
            f'{frozen_stages!r}')


def parse_plugins(plugins: Union[None, dict, Sequence[dict]],
                  num_stages: int) -> List[StagePlugin]:
    """Check the ``plugins`` argument and return its entries in order."""
    entries = [plugins] if isinstance(plugins, dict) else list(plugins or [])
    parsed = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or 'cfg' not in entry:
            raise PluginEntryError(
                f'plugins[{i}] must be a dict with a "cfg" key (and '
                f'optionally "stages"), but got {entry!r}')
        stages = entry.get('stages')
        if stages is not None and len(stages) != num_stages:
            raise BackboneArgumentError(
                f'plugins[{i}]["stages"] must have one entry per stage '
                f'({num_stages}), but got {stages!r}')
        parsed.append(
            StagePlugin(entry['cfg'],
                        None if stages is None else tuple(stages)))
    return parsed


def build_plugin(cfg: dict, in_channels: int) -> nn.Module:
    """Build one plugin with mmcv, finding yolokit's plugins too."""
    # mmcv looks plugin types up in the registry of the current default
    # scope. Without any scope (yolokit used as a plain library) it would
    # only search mmcv/mmengine and miss yolokit plugins such as CBAM.
    has_scope = DefaultScope.get_current_instance() is not None
    scope = None if has_scope else 'yolokit'
    with DefaultScope.overwrite_default_scope(scope):
        _, layer = build_plugin_layer(cfg, in_channels=in_channels)
    return layer


def freeze(module: nn.Module) -> None:
    """Eval mode and no gradients for ``module`` and all it contains."""
    module.eval()
    for param in module.parameters():
        param.requires_grad = False


@MODELS.register_module()
class BaseBackbone(BaseModule, metaclass=ABCMeta):
    """A stem followed by ``N = len(arch_setting)`` stages.

    .. code:: text

        layer   0      1         2                N
        image -> stem -> stage1 -> stage2 -> ... -> stageN
                 (N = 4 for P5 models, 5 for P6 models)

    In the YOLO backbones every layer halves the resolution, so layer ``i``
    has stride ``2 ** (i + 1)``: the default ``out_indices=(2, 3, 4)`` of a
    P5 model returns strides 8, 16 and 32. Each stage is an
    ``nn.Sequential`` of the layers :meth:`build_stage_layer` returns,
    followed by that stage's plugins; ``self.layers`` holds the child names
    (:func:`layer_names`).

    Args:
        arch_setting (list): One entry per stage, handed to
            :meth:`build_stage_layer`; entry ``[1]`` is the stage's output
            channels before widening.
        deepen_factor (float): Multiplier of the number of blocks per stage.
            Defaults to 1.0.
        widen_factor (float): Multiplier of the channels. Defaults to 1.0.
        input_channels (int): Channels of the input image. Defaults to 3.
        out_indices (Sequence[int]): Layers whose outputs are returned, a
            subset of ``range(N + 1)`` (0 is the stem). Defaults to
            (2, 3, 4).
        frozen_stages (int): Keep the stem and stages 1..``frozen_stages``
            in eval mode without gradients; 0 freezes the stem only, -1
            nothing. Defaults to -1.
        plugins (dict | list[dict], optional): Layers appended to stages,
            each ``dict(cfg=<plugin config>, stages=<one bool per stage>)``;
            without ``stages`` the plugin goes into every stage. Defaults to
            None.
        norm_cfg (dict, optional): Norm layer config. Defaults to None.
        act_cfg (dict, optional): Activation config. Defaults to None.
        norm_eval (bool): Keep every BatchNorm in eval mode (frozen running
            statistics) even in training mode. Defaults to False.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.

    Raises:
        BackboneArgumentError: ``out_indices``, ``frozen_stages`` or a
            plugin's ``stages`` do not fit the number of stages.
        PluginEntryError: A ``plugins`` entry has no ``cfg``.
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
        num_stages = len(arch_setting)
        check_out_indices(out_indices, num_stages)
        check_frozen_stages(frozen_stages, num_stages)
        stage_plugins = parse_plugins(plugins, num_stages)

        self.num_stages, self.arch_setting = num_stages, arch_setting
        self.widen_factor, self.deepen_factor = widen_factor, deepen_factor
        self.input_channels = input_channels
        self.norm_cfg, self.act_cfg = norm_cfg, act_cfg
        self.out_indices, self.frozen_stages = out_indices, frozen_stages
        self.norm_eval, self.plugins = norm_eval, plugins

        self.layers = layer_names(num_stages)
        self.stem = self.build_stem_layer()
        for idx, setting in enumerate(arch_setting):
            stage = self._build_stage(idx, setting, stage_plugins)
            self.add_module(self.layers[idx + 1], stage)

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

    def _build_stage(self, stage_idx: int, setting: list,
                     plugins: List[StagePlugin]) -> nn.Sequential:
        """The stage's layers, then the plugins that apply to it."""
        blocks = list(self.build_stage_layer(stage_idx, setting))
        blocks += self._build_stage_plugins(plugins, stage_idx, setting)
        return nn.Sequential(*blocks)

    def _stage_out_channels(self, setting: list) -> int:
        """Channels a stage built from ``setting`` outputs (the plugins'
        ``in_channels``); backbones with another width rule override it."""
        return int(setting[1] * self.widen_factor)

    def _build_stage_plugins(self, plugins: List[StagePlugin], stage_idx: int,
                             setting: list) -> List[nn.Module]:
        in_channels = self._stage_out_channels(setting)
        return [
            build_plugin(plugin.cfg, in_channels) for plugin in plugins
            if plugin.applies_to(stage_idx)
        ]

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

            Stage 0 then ends with ``yyy``, stage 1 with ``xxx -> yyy``.
            Plugins without ``stages`` go into every stage; two plugins of
            one type in a stage need distinct ``postfix`` values.

        Args:
            plugins (dict | list[dict]): Plugin entries, each with ``cfg``
                and optional ``stages`` (one bool per stage).
            stage_idx (int): Index of the stage (0-based).
            setting (list): The stage's entry of ``arch_setting``; its output
                channels give the plugins' ``in_channels``.

        Returns:
            list[nn.Module]: The plugins of this stage, in config order.
        """
        return self._build_stage_plugins(
            parse_plugins(plugins, self.num_stages), stage_idx, setting)

    def _freeze_stages(self) -> None:
        """Freeze the stem and stages 1..``frozen_stages``."""
        for name in self.layers[:self.frozen_stages + 1]:
            freeze(getattr(self, name))

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
        """Run the stem and every stage on images (B, C, H, W).

        Returns:
            tuple[Tensor]: The outputs of the layers in ``out_indices``, in
            layer order; layer ``i`` of the YOLO backbones is
            (B, C_i, H / 2 ** (i + 1), W / 2 ** (i + 1)).
        """
        feats = []
        for name in self.layers:
            x = getattr(self, name)(x)
            feats.append(x)
        return tuple(feats[i] for i in sorted(set(self.out_indices)))
