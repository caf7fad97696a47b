"""E-ELAN: the sum of several parallel ELAN blocks."""
import torch.nn as nn
from torch import Tensor

from yolokit.registry import MODELS
from .elan_block import ELANBlock


@MODELS.register_module()
class EELANBlock(nn.Module):
    """Extended ELAN of YOLOv7-E2E: ``num_elan_block`` ELAN blocks with the
    same arguments see the same input; their outputs are summed.

    Args:
        num_elan_block (int): Number of parallel ELAN blocks (>= 1).
        **kwargs: Arguments of every :class:`ELANBlock`.
    """

    def __init__(self, num_elan_block: int, **kwargs):
        super().__init__()
        if num_elan_block < 1:
            raise ValueError(
                f'num_elan_block must be >= 1, got {num_elan_block}')
        self.e_elan_blocks = nn.ModuleList(
            ELANBlock(**kwargs) for _ in range(num_elan_block))

    def forward(self, x: Tensor) -> Tensor:
        return sum(block(x) for block in self.e_elan_blocks)
