"""Checkpoints saved by MMEngine's runner load with ``weights_only=True``.

The registration is process-global (torch's allow-list), and the test
session registers it at start-up, so the before/after comparison runs in a
fresh subprocess.
"""
import io
import json
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

from yolokit.utils.checkpoint_safety import (
    CheckpointRefusedError, UnreadableCheckpointError, explain_load_errors,
    load_weights_only, refused_global, register_checkpoint_globals,
    restricted_getattr, route_checkpoint_loaders)

_TRAIN_AND_LOAD = textwrap.dedent('''
    import json, sys
    import torch, torch.nn as nn
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Toy(BaseModel):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 1)

        def forward(self, inputs, labels=None, mode='tensor'):
            out = self.fc(inputs)
            if mode == 'loss':
                return dict(loss=((out - labels) ** 2).mean())
            return out

    def make_runner(work_dir, max_epochs, **kwargs):
        torch.manual_seed(0)
        data = [dict(inputs=torch.rand(2), labels=torch.rand(1))
                for _ in range(4)]
        return Runner(
            model=Toy(), work_dir=work_dir, default_scope='mmengine',
            train_dataloader=dict(
                dataset=data, batch_size=2,
                sampler=dict(type='DefaultSampler', shuffle=False),
                collate_fn=dict(type='default_collate')),
            optim_wrapper=dict(
                optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
            train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
            default_hooks=dict(
                checkpoint=dict(type='CheckpointHook', interval=1),
                logger=dict(type='LoggerHook', interval=1)),
            custom_hooks=[dict(type='EMAHook')], **kwargs)

    work_dir = sys.argv[1]
    make_runner(work_dir, 1).train()
    path = work_dir + '/epoch_1.pth'
    report = {}
    try:
        torch.load(path)
        report['before'] = 'loaded'
    except Exception as e:  # the weights_only unpickler refuses it
        report['before'] = type(e).__name__ + ': ' + str(e)

    from yolokit.utils.checkpoint_safety import register_checkpoint_globals
    register_checkpoint_globals()
    ckpt = torch.load(path)
    report['keys'] = sorted(ckpt)
    report['scalar_types'] = sorted({
        type(v).__name__
        for v in ckpt['message_hub']['log_scalars'].values()})
    report['epoch'] = ckpt['meta']['epoch']

    # MMEngine's own resume path (torch.load inside) continues training.
    runner = make_runner(work_dir, 2, resume=True, load_from=path)
    runner.train()
    report['resumed_epoch'] = torch.load(work_dir + '/epoch_2.pth')[
        'meta']['epoch']
    print('REPORT' + json.dumps(report))
''')


def test_runner_checkpoint_needs_and_gets_registration(tmp_path):
    script = tmp_path / 'train_and_load.py'
    script.write_text(_TRAIN_AND_LOAD)
    env = dict(os.environ)
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    proc = subprocess.run(
        [sys.executable,
         str(script), str(tmp_path / 'work_dir')],
        capture_output=True,
        text=True,
        env=env,
        timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith('REPORT')]
    assert line, proc.stdout[-3000:]
    report = json.loads(line[-1][len('REPORT'):])

    # Without registration torch refuses the checkpoint ...
    assert report['before'].startswith('UnpicklingError'), report['before']
    # ... with it, a plain torch.load reads everything the runner saved.
    assert {
        'meta', 'state_dict', 'message_hub', 'optimizer', 'ema_state_dict'
    } <= set(report['keys'])
    assert report['scalar_types'] == ['HistoryBuffer']
    assert report['epoch'] == 1
    assert report['resumed_epoch'] == 2


