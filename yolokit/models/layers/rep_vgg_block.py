"""RepVGG block: three parallel branches for training, one 3x3 conv after.

Training form, for an input ``x`` of C_in channels::

    y = act(BN(conv3x3(x)) + alpha * BN(conv1x1(x)) + BN(x))

where the identity term ``BN(x)`` exists only when the block keeps the
shape (C_in == C_out, stride 1) and ``use_bn_first`` is set, and ``alpha``
(a learnt scalar, PP-YOLOE+) is 1 unless ``use_alpha``. Every branch is
linear at inference, so the three collapse into a single biased 3x3 conv
(Ding et al., "RepVGG: Making VGG-style ConvNets Great Again", 2021);
:meth:`RepVGGBlock.switch_to_deploy` does that in place.
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from yolokit.registry import MODELS
from mmdet.utils import ConfigType

__all__ = ['RepVGGBlock', 'bn_affine_of', 'identity_kernel']


def bn_affine_of(bn: _BatchNorm) -> Tuple[Tensor, Tensor]:
    """Inference BatchNorm as ``y = scale * x + shift``: two (C,) tensors."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


def identity_kernel(channels: int, groups: int, like: Tensor) -> Tensor:
    """The (C, C / groups, 3, 3) kernel of a grouped conv that copies its
    input: a single 1 at the centre tap of each channel's own input."""
    per_group = channels // groups
    kernel = like.new_zeros(channels, per_group, 3, 3)
    channel_inds = torch.arange(channels, device=like.device)
    kernel[channel_inds, channel_inds % per_group, 1, 1] = 1
    return kernel


def _conv_bn_kernel_bias(branch: ConvModule) -> Tuple[Tensor, Tensor]:
    """Kernel and bias of ``BN(conv(x))`` (a bias-free conv)."""
    scale, shift = bn_affine_of(branch.norm)
    return branch.conv.weight * scale[:, None, None, None], shift


