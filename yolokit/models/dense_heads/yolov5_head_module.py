"""Prediction convolutions of the YOLOv5 head."""
import math
from typing import List, Sequence, Tuple, Union

import torch.nn as nn
from mmdet.models.utils import multi_apply
from mmdet.utils import OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from yolokit.registry import MODELS
from ..utils import make_divisible


def widened_level_channels(owner: str, in_channels: Union[int, Sequence[int]],
                           num_levels: int,
                           widen_factor: float) -> List[int]:
    """Input channels of each level after ``widen_factor``; an int stands
    for every level. ``owner`` names the module in the error."""
    if isinstance(in_channels, int):
        in_channels = [in_channels] * num_levels
    if len(in_channels) != num_levels:
        raise ValueError(
            f'{owner}: in_channels has {len(in_channels)} entries but '
            f'featmap_strides has {num_levels} levels')
    return [make_divisible(c, widen_factor) for c in in_channels]


@MODELS.register_module()
class YOLOv5HeadModule(BaseModule):
    """YOLOv5 head module: one unshared 1x1 conv per level.

    Each conv predicts, for every prior at every position, ``4`` box values,
    ``1`` objectness and ``num_classes`` class scores (in that order).

    Args:
        num_classes (int): Number of classes, without background.
        in_channels (int | Sequence[int]): Input channels of each level
            before ``widen_factor``; an int is used for every level.
        widen_factor (float): Channel multiplier. Defaults to 1.0.
        num_base_priors (int): Number of priors per position. Defaults to 3.
        featmap_strides (Sequence[int]): Stride of each level.
            Defaults to (8, 16, 32).
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: Union[int, Sequence],
                 widen_factor: float = 1.0,
                 num_base_priors: int = 3,
                 featmap_strides: Sequence[int] = (8, 16, 32),
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        self.widen_factor = widen_factor
        self.featmap_strides = featmap_strides
        self.num_levels = len(featmap_strides)
        self.num_base_priors = num_base_priors
        # per prior: 4 box values, 1 objectness, then the class scores
        self.num_out_attrib = 5 + num_classes
        self.in_channels = widened_level_channels(type(self).__name__,
                                                  in_channels,
                                                  self.num_levels,
                                                  widen_factor)
        self._init_layers()

    def _init_layers(self) -> None:
        """Build ``convs_pred``."""
        self.convs_pred = nn.ModuleList(
            nn.Conv2d(c, self.num_base_priors * self.num_out_attrib, 1)
            for c in self.in_channels)

    def init_weights(self) -> None:
        """Default init, then prior biases (see :func:`prior_bias_offsets`).

        The offsets are added to the default biases, so they are applied
        only on the first call: a second call would add them twice.
        """
        first_call = not self.is_init
        super().init_weights()
        if not first_call:
            return
        for conv, stride in zip(self.convs_pred, self.featmap_strides):
            obj_offset, cls_offset = prior_bias_offsets(
                self.num_classes, stride)
            per_prior = conv.bias.data.view(self.num_base_priors,
                                            self.num_out_attrib)
            per_prior[:, 4] += obj_offset
            per_prior[:, 5:] += cls_offset

    def forward(self, x: Tuple[Tensor]) -> Tuple[List]:
        """Predict every level.

        Args:
            x (tuple[Tensor]): One feature map ``(B, C_i, H_i, W_i)`` per
                level.

        Returns:
            tuple[list[Tensor]]: Per level class scores ``(B, A * C, H, W)``,
            box predictions ``(B, A * 4, H, W)`` and objectnesses
            ``(B, A, H, W)`` (A priors per position).
        """
        if len(x) != self.num_levels:
            raise ValueError(f'YOLOv5HeadModule expects {self.num_levels} '
                             f'feature maps, but got {len(x)}')
        return multi_apply(self.forward_single, x, self.convs_pred)

    def forward_single(self, x: Tensor,
                       convs: nn.Module) -> Tuple[Tensor, Tensor, Tensor]:
        """One level: the conv's channels hold, prior after prior, 4 box
        values, the objectness and the class scores; split them."""
        out = convs(x)
        b, _, h, w = out.shape
        per_prior = out.view(b, self.num_base_priors, self.num_out_attrib, h,
                             w)
        box, obj, cls = per_prior.split((4, 1, self.num_classes), dim=2)
        return tuple(t.reshape(b, -1, h, w) for t in (cls, box, obj))


def prior_bias_offsets(num_classes: int, stride: int) -> Tuple[float, float]:
    """YOLOv5's bias priors of a level of ``stride``.

    The objectness starts near 8 objects per 640x640 image, spread over
    the ``(640 / stride) ** 2`` cells: ``log(8 / (640 / stride) ** 2)``; the
    class scores near 0.6 split over the classes:
    ``log(0.6 / (num_classes - 0.999999))``.

    Returns:
        tuple[float, float]: Offsets of the objectness and class biases.
    """
    return (math.log(8 / (640 / stride)**2),
            math.log(0.6 / (num_classes - 0.999999)))
