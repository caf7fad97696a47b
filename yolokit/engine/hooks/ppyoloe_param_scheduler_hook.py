"""PP-YOLOE learning-rate schedule: linear warm-up, then cosine decay.

With ``L`` iterations per epoch, ``W = max(round(warmup_epochs * L),
warmup_min_iter)`` warm-up iterations and ``T = total_epochs * L``, the lr
of a parameter group with base lr ``b`` and floor ``m = b * min_lr_ratio``
at iteration ``i`` is::

    i <= W:  b * (start_factor * (1 - i / W) + i / W)
    i >  W:  m + (b - m) * (1 + cos(pi * (i - W) / (T - W))) / 2

``W`` depends on the dataloader length, which a static ParamScheduler
config cannot express; hence a hook. Momentum is left alone.
"""
import math
from typing import List, Optional

from mmengine.hooks import ParamSchedulerHook

from yolokit.registry import HOOKS


def warmup_lr(base_lr: float, start_factor: float, it: int,
              warmup_iters: int) -> float:
    """Linear ramp from ``start_factor * base_lr`` (it 0) to ``base_lr``."""
    progress = it / warmup_iters
    return base_lr * (start_factor * (1 - progress) + progress)


def cosine_lr(base_lr: float, min_lr: float, it: int, warmup_iters: int,
              total_iters: int) -> float:
    """Half cosine from ``base_lr`` (end of warm-up) to ``min_lr``."""
    phase = (it - warmup_iters) / (total_iters - warmup_iters)
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi *
                                                                phase))


@HOOKS.register_module()
class PPYOLOEParamSchedulerHook(ParamSchedulerHook):
    """Sets each group's lr before every training iteration (see module
    docstring for the formulas).

    Args:
        warmup_min_iter (int): Lower bound of the warm-up length in
            iterations. Defaults to 1000.
        start_factor (float): lr factor at iteration 0. Defaults to 0.
        warmup_epochs (int): Warm-up length in epochs. Defaults to 5.
        min_lr_ratio (float): Final lr as a fraction of the base lr.
            Defaults to 0.
        total_epochs (int): Length of the cosine schedule in epochs; the
            PP-YOLOE configs use 1.2 x the training epochs so the lr never
            reaches the floor. Defaults to 360.
    """
    priority = 9

    def __init__(self,
                 warmup_min_iter: int = 1000,
                 start_factor: float = 0.,
                 warmup_epochs: int = 5,
                 min_lr_ratio: float = 0.0,
                 total_epochs: int = 360):
        self.warmup_min_iter = warmup_min_iter
        self.start_factor = start_factor
        self.warmup_epochs = warmup_epochs
        self.min_lr_ratio = min_lr_ratio
        self.total_epochs = total_epochs
        self._base_lr: Optional[List[float]] = None
        self._min_lr: Optional[List[float]] = None

    def before_train(self, runner) -> None:
        """Record each group's base lr (``initial_lr`` when resuming)."""
        groups = runner.optim_wrapper.optimizer.param_groups
        for group in groups:
            group.setdefault('initial_lr', group['lr'])
        self._base_lr = [group['initial_lr'] for group in groups]
        self._min_lr = [lr * self.min_lr_ratio for lr in self._base_lr]

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        if self._base_lr is None:
            raise RuntimeError('PPYOLOEParamSchedulerHook: before_train must '
                               'run before before_train_iter')
        it = runner.iter
        iters_per_epoch = len(runner.train_dataloader)
        warmup_iters = max(
            round(self.warmup_epochs * iters_per_epoch),
            self.warmup_min_iter)
        total_iters = self.total_epochs * iters_per_epoch
        groups = runner.optim_wrapper.optimizer.param_groups
        for group, base, floor in zip(groups, self._base_lr, self._min_lr):
            if it <= warmup_iters:
                group['lr'] = warmup_lr(base, self.start_factor, it,
                                        warmup_iters)
            else:
                group['lr'] = cosine_lr(base, floor, it, warmup_iters,
                                        total_iters)
