"""YOLOv5OptimizerConstructor: parameter groups and weight-decay scaling.

Reference: spec 02 §1.5 — groups [conv weights with wd], [norm weights, no
wd], [biases, no wd] (bias group last); ``accumulate = max(round(64 /
total_bs), 1)``; ``wd *= total_bs * accumulate / 64``.
"""
import pytest
import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper, build_optim_wrapper

from yolokit.engine.optimizers import YOLOv5OptimizerConstructor
from yolokit.engine.optimizers import \
    yolov5_optim_constructor as constructor_module

BASE_WD = 0.0005


class _ToyNet(nn.Module):

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 1, bias=True)
        self.gn = nn.GroupNorm(2, 4)
        self.fc = nn.Linear(4, 2)


def _optim_cfg(batch_size_per_gpu=None, weight_decay=BASE_WD):
    optimizer = dict(
        type='SGD',
        lr=0.01,
        momentum=0.937,
        weight_decay=weight_decay,
        nesterov=True)
    if batch_size_per_gpu is not None:
        optimizer['batch_size_per_gpu'] = batch_size_per_gpu
    return dict(type='OptimWrapper', optimizer=optimizer)


def _ids(params):
    return {id(p) for p in params}


def test_three_groups_with_bias_last():
    model = _ToyNet()
    wrapper = YOLOv5OptimizerConstructor(_optim_cfg())(model)
    assert isinstance(wrapper, OptimWrapper)
    groups = wrapper.optimizer.param_groups
    assert len(groups) == 3
    assert _ids(groups[0]['params']) == _ids(
        [model.conv1.weight, model.conv2.weight, model.fc.weight])
    assert _ids(groups[1]['params']) == _ids(
        [model.bn1.weight, model.gn.weight])
    assert _ids(groups[2]['params']) == _ids(
        [model.bn1.bias, model.conv2.bias, model.gn.bias, model.fc.bias])
    # Only the conv/linear weights are decayed.
    assert groups[0]['weight_decay'] == BASE_WD
    assert groups[1]['weight_decay'] == 0
    assert groups[2]['weight_decay'] == 0
    # Every parameter is optimized exactly once.
    all_ids = [id(p) for g in groups for p in g['params']]
    assert sorted(all_ids) == sorted(id(p) for p in model.parameters())


@pytest.mark.parametrize(
    'world_size, batch_size_per_gpu, expected_wd',
    [
        # total 16: accumulate round(64/16)=4, factor 16*4/64 = 1
        (1, 16, BASE_WD),
        # total 64: accumulate 1, factor 1
        (1, 64, BASE_WD),
        # total 24: accumulate round(2.67)=3, factor 24*3/64 = 1.125
        (1, 24, BASE_WD * 1.125),
        # total 48: accumulate round(1.33)=1, factor 48/64 = 0.75
        (1, 48, BASE_WD * 0.75),
        # 8 GPUs x 16 = 128: accumulate max(round(0.5), 1)=1, factor 2
        (8, 16, BASE_WD * 2),
    ])
def test_weight_decay_scaled_by_total_batch_size(monkeypatch, world_size,
                                                 batch_size_per_gpu,
                                                 expected_wd):
    monkeypatch.setattr(constructor_module, 'get_world_size',
                        lambda: world_size)
    wrapper = YOLOv5OptimizerConstructor(_optim_cfg(batch_size_per_gpu))(
        _ToyNet())
    groups = wrapper.optimizer.param_groups
    assert groups[0]['weight_decay'] == pytest.approx(expected_wd)
    assert groups[1]['weight_decay'] == 0
    assert groups[2]['weight_decay'] == 0
    # SGD would reject an unknown argument: batch_size_per_gpu was removed.
    assert 'batch_size_per_gpu' not in wrapper.optimizer.defaults


def test_config_is_not_consumed():
    cfg = _optim_cfg(batch_size_per_gpu=16)
    constructor = YOLOv5OptimizerConstructor(cfg)
    constructor(_ToyNet())
    # A second model can be built from the same constructor.
    wrapper = constructor(_ToyNet())
    assert len(wrapper.optimizer.param_groups) == 3
    assert cfg['optimizer']['batch_size_per_gpu'] == 16


def test_tied_and_stray_parameters():
    model = _ToyNet()
    model.fc2 = nn.Linear(4, 2, bias=False)
    model.fc2.weight = model.fc.weight  # tied weights
    model.scale = nn.Parameter(torch.ones(1))  # not a module's weight/bias
    groups = YOLOv5OptimizerConstructor(
        _optim_cfg())(model).optimizer.param_groups
    all_ids = [id(p) for g in groups for p in g['params']]
    assert len(all_ids) == len(set(all_ids))
    assert id(model.scale) in _ids(groups[1]['params'])


def test_builds_through_registry():
    model = _ToyNet()
    cfg = _optim_cfg(batch_size_per_gpu=16)
    cfg['constructor'] = 'YOLOv5OptimizerConstructor'
    wrapper = build_optim_wrapper(model, cfg)
    assert len(wrapper.optimizer.param_groups) == 3
    assert isinstance(wrapper.optimizer, torch.optim.SGD)
    assert wrapper.optimizer.defaults['nesterov'] is True


def test_bad_config_errors():
    with pytest.raises(KeyError, match='optimizer'):
        YOLOv5OptimizerConstructor(dict(type='OptimWrapper'))
    with pytest.raises(TypeError, match='dict'):
        YOLOv5OptimizerConstructor(['not', 'a', 'dict'])
    with pytest.raises(KeyError, match='base_total_batch_size'):
        YOLOv5OptimizerConstructor(_optim_cfg(), paramwise_cfg=dict(foo=1))
