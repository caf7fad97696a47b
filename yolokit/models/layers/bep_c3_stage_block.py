"""BepC3: a CSP split whose main path is a BottleRep stage (YOLOv6 m/l)."""
import torch
import torch.nn as nn
from mmdet.utils import ConfigType
from torch import Tensor

from .bottle_rep import BottleRep
from .conv_recipe import ConvRecipe
from .rep_stage_block import RepStageBlock


class BepC3StageBlock(nn.Module):
    """``y = conv3(cat(block(conv1(x)), conv2(x)))`` with ``hid =
    int(out_channels * hidden_ratio)``.

    ``conv1``/``conv2`` are 1x1 ``in -> hid`` convs, ``block`` a
    :class:`RepStageBlock` of :class:`BottleRep` units on ``hid`` channels,
    ``conv3`` a 1x1 fusion ``2 hid -> out``. Without ``concat_all_layer``
    the ``conv2`` branch is dropped from the sum and ``conv3`` fuses
    ``hid -> out`` (``conv2`` is still built, as its weights are in
    checkpoints). All 1x1 convs are bias-free conv -> norm -> act.

    (B, in, H, W) -> (B, out, H, W).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        num_blocks (int): Blocks of the inner stage (BottleRep units hold
            two each). Defaults to 1.
        hidden_ratio (float): ``hid / out``. Defaults to 0.5.
        concat_all_layer (bool): Concat the ``conv2`` branch. Defaults to
            True.
        block_cfg (dict): Inner block config. Defaults to RepVGGBlock.
        norm_cfg (dict): Norm of the 1x1 convs. Defaults to BN (momentum
            0.03, eps 0.001).
        act_cfg (dict): Activation of the 1x1 convs. Defaults to ReLU.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 num_blocks: int = 1,
                 hidden_ratio: float = 0.5,
                 concat_all_layer: bool = True,
                 block_cfg: ConfigType = dict(type='RepVGGBlock'),
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='ReLU', inplace=True)):
        super().__init__()
        hidden = int(out_channels * hidden_ratio)
        convs = ConvRecipe(norm_cfg, act_cfg)
        self.conv1 = convs(in_channels, hidden, 1)
        self.conv2 = convs(in_channels, hidden, 1)
        num_fused = 2 if concat_all_layer else 1
        self.conv3 = convs(num_fused * hidden, out_channels, 1)
        self.block = RepStageBlock(
            hidden,
            hidden,
            num_blocks=num_blocks,
            bottle_block=BottleRep,
            block_cfg=block_cfg)
        self.concat_all_layer = concat_all_layer

    def forward(self, x: Tensor) -> Tensor:
        """(B, in, H, W) -> (B, out, H, W)."""
        main = self.block(self.conv1(x))
        if self.concat_all_layer:
            main = torch.cat((main, self.conv2(x)), dim=1)
        return self.conv3(main)
