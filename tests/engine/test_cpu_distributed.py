"""Distributed runs without a GPU: gloo and a CPU DDP wrapper."""
import socket

import pytest
import torch
import torch.distributed as torch_dist
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS

from yolokit.engine import cpu_distributed
from yolokit.engine.cpu_distributed import (CPUDistributedDataParallel,
                                            setup_cpu_distributed)

requires_cpu_only = pytest.mark.skipif(
    cpu_distributed.accelerator_available(), reason='needs a CPU-only host')


def _cfg(**kwargs):
    return Config(
        dict(
            default_scope='yolokit',
            env_cfg=dict(
                cudnn_benchmark=False,
                dist_cfg=dict(backend='nccl', timeout=1800)),
            **kwargs))


def test_non_distributed_is_untouched():
    cfg = _cfg()
    setup_cpu_distributed(cfg, 'none')
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert 'model_wrapper_cfg' not in cfg


@requires_cpu_only
def test_pytorch_launcher_on_cpu(monkeypatch):
    calls = []
    monkeypatch.setattr(cpu_distributed.torch_dist, 'is_initialized',
                        lambda: False)
    monkeypatch.setattr(cpu_distributed.torch_dist, 'init_process_group',
                        lambda **kw: calls.append(kw))
    cfg = _cfg(find_unused_parameters=True)
    setup_cpu_distributed(cfg, 'pytorch')
    # gloo replaces nccl; the other options are kept (timeout in seconds
    # becomes a timedelta for torch).
    assert cfg.env_cfg.dist_cfg == dict(backend='gloo', timeout=1800)
    assert cfg.env_cfg.cudnn_benchmark is False
    (kwargs, ) = calls
    assert kwargs['backend'] == 'gloo'
    assert kwargs['timeout'].total_seconds() == 1800
    wrapper = cfg.model_wrapper_cfg
    # The runner resolves the type through MMEngine's root registry.
    assert MMENGINE_MODEL_WRAPPERS.get(
        wrapper['type']) is CPUDistributedDataParallel
    assert wrapper['broadcast_buffers'] is False
    assert wrapper['find_unused_parameters'] is True


@requires_cpu_only
def test_other_launchers_and_wrappers_fail_clearly(monkeypatch):
    with pytest.raises(RuntimeError, match='--launcher pytorch'):
        setup_cpu_distributed(_cfg(), 'slurm')
    monkeypatch.setattr(cpu_distributed.torch_dist, 'is_initialized',
                        lambda: True)
    cfg = _cfg(model_wrapper_cfg=dict(type='MMFullyShardedDataParallel'))
    with pytest.raises(RuntimeError, match='MMFullyShardedDataParallel'):
        setup_cpu_distributed(cfg, 'pytorch')


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture
def single_process_group():
    if torch_dist.is_initialized():
        pytest.skip('a process group is already initialized')
    torch_dist.init_process_group(
        backend='gloo',
        init_method=f'tcp://127.0.0.1:{_free_port()}',
        rank=0,
        world_size=1)
    try:
        yield
    finally:
        torch_dist.destroy_process_group()


def test_wrapper_reverts_sync_bn_and_runs_on_cpu(single_process_group):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert isinstance(model[1], nn.SyncBatchNorm)
    wrapped = CPUDistributedDataParallel(
        module=model, device_ids=[0], broadcast_buffers=False)
    assert wrapped.device_ids is None
    assert not any(
        isinstance(m, nn.SyncBatchNorm) for m in wrapped.module.modules())
    out = wrapped(torch.rand(2, 3, 8, 8))
    out.sum().backward()
    assert wrapped.module[0].weight.grad is not None
