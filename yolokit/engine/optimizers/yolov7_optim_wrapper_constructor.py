"""The optimizer constructor of YOLOv7: YOLOv5's three groups, with the
YOLOR implicit parameters among the undecayed ones."""
from typing import List, Tuple

import torch.nn as nn

from yolokit.models.layers.implicit_a import ImplicitA
from yolokit.models.layers.implicit_m import ImplicitM
from yolokit.registry import OPTIM_WRAPPER_CONSTRUCTORS
from .yolov5_optim_constructor import _NORM_TYPES, YOLOv5OptimizerConstructor


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class YOLOv7OptimWrapperConstructor(YOLOv5OptimizerConstructor):
    """:class:`YOLOv5OptimizerConstructor` (same arguments, same weight
    decay scaling) whose group 1, besides the BatchNorm-like weights, holds
    the ``implicit`` tensor of every :class:`ImplicitA`/:class:`ImplicitM`,
    in module order as MMYOLO 0.6.0 does (so its optimizer states load):

    0. non-norm ``weight`` s, with weight decay;
    1. norm ``weight`` s and ``implicit`` s, no weight decay;
    2. every ``bias``, no weight decay.
    """

    @staticmethod
    def _group_parameters(
        model: nn.Module
    ) -> Tuple[List[nn.Parameter], List[nn.Parameter], List[nn.Parameter]]:
        weights: List[nn.Parameter] = []
        undecayed: List[nn.Parameter] = []
        biases: List[nn.Parameter] = []
        for module in model.modules():
            weight = getattr(module, 'weight', None)
            if isinstance(module, (ImplicitA, ImplicitM)):
                undecayed.append(module.implicit)
            elif isinstance(module, _NORM_TYPES):
                undecayed.append(module.weight)
            elif isinstance(weight, nn.Parameter):
                weights.append(weight)
            bias = getattr(module, 'bias', None)
            if isinstance(bias, nn.Parameter):
                biases.append(bias)
        return weights, undecayed, biases
