"""YOLOR's implicit additive knowledge."""
import torch
import torch.nn as nn
from torch import Tensor


class ImplicitA(nn.Module):
    """Adds a learnt per-channel offset: (B, C, H, W) -> x + a, a (1, C, 1, 1)
    drawn from N(mean, std).

    Args:
        in_channels (int): C.
        mean (float): Mean of the initial offset. Defaults to 0.
        std (float): Its standard deviation. Defaults to 0.02.
    """

    def __init__(self, in_channels: int, mean: float = 0., std: float = .02):
        super().__init__()
        self.implicit = nn.Parameter(torch.empty(1, in_channels, 1, 1))
        nn.init.normal_(self.implicit, mean=mean, std=std)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.implicit
