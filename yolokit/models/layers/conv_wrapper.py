"""A plain conv -> (norm) -> act unit that takes RepVGGBlock's arguments."""
from mmcv.cnn import ConvModule
from mmdet.utils import OptConfigType
from torch import Tensor
import torch.nn as nn

from yolokit.registry import MODELS


@MODELS.register_module()
class ConvWrapper(nn.Module):
    """``act(norm(conv_kxk(x)))`` with 'same' padding ``k // 2``.

    YOLOv6's CSP variants (m, l) swap :class:`RepVGGBlock` for this unit
    through ``block_cfg``, so it accepts the same leading arguments. By
    default it has no norm and a biased conv, as in YOLOv6.

    (B, in, H, W) -> (B, out, ceil(H / stride), ceil(W / stride)).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Conv kernel size. Defaults to 3.
        stride (int): Conv stride. Defaults to 1.
        groups (int): Conv groups. Defaults to 1.
        bias (bool): Give the conv a bias. Defaults to True.
        norm_cfg (dict, optional): Norm config. Defaults to None.
        act_cfg (dict, optional): Activation config. Defaults to SiLU.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 3,
                 stride: int = 1,
                 groups: int = 1,
                 bias: bool = True,
                 norm_cfg: OptConfigType = None,
                 act_cfg: OptConfigType = dict(type='SiLU')):
        super().__init__()
        # `block` is the checkpoint key of the wrapped unit
        self.block = ConvModule(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding=kernel_size // 2,
            groups=groups,
            bias=bias,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)

    def forward(self, x: Tensor) -> Tensor:
        """(B, in, H, W) -> (B, out, H / stride, W / stride)."""
        return self.block(x)
