"""The learning-rate and momentum schedule of YOLOv5."""
import math
from typing import Callable, Dict, Optional

import numpy as np
from mmengine.hooks import ParamSchedulerHook
from mmengine.runner import Runner

from yolokit.registry import HOOKS


def linear_fn(epoch: float, lr_factor: float, max_epochs: int) -> float:
    """Linear decay from 1 at epoch 0 to ``lr_factor`` at ``max_epochs``."""
    return (1 - epoch / max_epochs) * (1.0 - lr_factor) + lr_factor


def cosine_fn(epoch: float, lr_factor: float, max_epochs: int) -> float:
    """Cosine decay from 1 at epoch 0 to ``lr_factor`` at ``max_epochs``."""
    return (
        (1 - math.cos(epoch * math.pi / max_epochs)) / 2) * (lr_factor - 1) + 1


@HOOKS.register_module()
class YOLOv5ParamSchedulerHook(ParamSchedulerHook):
    """Drive the per-group learning rate and momentum like YOLOv5.

    It expects the three parameter groups of
    :class:`~yolokit.engine.optimizers.YOLOv5OptimizerConstructor` (the bias
    group last) and replaces MMEngine's ``param_scheduler`` (set that to
    ``None``).

    - Warm-up, per iteration, for the first
      ``max(round(warmup_epochs * iters_per_epoch), warmup_mim_iter)``
      iterations: each group's lr is linearly interpolated (``np.interp``)
      from 0 (the bias group: from ``warmup_bias_lr``) to
      ``base_lr * f(epoch)``, and the momentum from ``warmup_momentum`` to
      the base momentum.
    - After the warm-up, at the end of every epoch: ``lr = base_lr *
      f(epoch)`` where ``f`` is linear, ``(1 - x / E) * (1 - lr_factor) +
      lr_factor``, or cosine, ``((1 - cos(pi * x / E)) / 2) * (lr_factor -
      1) + 1``, with ``E = max_epochs``.

    The base values are kept in the optimizer's param groups
    (``initial_lr``, ``initial_momentum``), so they are saved with the
    optimizer state and a resumed run continues the same schedule.

    Args:
        scheduler_type (str): ``'linear'`` or ``'cosine'``.
            Defaults to 'linear'.
        lr_factor (float): Final lr as a fraction of the base lr.
            Defaults to 0.01.
        max_epochs (int): Length of the decay, in epochs. Defaults to 300.
        warmup_epochs (int): Warm-up length in epochs. Defaults to 3.
        warmup_bias_lr (float): lr of the bias group at iteration 0.
            Defaults to 0.1.
        warmup_momentum (float): Momentum at iteration 0. Defaults to 0.8.
        warmup_mim_iter (int): Minimum number of warm-up iterations (the
            name keeps MMYOLO's spelling). Defaults to 1000.
    """
    priority = 9

    scheduler_maps: Dict[str, Callable] = {
        'linear': linear_fn,
        'cosine': cosine_fn
    }

    def __init__(self,
                 scheduler_type: str = 'linear',
                 lr_factor: float = 0.01,
                 max_epochs: int = 300,
                 warmup_epochs: int = 3,
                 warmup_bias_lr: float = 0.1,
                 warmup_momentum: float = 0.8,
                 warmup_mim_iter: int = 1000,
                 **kwargs):
        if scheduler_type not in self.scheduler_maps:
            raise ValueError(
                f'YOLOv5ParamSchedulerHook: scheduler_type must be one of '
                f'{sorted(self.scheduler_maps)}, but got {scheduler_type!r}')
        if max_epochs <= 0:
            raise ValueError('YOLOv5ParamSchedulerHook: max_epochs must be '
                             f'positive, but got {max_epochs}')
        self.scheduler_type = scheduler_type
        self.warmup_epochs = warmup_epochs
        self.warmup_bias_lr = warmup_bias_lr
        self.warmup_momentum = warmup_momentum
        self.warmup_mim_iter = warmup_mim_iter
        self.lr_factor = lr_factor
        self.max_epochs = max_epochs
        self._scheduler_kwargs = dict(
            kwargs, lr_factor=lr_factor, max_epochs=max_epochs)
        self._warmup_end = False
        self._base_lr: Optional[list] = None
        self._base_momentum: Optional[list] = None

    def scheduler_fn(self, epoch: float) -> float:
        """The lr multiplier ``f(epoch)`` of the configured schedule."""
        return self.scheduler_maps[self.scheduler_type](
            epoch, **self._scheduler_kwargs)

    def warmup_iters(self, iters_per_epoch: int) -> int:
        """Number of warm-up iterations for ``iters_per_epoch``."""
        return max(
            round(self.warmup_epochs * iters_per_epoch), self.warmup_mim_iter)

    def before_train(self, runner: Runner) -> None:
        """Record each group's base lr and momentum.

        ``setdefault`` keeps values restored by a resumed optimizer state,
        whose current lr is already a scheduled one.
        """
        optimizer = runner.optim_wrapper.optimizer
        for group in optimizer.param_groups:
            group.setdefault('initial_lr', group['lr'])
            group.setdefault('initial_momentum', group.get('momentum', -1))
        self._base_lr = [g['initial_lr'] for g in optimizer.param_groups]
        self._base_momentum = [
            g['initial_momentum'] for g in optimizer.param_groups
        ]
        # A resumed run may start after the warm-up.
        self._warmup_end = runner.iter > self.warmup_iters(
            len(runner.train_dataloader))

    def before_train_iter(self,
                          runner: Runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        """Warm up lr and momentum, iteration by iteration."""
        cur_iter = runner.iter
        cur_epoch = runner.epoch
        optimizer = runner.optim_wrapper.optimizer
        warmup_total_iters = self.warmup_iters(len(runner.train_dataloader))
        if cur_iter > warmup_total_iters:
            self._warmup_end = True
            return

        xp = [0, warmup_total_iters]
        lr_scale = self.scheduler_fn(cur_epoch)
        for group_idx, group in enumerate(optimizer.param_groups):
            start_lr = self.warmup_bias_lr if group_idx == 2 else 0.0
            # Plain floats: NumPy scalars in the optimizer state would need
            # extra allow-listing to load the checkpoint safely.
            group['lr'] = float(
                np.interp(cur_iter, xp,
                          [start_lr, self._base_lr[group_idx] * lr_scale]))
            if 'momentum' in group:
                group['momentum'] = float(
                    np.interp(
                        cur_iter, xp,
                        [self.warmup_momentum, self._base_momentum[group_idx]
                         ]))

    def after_train_epoch(self, runner: Runner) -> None:
        """After the warm-up, set every group's lr for the next epoch."""
        if not self._warmup_end:
            return
        lr_scale = self.scheduler_fn(runner.epoch)
        optimizer = runner.optim_wrapper.optimizer
        for group_idx, group in enumerate(optimizer.param_groups):
            group['lr'] = self._base_lr[group_idx] * lr_scale
