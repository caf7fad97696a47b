"""YOLOv5ParamSchedulerHook against the formulas of spec 02 §1.5.

- warm-up iterations ``W = max(round(warmup_epochs * iters_per_epoch),
  warmup_mim_iter)``;
- during warm-up (``iter <= W``), linear interpolation over ``[0, W]``:
  lr from 0 (bias group: ``warmup_bias_lr``) to ``base_lr * f(epoch)``,
  momentum from ``warmup_momentum`` to the base momentum;
- after warm-up, at each epoch end: ``lr = base_lr * f(epoch)``;
- linear ``f(x) = (1 - x / E) * (1 - lr_factor) + lr_factor``;
  cosine ``f(x) = ((1 - cos(x * pi / E)) / 2) * (lr_factor - 1) + 1``.
The expected values are computed here from those formulas.
"""
import math
from types import SimpleNamespace

import pytest
import torch.nn as nn

from yolokit.engine.hooks import YOLOv5ParamSchedulerHook
from yolokit.engine.optimizers import YOLOv5OptimizerConstructor
from yolokit.registry import HOOKS

BASE_LR = 0.01
BASE_MOMENTUM = 0.937


def linear_f(x, lr_factor, max_epochs):
    return (1 - x / max_epochs) * (1 - lr_factor) + lr_factor


def cosine_f(x, lr_factor, max_epochs):
    return ((1 - math.cos(x * math.pi / max_epochs)) / 2) * (lr_factor - 1) + 1


def interp(x, x_end, y_start, y_end):
    """Straight line from (0, y_start) to (x_end, y_end)."""
    return y_start + (y_end - y_start) * x / x_end


def _runner(iters_per_epoch):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    optim_wrapper = YOLOv5OptimizerConstructor(
        dict(
            type='OptimWrapper',
            optimizer=dict(
                type='SGD',
                lr=BASE_LR,
                momentum=BASE_MOMENTUM,
                weight_decay=0.0005,
                nesterov=True)))(
                    model)
    return SimpleNamespace(
        optim_wrapper=optim_wrapper,
        train_dataloader=[None] * iters_per_epoch,
        iter=0,
        epoch=0)


def _lrs(runner):
    return [g['lr'] for g in runner.optim_wrapper.optimizer.param_groups]


def _momentums(runner):
    return [g['momentum'] for g in runner.optim_wrapper.optimizer.param_groups]


def _step_to(hook, runner, iteration, iters_per_epoch):
    runner.iter = iteration
    runner.epoch = iteration // iters_per_epoch
    hook.before_train_iter(runner, batch_idx=iteration % iters_per_epoch)


def test_defaults_priority_and_registry():
    hook = HOOKS.build(dict(type='YOLOv5ParamSchedulerHook'))
    assert isinstance(hook, YOLOv5ParamSchedulerHook)
    # Must run before RuntimeInfoHook (VERY_HIGH = 10) logs the lr.
    assert hook.priority == 9
    assert (hook.warmup_epochs, hook.warmup_bias_lr, hook.warmup_momentum,
            hook.warmup_mim_iter, hook.lr_factor,
            hook.max_epochs) == (3, 0.1, 0.8, 1000, 0.01, 300)


@pytest.mark.parametrize(
    'iters_per_epoch, warmup_mim_iter, expected_w',
    [
        (100, 1000, 1000),  # 3 * 100 = 300 < 1000: the minimum wins
        (500, 1000, 1500),  # 3 * 500 = 1500
        (7, 1, 21),
    ])
def test_warmup_length(iters_per_epoch, warmup_mim_iter, expected_w):
    hook = YOLOv5ParamSchedulerHook(warmup_mim_iter=warmup_mim_iter)
    assert hook.warmup_iters(iters_per_epoch) == expected_w
    runner = _runner(iters_per_epoch)
    hook.before_train(runner)
    # The bias lr reaches base * f(epoch) exactly at iteration W ...
    _step_to(hook, runner, expected_w, iters_per_epoch)
    f = linear_f(runner.epoch, 0.01, 300)
    assert _lrs(runner)[2] == pytest.approx(BASE_LR * f)
    # ... and is still above it one iteration earlier (it starts at 0.1).
    _step_to(hook, runner, expected_w - 1, iters_per_epoch)
    assert _lrs(runner)[2] > BASE_LR * linear_f(runner.epoch, 0.01, 300)


@pytest.mark.parametrize('scheduler_type, f', [('linear', linear_f),
                                               ('cosine', cosine_f)])
