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

from yolokit.utils.checkpoint_safety import (register_checkpoint_globals,
                                             restricted_getattr)

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
