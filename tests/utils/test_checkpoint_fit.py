"""The checkpoint-fits-the-model rule of tools/test.py and the demo."""
import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseTTAModel

from yolokit.utils.checkpoint_fit import (CheckpointFitHook,
                                          CheckpointMismatchError,
                                          StateDictFit, check_checkpoint_fits,
                                          check_checkpoint_file_fits,
                                          compare_state_dicts, unwrap_model)


class _Net(nn.Module):
    """conv (4, 3, 3, 3) + bias (4), bn (4) x4 + num_batches_tracked."""

    def __init__(self, out=4):
        super().__init__()
        self.conv = nn.Conv2d(3, out, 3)
        self.bn = nn.BatchNorm2d(out)


def _shapes(model):
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_same_model_fits():
    model = _Net()
    fit = compare_state_dicts(_shapes(model), model.state_dict())
    assert fit == StateDictFit(7, [], [], [])
    assert fit.loads_every_weight


def test_misfit_by_hand():
    model_shapes = {'a': (2, ), 'b': (3, 3), 'c': (1, )}
    weights = {'a': torch.zeros(2), 'b': torch.zeros(3, 4), 'x': torch.ones(1)}
    fit = compare_state_dicts(model_shapes, weights)
    assert fit.num_model_keys == 3
    assert fit.missing == ['c']
    assert fit.unexpected == ['x']
    assert fit.shape_mismatched == [('b', (3, 3), (3, 4))]
    assert not fit.loads_every_weight


def test_legitimate_differences_are_exempt():
    model = _Net()
    weights = dict(model.state_dict())
    del weights['bn.num_batches_tracked']  # older checkpoints lack it
    weights['ema_conv_weight'] = torch.zeros(1)  # EMA copies
    weights['data_preprocessor.mean'] = torch.zeros(3)
    shapes = dict(_shapes(model), **{'data_preprocessor.std': (3, )})
    fit = compare_state_dicts(shapes, weights)
    assert fit == StateDictFit(7, [], [], [])


def test_check_reads_state_dict_and_strips_module_prefix():
    model = _Net()
    ckpt = dict(
        meta=dict(epoch=3),
        state_dict={
            f'module.{k}': v
            for k, v in model.state_dict().items()
        })
    assert check_checkpoint_fits(model, ckpt, 'c.pth', 'c.py').missing == []


def test_other_architecture_is_an_error_with_counts_and_examples():
    model = _Net(out=4)
    other = nn.Sequential(nn.Conv2d(3, 8, 3))  # keys 0.weight, 0.bias
    ckpt = dict(
        state_dict=dict(_Net(out=8).state_dict(), **other.state_dict()))
    with pytest.raises(CheckpointMismatchError) as info:
        check_checkpoint_fits(model, ckpt, 'v8.pth', 'v5.py')
    msg = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert msg.startswith('Checkpoint v8.pth does not fit the model of '
                          "config v5.py: of the model's 7 weights, ")
    # conv.weight/bias and the four bn tensors of shape (4,) have 8 rows
    assert '6 have another shape in the checkpoint' in msg
    assert 'conv.weight: model (4, 3, 3, 3) vs checkpoint (8, 3, 3, 3)' in msg
    assert '2 entries the model does not (e.g. 0.weight, 0.bias)' in msg


def test_missing_keys_are_listed():
    ckpt = dict(state_dict={'conv.weight': torch.zeros(4, 3, 3, 3)})
    with pytest.raises(
            CheckpointMismatchError,
            match=r'5 are missing from the checkpoint \(e\.g\. '
            r'conv\.bias, bn\.weight, bn\.bias, \.\.\.\)'):
        check_checkpoint_fits(_Net(), ckpt, 'c.pth', 'c.py')


class _Detector(_Net):

    def test_step(self, data):  # BaseTTAModel requires one
        return data


class _TTA(BaseTTAModel):

    def merge_preds(self, data_samples_list):
        return data_samples_list


def test_tta_wrapper_is_looked_through():
    inner = _Detector()
    assert unwrap_model(_TTA(module=inner)) is inner
    check_checkpoint_fits(
        _TTA(module=inner), inner.state_dict(), 'c.pth', 'c.py')


def test_hook_checks_the_loaded_checkpoint():
    hook = CheckpointFitHook('other.pth', 'mine.py')
    assert hook.priority == 'VERY_HIGH'
    runner = type('R', (), {'model': _Net()})()
    hook.after_load_checkpoint(runner, dict(state_dict=_Net().state_dict()))
    with pytest.raises(CheckpointMismatchError, match='other.pth .* mine.py'):
        hook.after_load_checkpoint(runner, dict(state_dict={}))


def test_file_check(tmp_path):
    model = _Net()
    path = tmp_path / 'c.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    assert check_checkpoint_file_fits(model, str(path), 'c.py').missing == []
    with pytest.raises(CheckpointMismatchError):
        check_checkpoint_file_fits(_Net(out=2), str(path), 'c.py')
