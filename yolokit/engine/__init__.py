"""Training machinery of yolokit: optimizer constructors, hooks and the
CPU distributed wrapper."""
from .cpu_distributed import (CPUDistributedDataParallel,
                              accelerator_available, setup_cpu_distributed)
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403

__all__ = [
    'CPUDistributedDataParallel', 'accelerator_available',
    'setup_cpu_distributed', 'YOLOv5ParamSchedulerHook', 'SwitchToDeployHook',
    'YOLOv5OptimizerConstructor'
]
