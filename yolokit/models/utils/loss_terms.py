"""Small pieces every head's ``loss_by_feat`` ends with."""
from typing import Dict

from mmengine.dist import get_world_size
from torch import Tensor


def graph_keeping_zero(*outputs: Tensor) -> Tensor:
    """A zero loss that still depends on every given output.

    Used for a term without positives: in distributed training every
    parameter must receive a gradient (even a zero one) in every step, or
    DDP's gradient synchronisation waits forever.
    """
    return sum(out.sum() * 0 for out in outputs)


def scale_by_images_and_world(terms: Dict[str, Tensor],
                              num_imgs: int) -> Dict[str, Tensor]:
    """Multiply each loss by ``num_imgs * world_size``.

    YOLOv5/v7/v8 average their terms over the positives of the local batch;
    the official code then multiplies by the batch size, and DDP averages
    gradients over the processes, hence the world size.
    """
    scale = num_imgs * get_world_size()
    return {name: value * scale for name, value in terms.items()}
