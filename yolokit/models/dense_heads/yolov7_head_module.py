"""Prediction convolutions of the YOLOv7 P5 head (YOLOR implicit knowledge
around a 1x1 conv)."""
import math
from typing import Tuple

import torch.nn as nn

from yolokit.registry import MODELS
from ..layers.implicit_a import ImplicitA
from ..layers.implicit_m import ImplicitM
from .yolov5_head_module import YOLOv5HeadModule


def yolov7_bias_offsets(num_classes: int, stride: int) -> Tuple[float, float]:
    """Objectness and class bias offsets of a level, as YOLOv7 sets them:
    ``log(8 / (640 / stride) ** 2)`` and ``log(0.6 / (num_classes - 0.99))``
    (YOLOv5 uses 0.999999 in the second)."""
    return (math.log(8 / (640 / stride)**2),
            math.log(0.6 / (num_classes - 0.99)))


def add_prior_biases(conv: nn.Conv2d, num_base_priors: int, num_classes: int,
                     stride: int) -> None:
    """Add :func:`yolov7_bias_offsets` in place to ``conv``'s bias, laid
    out as (A, 5 + C): box, objectness, classes."""
    obj_offset, cls_offset = yolov7_bias_offsets(num_classes, stride)
    per_prior = conv.bias.data.view(num_base_priors, -1)
    per_prior[:, 4] += obj_offset
    per_prior[:, 5:] += cls_offset


@MODELS.register_module()
class YOLOv7HeadModule(YOLOv5HeadModule):
    """YOLOv5's head module with each 1x1 prediction conv wrapped as
    ``convs_pred[i] = Sequential(ImplicitA(C_i), Conv2d, ImplicitM(A(5+C)))``;
    outputs as :class:`YOLOv5HeadModule`.
    """

    def _init_layers(self) -> None:
        width = self.num_base_priors * self.num_out_attrib
        self.convs_pred = nn.ModuleList(
            nn.Sequential(
                ImplicitA(c), nn.Conv2d(c, width, 1), ImplicitM(width))
            for c in self.in_channels)

    def init_weights(self) -> None:
        """Default init, then the prior biases (first call only, as
        :meth:`YOLOv5HeadModule.init_weights`)."""
        first_call = not self.is_init
        super(YOLOv5HeadModule, self).init_weights()
        if not first_call:
            return
        for branch, stride in zip(self.convs_pred, self.featmap_strides):
            add_prior_biases(branch[1], self.num_base_priors, self.num_classes,
                             stride)
