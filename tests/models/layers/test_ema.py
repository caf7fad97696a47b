"""ExpMomentumEMA against a hand computation of spec 07 §2.8.

Momentum at update ``steps``: ``m = (1 - momentum) * exp(-(1 + steps) /
gamma) + momentum``; update ``avg = avg * (1 - m) + src * m``; the first
update copies the source; later updates happen when ``steps % interval ==
0``; buffers are copied unless ``update_buffers``.
"""
import inspect
import math

import pytest
import torch
import torch.nn as nn
from mmengine.model import ExponentialMovingAverage

from yolokit.models.layers import ExpMomentumEMA
from yolokit.registry import MODELS


def _model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3))


def _perturb(model: nn.Module) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    # a train-mode forward changes the BN running statistics
    model.train()
    model(torch.randn(4, 2, 3, 3))


def _momentum(momentum: float, gamma: float, steps: int) -> float:
    return (1 - momentum) * math.exp(-(1 + steps) / gamma) + momentum


def test_signature_defaults_and_base_class():
    params = inspect.signature(ExpMomentumEMA).parameters
    assert list(params) == [
        'model', 'momentum', 'gamma', 'interval', 'device', 'update_buffers'
    ]
    assert params['momentum'].default == 0.0002
    assert params['gamma'].default == 2000
    assert params['interval'].default == 1
    assert params['device'].default is None
    assert params['update_buffers'].default is False
    assert issubclass(ExpMomentumEMA, ExponentialMovingAverage)


@pytest.mark.parametrize('gamma', [0, -1])
def test_gamma_must_be_positive(gamma):
    with pytest.raises(AssertionError, match='gamma must be greater than 0'):
        ExpMomentumEMA(_model(), gamma=gamma)


def test_registered_and_built_by_mmengine_scope_switch():
    from mmengine.registry import MODELS as MMENGINE_MODELS

    ema = MODELS.build(dict(type='ExpMomentumEMA', model=_model()))
    assert type(ema) is ExpMomentumEMA
    # mmengine's EMAHook builds ``ema_type`` from mmengine's root registry,
    # which switches to the default scope (yolokit, set by conftest).
    ema = MMENGINE_MODELS.build(
        dict(type='ExpMomentumEMA', model=_model(), gamma=10))
    assert type(ema) is ExpMomentumEMA and ema.gamma == 10


def test_parameters_follow_exponential_momentum_schedule():
    torch.manual_seed(0)
    model = _model()
    momentum, gamma = 0.1, 4
    ema = ExpMomentumEMA(model, momentum=momentum, gamma=gamma)

    expected = {k: v.detach().clone() for k, v in model.named_parameters()}
    for step in range(10):
        _perturb(model)
        ema.update_parameters(model)
        src = dict(model.named_parameters())
        for k in expected:
            if step == 0:
                expected[k] = src[k].detach().clone()
            else:
                m = _momentum(momentum, gamma, step)
                expected[k] = expected[k] * (1 - m) + src[k].detach() * m
        avg = dict(ema.module.named_parameters())
        for k, v in expected.items():
            torch.testing.assert_close(avg[k], v)
        # update_buffers=False: buffers are plain copies of the source
        for b_avg, b_src in zip(ema.module.buffers(), model.buffers()):
            torch.testing.assert_close(b_avg, b_src)
    assert int(ema.steps) == 10


def test_first_momenta_by_hand():
    # momentum 0.5, gamma 1: step 1 -> m = 0.5 * e^-2 + 0.5
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(2.0)
    ema = ExpMomentumEMA(model, momentum=0.5, gamma=1)
    ema.update_parameters(model)  # step 0: copy -> 2.0
    with torch.no_grad():
        model.weight.fill_(4.0)
    ema.update_parameters(model)
    m = 0.5 * math.exp(-2) + 0.5
    assert ema.module.weight.item() == pytest.approx(2.0 * (1 - m) + 4.0 * m)


def test_interval():
    torch.manual_seed(1)
    model = _model()
    momentum, gamma, interval = 0.2, 3, 3
    ema = ExpMomentumEMA(
        model, momentum=momentum, gamma=gamma, interval=interval)
    expected = None
    for step in range(8):
        _perturb(model)
        ema.update_parameters(model)
        w = model[0].weight.detach()
        if step == 0:
            expected = w.clone()
        elif step % interval == 0:
            m = _momentum(momentum, gamma, step)
            expected = expected * (1 - m) + w * m
        torch.testing.assert_close(ema.module[0].weight, expected)


def test_update_buffers_averages_float_buffers():
    torch.manual_seed(2)
    model = _model()
    momentum, gamma = 0.1, 4
    ema = ExpMomentumEMA(
        model, momentum=momentum, gamma=gamma, update_buffers=True)
    bn = model[1]
    exp_mean = exp_var = None
    for step in range(6):
        _perturb(model)
        ema.update_parameters(model)
        if step == 0:
            exp_mean = bn.running_mean.clone()
            exp_var = bn.running_var.clone()
            tracked_at_copy = bn.num_batches_tracked.clone()
        else:
            m = _momentum(momentum, gamma, step)
            exp_mean = exp_mean * (1 - m) + bn.running_mean * m
            exp_var = exp_var * (1 - m) + bn.running_var * m
        torch.testing.assert_close(ema.module[1].running_mean, exp_mean)
        torch.testing.assert_close(ema.module[1].running_var, exp_var)
    # integer buffers are not averaged: they keep the step-0 copy
    assert ema.module[1].num_batches_tracked == tracked_at_copy
    assert bn.num_batches_tracked > tracked_at_copy


def test_forward_delegates_to_averaged_copy():
    model = _model().eval()
    ema = ExpMomentumEMA(model)
    ema.eval()
    x = torch.randn(1, 2, 4, 4)
    torch.testing.assert_close(ema(x), model(x))
    assert ema.module is not model
    assert all(not p.requires_grad for p in ema.module.parameters())