@pytest.mark.parametrize('iteration', [0, 1, 250, 999, 1000])
def test_warmup_values(scheduler_type, f, iteration):
    iters_per_epoch = 300  # W = max(900, 1000) = 1000, spanning 4 epochs
    lr_factor, max_epochs = 0.1, 10
    hook = YOLOv5ParamSchedulerHook(
        scheduler_type=scheduler_type,
        lr_factor=lr_factor,
        max_epochs=max_epochs)
    runner = _runner(iters_per_epoch)
    hook.before_train(runner)
    _step_to(hook, runner, iteration, iters_per_epoch)

    target = BASE_LR * f(runner.epoch, lr_factor, max_epochs)
    lrs = _lrs(runner)
    assert lrs[0] == pytest.approx(interp(iteration, 1000, 0.0, target))
    assert lrs[1] == pytest.approx(interp(iteration, 1000, 0.0, target))
    assert lrs[2] == pytest.approx(interp(iteration, 1000, 0.1, target))
    expected_momentum = interp(iteration, 1000, 0.8, BASE_MOMENTUM)
    assert _momentums(runner) == pytest.approx([expected_momentum] * 3)
    # Plain floats keep NumPy types out of the checkpoint.
    assert all(type(v) is float for v in lrs + _momentums(runner))


@pytest.mark.parametrize('scheduler_type, f', [('linear', linear_f),
                                               ('cosine', cosine_f)])
def test_epoch_schedule_after_warmup(scheduler_type, f):
    iters_per_epoch, lr_factor, max_epochs = 4, 0.01, 20
    hook = YOLOv5ParamSchedulerHook(
        scheduler_type=scheduler_type,
        lr_factor=lr_factor,
        max_epochs=max_epochs,
        warmup_epochs=1,
        warmup_mim_iter=2)  # W = max(4, 2) = 4
    runner = _runner(iters_per_epoch)
    hook.before_train(runner)

    # Epoch 0 ends inside the warm-up: the epoch update is skipped.
    _step_to(hook, runner, 3, iters_per_epoch)
    during_warmup = _lrs(runner)
    hook.after_train_epoch(runner)
    assert _lrs(runner) == during_warmup

    # Iterations after W leave the lr alone ...
    _step_to(hook, runner, 4, iters_per_epoch)  # last warm-up iteration
    _step_to(hook, runner, 5, iters_per_epoch)
    assert _lrs(runner) == pytest.approx(
        [BASE_LR * f(1, lr_factor, max_epochs)] * 3)
    # ... and every epoch end sets base_lr * f(epoch) for all groups.
    for epoch in (1, 7, 19):
        runner.epoch = epoch
        runner.iter = (epoch + 1) * iters_per_epoch
        hook.after_train_epoch(runner)
        assert _lrs(runner) == pytest.approx(
            [BASE_LR * f(epoch, lr_factor, max_epochs)] * 3)
    # The momentum stays at its base value after the warm-up.
    assert _momentums(runner) == pytest.approx([BASE_MOMENTUM] * 3)


def test_resume_keeps_the_base_lr():
    iters_per_epoch, max_epochs = 2, 10
    kwargs = dict(max_epochs=max_epochs, warmup_epochs=1, warmup_mim_iter=1)
    hook = YOLOv5ParamSchedulerHook(**kwargs)
    runner = _runner(iters_per_epoch)
    hook.before_train(runner)
    for it in range(6):
        _step_to(hook, runner, it, iters_per_epoch)
        if it % iters_per_epoch == iters_per_epoch - 1:
            hook.after_train_epoch(runner)
    saved = runner.optim_wrapper.state_dict()
    lr_at_save = _lrs(runner)
    assert lr_at_save[0] == pytest.approx(BASE_LR * linear_f(2, 0.01, 10))

    # A new run: fresh optimizer (lr = BASE_LR), then the resumed state.
    resumed = _runner(iters_per_epoch)
    resumed.optim_wrapper.load_state_dict(saved)
    resumed.iter, resumed.epoch = 6, 3
    new_hook = YOLOv5ParamSchedulerHook(**kwargs)
    new_hook.before_train(resumed)
    _step_to(new_hook, resumed, 6, iters_per_epoch)
    # Past the warm-up, the restored (decayed) lr is kept ...
    assert _lrs(resumed) == pytest.approx(lr_at_save)
    # ... and the schedule continues from the original base lr, not from
    # the decayed lr the optimizer was saved with.
    new_hook.after_train_epoch(resumed)
    assert _lrs(resumed) == pytest.approx([BASE_LR * linear_f(3, 0.01, 10)] *
                                          3)


def test_bad_arguments():
    with pytest.raises(ValueError, match='scheduler_type'):
        YOLOv5ParamSchedulerHook(scheduler_type='step')
    with pytest.raises(ValueError, match='max_epochs'):
        YOLOv5ParamSchedulerHook(max_epochs=0)
