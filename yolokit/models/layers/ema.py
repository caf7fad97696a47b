"""EMA of model weights whose momentum decays exponentially (YOLO style)."""
import math
from typing import Optional

import torch
import torch.nn as nn
from mmdet.models.layers import ExpMomentumEMA as MMDetExpMomentumEMA
from torch import Tensor

from yolokit.registry import MODELS


@MODELS.register_module()
class ExpMomentumEMA(MMDetExpMomentumEMA):
    """Exponential moving average with an exponentially decaying momentum.

    At update ``steps`` the averaged tensors move towards the source by

    ``m = (1 - momentum) * exp(-(1 + steps) / gamma) + momentum``

    i.e. ``avg = (1 - m) * avg + m * src``: close to a plain copy early in
    training, annealing to ``momentum`` later. The first update copies the
    source; later updates happen every ``interval`` steps.

    Args:
        model (nn.Module): The model to be averaged.
        momentum (float): Final (smallest) momentum. Defaults to 0.0002.
        gamma (int): Decay constant of the momentum, must be > 0.
            Defaults to 2000.
        interval (int): Interval between two updates. Defaults to 1.
        device (torch.device, optional): Device to keep the averaged model
            on. Defaults to None (same as ``model``).
        update_buffers (bool): Whether floating-point buffers (e.g. BN
            running stats) are averaged too; if False they are copied from
            the source model at each update. Defaults to False.
    """

    def __init__(self,
                 model: nn.Module,
                 momentum: float = 0.0002,
                 gamma: int = 2000,
                 interval=1,
                 device: Optional[torch.device] = None,
                 update_buffers: bool = False) -> None:
        # Checked before the parent deep-copies the whole model.
        assert gamma > 0, f'gamma must be greater than 0, but got {gamma}'
        super().__init__(
            model=model,
            momentum=momentum,
            gamma=gamma,
            interval=interval,
            device=device,
            update_buffers=update_buffers)

    def avg_func(self, averaged_param: Tensor, source_param: Tensor,
                 steps: int) -> None:
        """Move ``averaged_param`` towards ``source_param`` in place.

        Args:
            averaged_param (Tensor): The averaged tensor (updated in place).
            source_param (Tensor): The current tensor of the source model.
            steps (int): Number of updates done so far.
        """
        momentum = (1 - self.momentum) * math.exp(
            -float(1 + steps) / self.gamma) + self.momentum
        averaged_param.lerp_(source_param, momentum)
