"""YOLOR's implicit multiplicative knowledge."""
import torch
import torch.nn as nn
from torch import Tensor


class ImplicitM(nn.Module):
    """Scales each channel by a learnt factor: (B, C, H, W) -> x * m, m
    (1, C, 1, 1) drawn from N(mean, std).

    Args:
        in_channels (int): C.
        mean (float): Mean of the initial factor. Defaults to 1.
        std (float): Its standard deviation. Defaults to 0.02.
    """

    def __init__(self, in_channels: int, mean: float = 1., std: float = .02):
        super().__init__()
        self.implicit = nn.Parameter(torch.empty(1, in_channels, 1, 1))
        nn.init.normal_(self.implicit, mean=mean, std=std)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.implicit
