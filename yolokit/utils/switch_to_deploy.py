"""Switch a model's re-parameterizable blocks to their inference form."""
import torch.nn as nn
from mmengine.logging import print_log


def switch_to_deploy(model: nn.Module) -> nn.Module:
    """Call ``switch_to_deploy()`` on every submodule that defines it.

    Re-parameterizable blocks (e.g. ``RepVGGBlock``) fuse their training
    branches into one convolution this way. The model is changed in place.

    Args:
        model (nn.Module): The model, possibly wrapped (e.g. DDP).

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
    print_log(
        f'Switched the model to deploy mode ({len(targets)} modules '
        're-parameterized).',
        logger='current')
    return model
