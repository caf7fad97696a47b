"""Switch a model to its inference ("deploy") form."""
from collections import Counter

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.logging import print_log
from torch.nn.modules.batchnorm import _BatchNorm


def _fold_bn_into_conv(conv: nn.Conv2d, bn: _BatchNorm) -> None:
    """Fold ``bn`` (with its running statistics) into ``conv`` in place."""
    std = torch.sqrt(bn.running_var + bn.eps)
    gamma = bn.weight if bn.affine else torch.ones_like(std)
    beta = bn.bias if bn.affine else torch.zeros_like(std)
    scale = gamma / std
    bias = conv.bias if conv.bias is not None else torch.zeros_like(std)
    with torch.no_grad():
        conv.weight = nn.Parameter(conv.weight *
                                   scale.view(-1, *([1] * (conv.weight.dim() -
                                                           1))))
        conv.bias = nn.Parameter(beta + (bias - bn.running_mean) * scale)


def fold_batchnorm(model: nn.Module) -> int:
    """Fold every BatchNorm that directly follows a conv into that conv.

    Only patterns whose execution order is known are folded: a
    ``ConvModule`` in (conv, norm, act) order, and a conv followed by a BN in
    an ``nn.Sequential``. Convs used in several places (e.g. RTMDet's
    shared head convs with a BN per level) are left alone, because one
    folded weight cannot serve several BatchNorms.

    Returns:
        int: Number of BatchNorm layers folded.
    """
    uses = Counter(
        id(m) for _, m in model.named_modules(remove_duplicate=False))

    def foldable(conv, bn) -> bool:
        return (isinstance(conv, nn.Conv2d) and isinstance(bn, _BatchNorm)
                and bn.track_running_stats and bn.running_var is not None
                and uses[id(conv)] == 1 and uses[id(bn)] == 1
                and conv.out_channels == bn.num_features)

    folded = 0
    for module in list(model.modules()):
        if isinstance(module, ConvModule):
            if module.with_norm and tuple(module.order[:2]) == ('conv',
                                                                  'norm'):
                bn = getattr(module, module.norm_name)
                if foldable(module.conv, bn):
                    _fold_bn_into_conv(module.conv, bn)
                    setattr(module, module.norm_name, nn.Identity())
                    folded += 1
        elif isinstance(module, nn.Sequential):
            names = [name for name, _ in module.named_children()]
            for prev, name in zip(names, names[1:]):
                conv, bn = getattr(module, prev), getattr(module, name)
                if foldable(conv, bn):
                    _fold_bn_into_conv(conv, bn)
                    setattr(module, name, nn.Identity())
                    folded += 1
    return folded


def switch_to_deploy(model: nn.Module, fuse_bn: bool = True) -> nn.Module:
    """Re-parameterize the model and fold BatchNorm into convolutions.

    Calls ``switch_to_deploy()`` on every submodule that defines it
    (re-parameterizable blocks such as ``RepVGGBlock`` fuse their training
    branches into one convolution this way), then, with ``fuse_bn``, folds
    BatchNorm layers into the convolutions before them
    (:func:`fold_batchnorm`). Both are exact for inference with frozen
    statistics and make it faster; the result is meant for testing and
    export, not for further training. The model is changed in place.

    Args:
        model (nn.Module): The model, possibly wrapped (e.g. DDP).
        fuse_bn (bool): Whether to fold BatchNorm into convolutions.
            Defaults to True.

    Returns:
        nn.Module: The same ``model``.
    """
    # Collect first: switching replaces submodules, so the tree must not be
    # changed under the ``modules()`` generator.
    targets = [
        module for module in model.modules()
        if callable(getattr(module, 'switch_to_deploy', None))
    ]
    for module in targets:
        module.switch_to_deploy()
    folded = fold_batchnorm(model) if fuse_bn else 0
    print_log(
        f'Switched the model to deploy mode ({len(targets)} modules '
        f're-parameterized, {folded} BatchNorm layers folded into convs).',
        logger='current')
    return model
