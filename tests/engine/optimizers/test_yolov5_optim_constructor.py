"""YOLOv5OptimizerConstructor: parameter groups and weight-decay scaling.

Reference: spec 02 §1.5 — groups [conv weights with wd], [norm weights, no
wd], [biases, no wd] (bias group last); ``accumulate = max(round(64 /
total_bs), 1)``; ``wd *= total_bs * accumulate / 64``. As in MMYOLO 0.6.0,
"norm" means BatchNorm-like (``_NormBase``) layers.
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


def test_three_groups_by_hand():
    # MMYOLO 0.6.0's grouping, walking model.modules() in order:
    #   conv1 (no bias)  -> weight: group 0
    #   bn1 (BatchNorm)  -> weight: group 1, bias: group 2
    #   conv2            -> weight: group 0, bias: group 2
    #   gn (GroupNorm, not a _NormBase) -> weight: group 0, bias: group 2
    #   fc               -> weight: group 0, bias: group 2
    # so the sizes are 4 / 1 / 4.
    model = _ToyNet()
    wrapper = YOLOv5OptimizerConstructor(_optim_cfg())(model)
    assert isinstance(wrapper, OptimWrapper)
    groups = wrapper.optimizer.param_groups
    assert [len(g['params']) for g in groups] == [4, 1, 4]
    # The order inside a group is the module order: an optimizer state maps
    # its entries to parameters by position.
    assert [id(p) for p in groups[0]['params']] == [
        id(model.conv1.weight),
        id(model.conv2.weight),
        id(model.gn.weight),
        id(model.fc.weight)
    ]
    assert [id(p) for p in groups[1]['params']] == [id(model.bn1.weight)]
    assert [id(p) for p in groups[2]['params']] == [
        id(model.bn1.bias),
        id(model.conv2.bias),
        id(model.gn.bias),
        id(model.fc.bias)
    ]
    # Only group 0 is decayed; SGD's default weight decay is 0.
    assert groups[0]['weight_decay'] == BASE_WD
    assert groups[1]['weight_decay'] == 0
    assert groups[2]['weight_decay'] == 0
    # Every parameter is optimized exactly once.
    all_ids = [id(p) for g in groups for p in g['params']]
    assert sorted(all_ids) == sorted(id(p) for p in model.parameters())


def test_mmyolo_optimizer_state_loads():
    # An optimizer state with MMYOLO's three groups, built here by hand
    # (conv/linear/GN weights; BN weights; biases) after one SGD step so
    # that it holds momentum buffers.
    torch.manual_seed(0)
    model = _ToyNet()
    m = model
    mmyolo_groups = [
        dict(
            params=[m.conv1.weight, m.conv2.weight, m.gn.weight,
                    m.fc.weight],
            weight_decay=BASE_WD),
        dict(params=[m.bn1.weight]),
        dict(params=[m.bn1.bias, m.conv2.bias, m.gn.bias, m.fc.bias]),
    ]
    reference = torch.optim.SGD(
        mmyolo_groups, lr=0.01, momentum=0.937, nesterov=True)
    before = {id(p): p.detach().clone() for p in model.parameters()}
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    reference.step()
    state = reference.state_dict()

    wrapper = YOLOv5OptimizerConstructor(_optim_cfg())(model)
    wrapper.optimizer.load_state_dict(state)
    loaded = wrapper.optimizer
    assert len(loaded.param_groups) == 3
    for group in loaded.param_groups:
        for p in group['params']:
            # momentum buffer after the first step: the gradient, 1, plus
            # in group 0 the decay term 5e-4 * p (p before the step)
            expected = torch.ones_like(p)
            if group is loaded.param_groups[0]:
                expected = expected + BASE_WD * before[id(p)]
            torch.testing.assert_close(loaded.state[p]['momentum_buffer'],
                                       expected)


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


def test_tied_and_stray_parameters(monkeypatch):
    logged = []
    monkeypatch.setattr(constructor_module, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    model = _ToyNet()
    model.fc2 = nn.Linear(4, 2, bias=False)
    model.fc2.weight = model.fc.weight  # tied weights
    model.scale = nn.Parameter(torch.ones(1))  # not a module's weight/bias
    groups = YOLOv5OptimizerConstructor(
        _optim_cfg())(model).optimizer.param_groups
    all_ids = [id(p) for g in groups for p in g['params']]
    assert len(all_ids) == len(set(all_ids))
    assert id(model.scale) in _ids(groups[1]['params'])
    # MMYOLO would leave `scale` out: the difference is announced.
    assert any('1 parameter(s) are no module\'s weight or bias (scale)' in m
               for m in logged)


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
    # MMYOLO asserts: the error is an AssertionError and a KeyError.
    for exc_type in (AssertionError, KeyError):
        with pytest.raises(exc_type, match='base_total_batch_size'):
            YOLOv5OptimizerConstructor(
                _optim_cfg(), paramwise_cfg=dict(foo=1))
