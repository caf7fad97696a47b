"""PPYOLOEParamSchedulerHook against hand-computed lrs.

Formulas (MMYOLO 0.6.0 / PaddleDetection): warm-up length
``W = max(round(warmup_epochs * L), warmup_min_iter)``; for ``i <= W`` the
lr is ``b * (s * (1 - i / W) + i / W)``; afterwards
``m + (b - m) * (1 + cos(pi * (i - W) / (T - W))) / 2`` with
``T = total_epochs * L`` and ``m = b * min_lr_ratio``. Every expected value
below is worked out by hand in its comment.
"""
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from yolokit.registry import HOOKS


def _runner(iters_per_epoch=10):
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    optimizer = torch.optim.SGD([
        dict(params=a.parameters(), lr=0.01),
        dict(params=b.parameters(), lr=0.02),
    ], lr=0.01, momentum=0.9)
    return SimpleNamespace(
        optim_wrapper=SimpleNamespace(optimizer=optimizer),
        train_dataloader=[None] * iters_per_epoch, iter=0, epoch=0)


def _lrs_at(hook, runner, it):
    runner.iter = it
    hook.before_train_iter(runner, batch_idx=it % 10)
    return [g['lr'] for g in runner.optim_wrapper.optimizer.param_groups]


@pytest.fixture
def hook_and_runner():
    # L = 10, W = max(round(5 * 10), 20) = 50, T = 15 * 10 = 150
    hook = HOOKS.build(dict(
        type='PPYOLOEParamSchedulerHook', warmup_min_iter=20,
        start_factor=0.1, warmup_epochs=5, min_lr_ratio=0.1,
        total_epochs=15))
    runner = _runner()
    hook.before_train(runner)
    return hook, runner


@pytest.mark.parametrize('it, expected', [
    (0, [0.001, 0.002]),     # b * s
    (25, [0.0055, 0.011]),   # b * (0.1 * 0.5 + 0.5) = 0.55 b
    (50, [0.01, 0.02]),      # end of warm-up: b
    (100, [0.0055, 0.011]),  # cos(pi / 2) = 0: m + (b - m) / 2 = 0.55 b
    (150, [0.001, 0.002]),   # cos(pi) = -1: the floor m = 0.1 b
])
def test_warmup_and_cosine_points(hook_and_runner, it, expected):
    hook, runner = hook_and_runner
    assert _lrs_at(hook, runner, it) == pytest.approx(expected)


def test_momentum_untouched(hook_and_runner):
    hook, runner = hook_and_runner
    _lrs_at(hook, runner, 70)
    groups = runner.optim_wrapper.optimizer.param_groups
    assert [g['momentum'] for g in groups] == [0.9, 0.9]


def test_warmup_min_iter_wins_on_short_epochs():
    # L = 10, warmup_epochs = 1: W = max(10, 20) = 20; at i = 10, start 0:
    # lr = b * 10 / 20 = 0.5 b (with W = 10 it would already be b)
    hook = HOOKS.build(dict(
        type='PPYOLOEParamSchedulerHook', warmup_min_iter=20,
        warmup_epochs=1, total_epochs=10))
    runner = _runner()
    hook.before_train(runner)
    assert _lrs_at(hook, runner, 10) == pytest.approx([0.005, 0.01])


def test_resume_keeps_initial_lr():
    hook = HOOKS.build(dict(type='PPYOLOEParamSchedulerHook'))
    runner = _runner()
    for g in runner.optim_wrapper.optimizer.param_groups:
        g['initial_lr'], g['lr'] = g['lr'], 123.
    hook.before_train(runner)
    # i = W = 1000 (warmup_min_iter): lr = b, the recorded initial_lr
    assert _lrs_at(hook, runner, 1000) == pytest.approx([0.01, 0.02])


def test_needs_before_train():
    hook = HOOKS.build(dict(type='PPYOLOEParamSchedulerHook'))
    with pytest.raises(RuntimeError, match='before_train'):
        _lrs_at(hook, _runner(), 0)
