"""PyTorch's default conv initialisation, as the original YOLOv5/v8 use."""
import torch.nn as nn


def reset_conv_parameters(module: nn.Module) -> None:
    """Re-draw every ``nn.Conv2d`` below ``module`` with PyTorch's default.

    That default is Kaiming-uniform with ``a = sqrt(5)`` on the weight, i.e.
    ``U(-1 / sqrt(fan_in), 1 / sqrt(fan_in))``, and the same bound for the
    bias. mmcv's ``ConvModule`` replaces it with its own Kaiming-normal
    init when it is built; the Ultralytics models never do.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            m.reset_parameters()


class PyTorchConvInitMixin:
    """``init_weights`` for a ``BaseModule``: without an ``init_cfg``, every
    conv gets PyTorch's default initialisation (see
    :func:`reset_conv_parameters`); with one, mmengine's usual
    initialisation runs (e.g. ``Pretrained``).

    Put it first among the bases: ``class Neck(PyTorchConvInitMixin,
    BaseYOLONeck)``.
    """

    def init_weights(self) -> None:
        """Initialise the weights (see the class docstring)."""
        if self.init_cfg is None:
            reset_conv_parameters(self)
        else:
            super().init_weights()
