"""A chain of rep-style blocks: YOLOv6's stage and neck fusion unit."""
import torch.nn as nn
from mmdet.utils import ConfigType
from torch import Tensor

from yolokit.registry import MODELS
from .bottle_rep import BottleRep, build_block
from .rep_vgg_block import RepVGGBlock


@MODELS.register_module()
class RepStageBlock(nn.Module):
    """``num_blocks`` units in series: ``conv1`` maps ``in -> out``, the
    optional Sequential ``block`` holds the remaining ``out -> out`` units.

    With ``bottle_block=BottleRep`` each unit is a :class:`BottleRep`
    (two ``block_cfg`` blocks, learnt residual weight), and the count is
    halved (``num_blocks // 2`` units) so the number of convs stays the
    same. Any other ``bottle_block`` means plain ``block_cfg`` units.

    (B, in, H, W) -> (B, out, H, W).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        num_blocks (int): Number of blocks. Defaults to 1.
        bottle_block (type): Unit type, ``RepVGGBlock`` (built from
            ``block_cfg``) or ``BottleRep``. Defaults to RepVGGBlock.
        block_cfg (dict): Block config. Defaults to RepVGGBlock.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 num_blocks: int = 1,
                 bottle_block: type = RepVGGBlock,
                 block_cfg: ConfigType = dict(type='RepVGGBlock')):
        super().__init__()
        if num_blocks < 1:
            raise ValueError('RepStageBlock: num_blocks must be >= 1, but '
                             f'got {num_blocks}')
        if bottle_block is BottleRep:
            num_units = num_blocks // 2

            def unit(cin: int) -> nn.Module:
                return BottleRep(cin, out_channels, block_cfg,
                                 adaptive_weight=True)
        else:
            num_units = num_blocks

            def unit(cin: int) -> nn.Module:
                return build_block(block_cfg, cin, out_channels)

        # conv1 / block are checkpoint keys; block is None for one unit
        self.conv1 = unit(in_channels)
        self.block = nn.Sequential(
            *(unit(out_channels)
              for _ in range(num_units - 1))) if num_units > 1 else None

    def forward(self, x: Tensor) -> Tensor:
        """(B, in, H, W) -> (B, out, H, W)."""
        x = self.conv1(x)
        return x if self.block is None else self.block(x)
