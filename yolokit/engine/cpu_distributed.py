"""Distributed training and testing on machines without an accelerator.

MMEngine's ``init_dist`` always calls ``torch.cuda.set_device`` (and the
configs ask for the NCCL backend), and its runner wraps the model in DDP with
``device_ids=[LOCAL_RANK]``; both fail on a CPU-only machine, as do the
SyncBatchNorm layers YOLO detectors switch to in distributed runs. The tools
call :func:`setup_cpu_distributed` before building the runner, so
``tools/dist_train.sh CONFIG 2`` works on CPU with the gloo backend without
the user changing the config.
"""
import datetime

import torch.distributed as torch_dist
import torch.nn as nn
from mmengine.config import Config
from mmengine.device import (is_cuda_available, is_mlu_available,
                             is_musa_available, is_npu_available)
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm

from yolokit.registry import MODEL_WRAPPERS


def accelerator_available() -> bool:
    """Whether MMEngine would run on a CUDA/NPU/MLU/MUSA device."""
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for processes that run on the CPU.

    The module is wrapped without ``device_ids`` (required for CPU modules)
    and its SyncBatchNorm layers, which only run on GPUs, are reverted to
    BatchNorm: each process then normalizes with the statistics of its own
    batch.

    Args:
        module (nn.Module): The model to wrap.
        **kwargs: Passed to ``MMDistributedDataParallel``; ``device_ids`` and
            ``output_device`` are ignored.
    """

    def __init__(self, module: nn.Module, **kwargs):
        kwargs.pop('device_ids', None)
        kwargs.pop('output_device', None)
        has_sync_bn = any(
            isinstance(m, nn.SyncBatchNorm)
            or 'SyncBatchNorm' in type(m).__name__ for m in module.modules())
        if has_sync_bn:
            print_log(
                'SyncBatchNorm does not run on CPU: reverted to BatchNorm '
                '(statistics are per process).',
                logger='current')
            module = revert_sync_batchnorm(module)
        super().__init__(module=module, device_ids=None, **kwargs)


_WRAPPER_PATH = f'{__name__}.{CPUDistributedDataParallel.__name__}'


def setup_cpu_distributed(cfg: Config, launcher: str) -> None:
    """Prepare ``cfg`` (and the process group) for distributed CPU runs.

    Does nothing when ``launcher`` is ``'none'`` or an accelerator is
    present. Otherwise it initializes the default process group with the
    gloo backend (the only CPU backend; a configured ``nccl`` is replaced,
    keeping the other ``env_cfg.dist_cfg`` options such as ``timeout``), so
    that the runner skips MMEngine's CUDA-only initialization, and wraps the
    model in :class:`CPUDistributedDataParallel`.

    Args:
        cfg (Config): The config the runner will be built from; modified in
            place.
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.

    Raises:
        RuntimeError: For the ``slurm``/``mpi`` launchers without an
            accelerator (MMEngine sets a GPU for them), or a
            ``model_wrapper_cfg`` that is not a DDP wrapper.
    """
    if launcher == 'none' or accelerator_available():
        return
    if launcher != 'pytorch':
        raise RuntimeError(
            f'--launcher {launcher} needs a GPU (MMEngine sets a CUDA device '
            'for it), and none is available. On CPU use --launcher pytorch, '
            'e.g. tools/dist_train.sh CONFIG NUM_PROCESSES, which runs with '
            'the gloo backend.')

    env_cfg = cfg.get('env_cfg') or {}
    dist_cfg = dict(env_cfg.get('dist_cfg') or {})
    backend = dist_cfg.pop('backend', 'nccl')
    if backend != 'gloo':
        print_log(
            f'No GPU is available: using the gloo backend instead of '
            f'env_cfg.dist_cfg.backend={backend!r}.',
            logger='current')
    cfg.env_cfg = dict(env_cfg, dist_cfg=dict(dist_cfg, backend='gloo'))

    if not torch_dist.is_initialized():
        timeout = dist_cfg.pop('timeout', None)
        if timeout is not None:
            dist_cfg['timeout'] = datetime.timedelta(seconds=timeout)
        # torchrun provides RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT.
        torch_dist.init_process_group(backend='gloo', **dist_cfg)

    wrapper_cfg = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper_type = wrapper_cfg.get('type', 'MMDistributedDataParallel')
    if wrapper_type not in ('MMDistributedDataParallel',
                            'CPUDistributedDataParallel', _WRAPPER_PATH):
        raise RuntimeError(
            f'model_wrapper_cfg.type={wrapper_type!r} cannot run on CPU; '
            'distributed CPU runs use CPUDistributedDataParallel. Remove '
            'model_wrapper_cfg or run on GPUs.')
    # The runner resolves wrappers with MMEngine's root registry, which
    # does not see yolokit's registry: give the import path.
    wrapper_cfg['type'] = _WRAPPER_PATH
    wrapper_cfg.setdefault('broadcast_buffers', False)
    wrapper_cfg.setdefault('find_unused_parameters',
                           cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper_cfg