@MODELS.register_module()
class RepVGGBlock(nn.Module):
    """Re-parameterisable 3x3 conv block (YOLOv6, YOLOv7, PP-YOLOE).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Must be 3. Defaults to 3.
        stride (int): Stride of both conv branches. Defaults to 1.
        padding (int): Must be 1 (keeps the 3x3 and 1x1 branches aligned).
            Defaults to 1.
        dilation (int): Must be 1. Kept for config compatibility.
        groups (int): Conv groups. Defaults to 1.
        padding_mode (str): Padding mode of the fused conv. Defaults to
            'zeros'.
        norm_cfg (dict): Norm of every branch. Defaults to
            ``dict(type='BN', momentum=0.03, eps=0.001)``.
        act_cfg (dict): Activation after the sum. Defaults to ReLU.
        use_se (bool): Squeeze-excitation; not supported, must be False.
        use_alpha (bool): Scale the 1x1 branch by a learnt scalar
            ``alpha`` (PP-YOLOE+). Defaults to False.
        use_bn_first (bool): Add the BatchNorm identity branch when the
            block keeps the shape (YOLOv6, YOLOv7; PP-YOLOE sets False).
            Defaults to True.
        deploy (bool): Build the fused form directly (one biased conv
            ``rbr_reparam``), e.g. to load a fused checkpoint. Defaults to
            False.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: Union[int, Tuple[int]] = 3,
                 stride: Union[int, Tuple[int]] = 1,
                 padding: Union[int, Tuple[int]] = 1,
                 dilation: Union[int, Tuple[int]] = 1,
                 groups: Optional[int] = 1,
                 padding_mode: Optional[str] = 'zeros',
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='ReLU', inplace=True),
                 use_se: bool = False,
                 use_alpha: bool = False,
                 use_bn_first: bool = True,
                 deploy: bool = False):
        super().__init__()
        for name, value, needed in (('kernel_size', kernel_size, 3),
                                    ('padding', padding, 1),
                                    ('dilation', dilation, 1)):
            if value not in (needed, (needed, needed)):
                raise ValueError(
                    f'RepVGGBlock supports only {name}={needed} (its 3x3 and '
                    f'1x1 branches must stay aligned), got {name}={value!r}')
        if use_se:
            raise NotImplementedError(
                'RepVGGBlock(use_se=True) is not supported; squeeze-'
                'excitation is not part of any YOLO model using this block')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.groups = groups
        self.deploy = deploy
        self.nonlinearity = MODELS.build(act_cfg)
        self.se = nn.Identity()  # NOTE: named for MMYOLO's module tree
        # Created in both forms: MMYOLO's fused checkpoints keep `alpha`.
        self.alpha = nn.Parameter(torch.ones(1)) if use_alpha else None

        if deploy:
            self.rbr_reparam = nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size=3,
                stride=stride,
                padding=1,
                groups=groups,
                bias=True,
                padding_mode=padding_mode)
            return
        keeps_shape = in_channels == out_channels and stride in (1, (1, 1))
        self.rbr_identity = build_norm_layer(
            norm_cfg, in_channels)[1] if use_bn_first and keeps_shape else None
        self.rbr_dense = ConvModule(
            in_channels,
            out_channels,
            kernel_size=3,
            stride=stride,
            padding=1,
            groups=groups,
            bias=False,
            norm_cfg=norm_cfg,
            act_cfg=None)
        self.rbr_1x1 = ConvModule(
            in_channels,
            out_channels,
            kernel_size=1,
            stride=stride,
            padding=0,
            groups=groups,
            bias=False,
            norm_cfg=norm_cfg,
            act_cfg=None)

    def forward(self, x: Tensor) -> Tensor:
        if self.deploy:
            return self.nonlinearity(self.se(self.rbr_reparam(x)))
        one_by_one = self.rbr_1x1(x)
        if self.alpha is not None:
            one_by_one = self.alpha * one_by_one
        out = self.rbr_dense(x) + one_by_one
        if self.rbr_identity is not None:
            out = out + self.rbr_identity(x)
        return self.nonlinearity(self.se(out))

    def get_equivalent_kernel_bias(self) -> Tuple[Tensor, Tensor]:
        """The (C_out, C_in / groups, 3, 3) kernel and (C_out,) bias of the
        one conv equal to the three training branches (differentiable)."""
        kernel, bias = _conv_bn_kernel_bias(self.rbr_dense)
        kernel_1x1, bias_1x1 = _conv_bn_kernel_bias(self.rbr_1x1)
        if self.alpha is not None:
            kernel_1x1, bias_1x1 = self.alpha * kernel_1x1, \
                self.alpha * bias_1x1
        # A 1x1 kernel is the centre tap of a 3x3 one.
        kernel = kernel + F.pad(kernel_1x1, [1, 1, 1, 1])
        bias = bias + bias_1x1
        if self.rbr_identity is not None:
            scale, shift = bn_affine_of(self.rbr_identity)
            eye = identity_kernel(self.in_channels, self.groups, kernel)
            kernel = kernel + eye * scale[:, None, None, None]
            bias = bias + shift
        return kernel, bias

    def switch_to_deploy(self) -> None:
        """Replace the training branches by the fused conv ``rbr_reparam``
        (in place; a fused block is left unchanged)."""
        if self.deploy:
            return
        with torch.no_grad():
            kernel, bias = self.get_equivalent_kernel_bias()
        dense = self.rbr_dense.conv
        self.rbr_reparam = nn.Conv2d(
            dense.in_channels,
            dense.out_channels,
            kernel_size=dense.kernel_size,
            stride=dense.stride,
            padding=dense.padding,
            groups=dense.groups,
            bias=True).to(kernel)
        self.rbr_reparam.weight.data.copy_(kernel)
        self.rbr_reparam.bias.data.copy_(bias)
        del self.rbr_dense, self.rbr_1x1, self.rbr_identity
        if self.alpha is not None:
            self.alpha.requires_grad_(False)
        self.deploy = True
