"""Batch the ground-truth boxes of a batch into one padded tensor."""
from typing import Sequence, Union

import torch
from torch import Tensor


def gt_instances_preprocess(batch_gt_instances: Union[Tensor, Sequence],
                            batch_size: int) -> Tensor:
    """Split the ground truth of a batch per image and zero-pad it.

    Args:
        batch_gt_instances (Tensor | Sequence[InstanceData]): Either the
            "fast" tensor ``[num_all_gt, box_dim + 2]`` with rows
            ``(img_idx, label, box...)`` made by ``yolov5_collate``, or one
            ``InstanceData`` (with ``bboxes`` and ``labels``) per image.
        batch_size (int): Number of images in the batch.

    Returns:
        Tensor: ``[batch_size, max_num_gt, box_dim + 1]`` with rows
        ``(label, box...)``; images with fewer boxes are padded with zeros.
        ``box_dim`` is 4 for horizontal and 5 for rotated boxes.
    """
    if isinstance(batch_gt_instances, Sequence):
        per_image = []
        for gt in batch_gt_instances:
            bboxes = gt.bboxes
            # rotated / horizontal box structures wrap the raw tensor
            bboxes = getattr(bboxes, 'tensor', bboxes)
            labels = gt.labels.to(bboxes.dtype).view(-1, 1)
            bboxes = bboxes.reshape(len(labels), bboxes.size(-1))
            per_image.append(torch.cat([labels, bboxes], dim=1))
        max_gt = max((len(t) for t in per_image), default=0)
        width = per_image[0].shape[1] if per_image else 5
        out = per_image[0].new_zeros((len(per_image), max_gt, width)) \
            if per_image else torch.zeros((batch_size, 0, width))
        for i, rows in enumerate(per_image):
            out[i, :len(rows)] = rows
        return out

    width = batch_gt_instances.shape[1] - 1
    if len(batch_gt_instances) == 0:
        return batch_gt_instances.new_zeros((batch_size, 0, width))
    img_idx = batch_gt_instances[:, 0].long()
    counts = torch.bincount(img_idx, minlength=batch_size)
    out = batch_gt_instances.new_zeros((batch_size, int(counts.max()), width))
    # position of each row among the rows of its own image
    order = torch.argsort(img_idx, stable=True)
    sorted_idx = img_idx[order]
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(len(order), device=img_idx.device) - starts[sorted_idx]
    out[sorted_idx, slot] = batch_gt_instances[order, 1:]
    return out
