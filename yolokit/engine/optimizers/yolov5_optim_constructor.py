"""The optimizer constructor of YOLOv5: three parameter groups and weight
decay adapted to the total batch size."""
import logging
from typing import List, Optional, Tuple

import torch.nn as nn
from mmengine.dist import get_world_size
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper

from yolokit.registry import (OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS,
                              OPTIMIZERS)
from yolokit.utils.errors import MissingConfigKeyError

# Normalisation layers whose scale is not decayed, as in MMYOLO 0.6.0:
# ``_NormBase`` covers BatchNorm*d, SyncBatchNorm and InstanceNorm*d.
# GroupNorm and LayerNorm weights are decayed with the conv weights; moving
# them would change the group sizes, and MMYOLO optimizer states would no
# longer load.
_NORM_TYPES = (nn.modules.batchnorm._NormBase, )


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class YOLOv5OptimizerConstructor:
    """Build the optimizer wrapper of YOLOv5.

    Parameters are split into MMYOLO's three groups, in this order (the
    :class:`~yolokit.engine.hooks.YOLOv5ParamSchedulerHook` warms up group
    2 with ``warmup_bias_lr``):

    0. the ``weight`` of every module that is not a BatchNorm-like layer
       (convolutions, linear layers, GroupNorm, ...), with the (scaled)
       ``weight_decay``;
    1. the ``weight`` of BatchNorm/SyncBatchNorm/InstanceNorm layers;
    2. the ``bias`` of every module.

    Groups 1 and 2 carry no ``weight_decay`` of their own, so they take the
    optimizer's default, as in MMYOLO: 0 for SGD and Adam (AdamW's default
    is 0.01). With the same model, the groups hold the same parameters in
    the same order as MMYOLO's, so its optimizer states load. A parameter
    that is no module's ``weight`` or ``bias`` (MMYOLO leaves it out, so it
    is never trained) is added to group 1, with a warning.

    If the optimizer config has ``batch_size_per_gpu``, it is removed from
    the config and the weight decay is adapted to the total batch size
    ``batch_size_per_gpu * world_size`` like the original YOLOv5: below
    ``base_total_batch_size`` (64) gradients would be accumulated over
    ``accumulate = max(round(64 / total), 1)`` iterations, and the decay is
    multiplied by ``total * accumulate / 64``. So a total batch size of 16
    keeps the decay (16 * 4 / 64 = 1) and 128 doubles it.

    Example:
        >>> optim_wrapper = dict(
        ...     type='OptimWrapper',
        ...     constructor='YOLOv5OptimizerConstructor',
        ...     optimizer=dict(type='SGD', lr=0.01, momentum=0.937,
        ...                    weight_decay=0.0005, nesterov=True,
        ...                    batch_size_per_gpu=16))

    Args:
        optim_wrapper_cfg (dict): The optimizer wrapper config; must contain
            ``optimizer``.
        paramwise_cfg (dict, optional): Only ``base_total_batch_size``
            (default 64) is read. Defaults to None.
    """

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None):
        if paramwise_cfg is None:
            paramwise_cfg = {'base_total_batch_size': 64}
        if 'base_total_batch_size' not in paramwise_cfg:
            # MMYOLO asserts this: an AssertionError that is a KeyError too
            raise MissingConfigKeyError(
                'YOLOv5OptimizerConstructor: `paramwise_cfg` must contain '
                f'"base_total_batch_size", got {dict(paramwise_cfg)}')
        if not isinstance(optim_wrapper_cfg, dict):
            raise TypeError('YOLOv5OptimizerConstructor: `optim_wrapper_cfg` '
                            'must be a dict, but got '
                            f'{type(optim_wrapper_cfg).__name__}')
        if 'optimizer' not in optim_wrapper_cfg:
            raise KeyError('YOLOv5OptimizerConstructor: `optim_wrapper_cfg` '
                           'must contain an "optimizer" config, got keys '
                           f'{sorted(optim_wrapper_cfg)}')
        self.optim_wrapper_cfg = optim_wrapper_cfg.copy()
        self.optimizer_cfg = self.optim_wrapper_cfg.pop('optimizer')
        self.base_total_batch_size = paramwise_cfg['base_total_batch_size']

    def _scaled_weight_decay(self, optimizer_cfg: dict,
                             weight_decay: float) -> float:
        """Pop ``batch_size_per_gpu`` and adapt ``weight_decay`` to it."""
        if 'batch_size_per_gpu' not in optimizer_cfg:
            return weight_decay
        batch_size_per_gpu = optimizer_cfg.pop('batch_size_per_gpu')
        total_batch_size = get_world_size() * batch_size_per_gpu
        accumulate = max(
            round(self.base_total_batch_size / total_batch_size), 1)
        scale_factor = (
            total_batch_size * accumulate / self.base_total_batch_size)
        if scale_factor != 1:
            weight_decay *= scale_factor
            print_log(
                f'Scaled weight_decay to {weight_decay} for the total batch '
                f'size {total_batch_size}',
                logger='current')
        return weight_decay

    @staticmethod
    def _group_parameters(
        model: nn.Module
    ) -> Tuple[List[nn.Parameter], List[nn.Parameter], List[nn.Parameter]]:
        """Split parameters into (decayed weights, norm weights, biases)."""
        weights: List[nn.Parameter] = []
        norms: List[nn.Parameter] = []
        biases: List[nn.Parameter] = []
        seen = set()

        def add(group: List[nn.Parameter], param: nn.Parameter) -> None:
            # A tied parameter must appear once: torch refuses a parameter
            # in two groups.
            if id(param) not in seen:
                seen.add(id(param))
                group.append(param)

        for module in model.modules():
            bias = getattr(module, 'bias', None)
            if isinstance(bias, nn.Parameter):
                add(biases, bias)
            weight = getattr(module, 'weight', None)
            if isinstance(weight, nn.Parameter):
                add(
                    norms if isinstance(module, _NORM_TYPES) else weights,
                    weight)
        # Parameters that are not a module's ``weight``/``bias`` (e.g. a
        # learnable scale) would otherwise never be optimized.
        stray = [(name, p) for name, p in model.named_parameters()
                 if id(p) not in seen]
        for _, param in stray:
            add(norms, param)
        if stray:
            print_log(
                f'{len(stray)} parameter(s) are no module\'s weight or bias '
                f'({", ".join(name for name, _ in stray[:5])}): they are '
                'optimized without weight decay in group 1. MMYOLO leaves '
                'them out, so its optimizer states of this model do not load.',
                logger='current',
                level=logging.WARNING)
        return weights, norms, biases

    def __call__(self, model: nn.Module) -> OptimWrapper:
        """Build the optimizer wrapper of ``model``."""
        if is_model_wrapper(model):
            model = model.module
        optimizer_cfg = self.optimizer_cfg.copy()
        weight_decay = optimizer_cfg.pop('weight_decay', 0)
        weight_decay = self._scaled_weight_decay(optimizer_cfg, weight_decay)

        weights, norms, biases = self._group_parameters(model)
        # Group 2 must be the biases: YOLOv5ParamSchedulerHook warms it up
        # with its own learning rate. `weight_decay` was popped above, so
        # groups 1 and 2 get the optimizer's default (MMYOLO's behaviour).
        optimizer_cfg['params'] = [
            dict(params=weights, weight_decay=weight_decay),
            dict(params=norms),
            dict(params=biases),
        ]
        print_log(
            f'Optimizer groups: {len(biases)} .bias, {len(weights)} '
            f'conv.weight, {len(norms)} other',
            logger='current')

        optimizer = OPTIMIZERS.build(optimizer_cfg)
        return OPTIM_WRAPPERS.build(
            self.optim_wrapper_cfg, default_args=dict(optimizer=optimizer))