class _Reduce:
    """Pickles as ``func(*args)``."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def test_numpy_values_load(tmp_path):
    register_checkpoint_globals()
    path = tmp_path / 'np.pth'
    torch.save(
        dict(eta=np.float64(1.5), hist=np.arange(3), count=np.int64(7)), path)
    loaded = torch.load(path)
    assert loaded['eta'] == 1.5 and loaded['count'] == 7
    np.testing.assert_array_equal(loaded['hist'], np.arange(3))


def test_statistics_method_lookup_allowed(tmp_path):
    register_checkpoint_globals()
    path = tmp_path / 'method.pth'
    torch.save(dict(m=_Reduce(getattr, (HistoryBuffer, 'mean'))), path)
    assert torch.load(path)['m'] is HistoryBuffer.mean


@pytest.mark.parametrize(
    'target, name',
    [
        (HistoryBuffer, '__init__'),  # dunder: a way into __globals__
        (HistoryBuffer, '_set_default_statistics'),  # private
        (HistoryBuffer, '_statistics_methods'),  # data, not a method
        (np.ndarray, 'tofile'),  # not an allow-listed class
        (os, 'system'),
    ])
def test_other_getattr_refused(tmp_path, target, name):
    with pytest.raises(pickle.UnpicklingError, match='Refusing getattr'):
        restricted_getattr(target, name)
    if target is os:
        return  # a module cannot even be referenced by a safe pickle
    register_checkpoint_globals()
    path = tmp_path / 'evil.pth'
    torch.save(dict(x=_Reduce(getattr, (target, name))), path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)


def test_numpy1_pickles_load():
    """Checkpoints written under NumPy 1.x name ``numpy.core.multiarray``."""
    register_checkpoint_globals()
    buf = io.BytesIO()
    # The legacy format is one plain pickle stream, so the module name can
    # be rewritten to what NumPy 1.x writes (GLOBAL names are plain text).
    torch.save(
        dict(eta=np.float64(1.5), hist=np.arange(3)),
        buf,
        _use_new_zipfile_serialization=False)
    raw = buf.getvalue()
    assert b'numpy._core.multiarray' in raw
    legacy = raw.replace(b'numpy._core.multiarray', b'numpy.core.multiarray')
    loaded = torch.load(io.BytesIO(legacy))
    assert loaded['eta'] == 1.5
    np.testing.assert_array_equal(loaded['hist'], np.arange(3))


# ------------------------ refused and unreadable files ----------------------


@pytest.fixture
def refused_ckpt(tmp_path):
    """A checkpoint with an ``argparse.Namespace`` (not allow-listed)."""
    import argparse
    path = tmp_path / 'with_namespace.pth'
    torch.save(dict(state_dict={}, args=argparse.Namespace(lr=1)), path)
    return str(path)


def _assert_safe_advice(msg, path, global_name):
    assert path in msg and f'`{global_name}`' in msg
    assert f'add_safe_globals([{global_name}])' in msg
    assert 're-save the checkpoint' in msg
    # The unsafe way out is never suggested.
    assert 'weights_only=False' not in msg


def test_refused_global_is_parsed_from_torchs_message(refused_ckpt):
    with pytest.raises(pickle.UnpicklingError) as info:
        torch.load(refused_ckpt)
    assert refused_global(info.value) == 'argparse.Namespace'
    assert refused_global(ValueError('other')) is None


def test_load_weights_only_explains_a_refusal(refused_ckpt):
    with pytest.raises(CheckpointRefusedError) as info:
        load_weights_only(refused_ckpt)
    err = info.value
    assert isinstance(err, pickle.UnpicklingError)
    assert (err.filename, err.global_name) == (refused_ckpt,
                                               'argparse.Namespace')
    _assert_safe_advice(str(err), refused_ckpt, 'argparse.Namespace')
    # torch's message (which suggests weights_only=False) is not chained.
    assert err.__cause__ is None and err.__suppress_context__
    # survives pickling (e.g. across worker processes)
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err)


def test_refused_getattr_is_a_refusal_without_allow_list_advice(tmp_path):
    register_checkpoint_globals()
    path = str(tmp_path / 'getattr.pth')
    torch.save(dict(x=_Reduce(getattr, (HistoryBuffer, '__init__'))), path)
    with pytest.raises(CheckpointRefusedError, match='Refusing getattr') as e:
        load_weights_only(path)
    assert 'add_safe_globals' not in str(e.value)
    assert 'weights_only=False' not in str(e.value)


def _legacy_checkpoint_bytes():
    buf = io.BytesIO()
    torch.save(
        dict(w=torch.zeros(100)), buf, _use_new_zipfile_serialization=False)
    return buf.getvalue()


def _zip_checkpoint_bytes():
    buf = io.BytesIO()
    torch.save(dict(w=torch.zeros(100)), buf)
    return buf.getvalue()


@pytest.mark.parametrize(
    'content, reason',
    [
        # not torch.save output: refused from the first bytes
        (b'', 'starts with an empty file'),
        (b'hello world\n', "starts with bytes b'hell'"),
        (b'\xff\xd8\xff\xe0JFIF', "bytes b'\\xff\\xd8\\xff\\xe0'"),
        # truncated checkpoints: torch raises IndexError, EOFError,
        # RuntimeError; a zip archive cut in half fails in its reader
        (_legacy_checkpoint_bytes()[:3], 'pickle data is corrupt'),
        (_legacy_checkpoint_bytes()[:20], 'ends early'),
        (_legacy_checkpoint_bytes()[:-10], 'unexpected EOF'),
        (_zip_checkpoint_bytes()[:200], 'PytorchStreamReader'),
        (b'\x80\x02' + b'hello' * 5, 'pickle data is corrupt'),  # KeyError
    ])
def test_unreadable_files_are_named(tmp_path, content, reason):
    path = str(tmp_path / 'not_a_ckpt.pth')
    with open(path, 'wb') as f:
        f.write(content)
    with pytest.raises(UnreadableCheckpointError) as info:
        load_weights_only(path)
    msg = str(info.value)
    assert msg.startswith(f'Checkpoint {path} is not a file torch.load can')
    assert reason in msg and 'weights_only=False' not in msg
    # whatever torch raised for these bytes still catches it
    for exc_type in (pickle.UnpicklingError, EOFError, RuntimeError, KeyError,
                     IndexError):
        assert isinstance(info.value, exc_type)


def test_other_errors_pass_through(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_weights_only(str(tmp_path / 'missing.pth'))
    # Errors that are not torch failing to read the file keep their type
    # and message, e.g. MMEngine's KeyError for an unknown model name.
    for error in (RuntimeError('unrelated'), KeyError('unrelated'),
                  IndexError('unrelated')):
        with pytest.raises(type(error), match='unrelated') as info:
            with explain_load_errors('x.pth'):
                raise error
        assert info.value is error


def test_unknown_openmmlab_model_name_is_not_called_unreadable():
    from mmengine.runner.checkpoint import _load_checkpoint
    route_checkpoint_loaders()
    with pytest.raises(KeyError) as info:
        _load_checkpoint('open-mmlab://no_such_model_xyz')
    assert not isinstance(info.value, UnreadableCheckpointError)


def test_mmengine_loaders_are_routed(refused_ckpt, tmp_path):
    """resume/load_from/init_detector load through CheckpointLoader."""
    from mmengine.runner import CheckpointLoader
    from mmengine.runner.checkpoint import _load_checkpoint
    route_checkpoint_loaders()
    route_checkpoint_loaders()  # idempotent: wrapped once
    local = CheckpointLoader._get_checkpoint_loader(refused_ckpt)
    assert local.explains_errors and local.__name__ == 'load_from_local'
    assert not getattr(local.__wrapped__, 'explains_errors', False)
    with pytest.raises(CheckpointRefusedError) as info:
        _load_checkpoint(refused_ckpt, map_location='cpu')
    _assert_safe_advice(str(info.value), refused_ckpt, 'argparse.Namespace')
    good = tmp_path / 'good.pth'
    torch.save(dict(state_dict=dict(w=torch.ones(2))), good)
    assert _load_checkpoint(str(good))['state_dict']['w'].tolist() == [1, 1]
