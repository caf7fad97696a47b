"""Ground truth of a batch as one zero-padded tensor.

Dims: B images, G GT slots per image (the largest count in the batch), d
box values (4 for x1y1x2y2, 5 for rotated boxes).
"""
from typing import NamedTuple, Sequence, Union

import torch
from torch import Tensor


def _rows_of_instances(batch_gt_instances: Sequence) -> Tensor:
    """``InstanceData`` per image -> ``(N, 2 + d)`` rows (img, label, box)."""
    rows = []
    for img_idx, gt in enumerate(batch_gt_instances):
        # box structures (HorizontalBoxes, RotatedBoxes) wrap the tensor
        boxes = getattr(gt.bboxes, 'tensor', gt.bboxes)
        labels = gt.labels.to(boxes.dtype).view(-1, 1)
        boxes = boxes.reshape(len(labels), boxes.size(-1))
        rows.append(
            torch.cat([labels.new_full(labels.shape, img_idx), labels, boxes],
                      dim=1))
    return torch.cat(rows) if rows else torch.zeros((0, 6))


def gt_instances_preprocess(batch_gt_instances: Union[Tensor, Sequence],
                            batch_size: int) -> Tensor:
    """Group the GT of a batch by image, padded with all-zero rows.

    Args:
        batch_gt_instances (Tensor | Sequence[InstanceData]): The "fast"
            ``(N, 2 + d)`` tensor of ``yolov5_collate`` with rows
            ``(img_idx, label, box...)``, or one ``InstanceData`` (with
            ``bboxes`` and ``labels``) per image.
        batch_size (int): ``B``. Rows whose image index is not in
            ``[0, B)`` are left out, as MMYOLO does.

    Returns:
        Tensor: ``(B, G, 1 + d)`` rows ``(label, box...)``; slot ``g`` of
        image ``b`` holds the ``g``-th row of that image, in input order.
    """
    if isinstance(batch_gt_instances, Tensor):
        rows = batch_gt_instances
    else:
        rows = _rows_of_instances(batch_gt_instances)
    width = rows.shape[1] - 1
    img_inds = rows[:, 0].long()
    in_batch = (img_inds >= 0) & (img_inds < batch_size)
    rows, img_inds = rows[in_batch], img_inds[in_batch]
    counts = torch.bincount(img_inds, minlength=batch_size)
    num_slots = int(counts.max()) if len(rows) else 0
    out = rows.new_zeros((batch_size, num_slots, width))
    if len(rows):
        # slot of a row = how many rows of its image come before it
        order = torch.argsort(img_inds, stable=True)
        sorted_inds = img_inds[order]
        first_row = torch.cumsum(counts, 0) - counts
        slots = torch.arange(len(order), device=rows.device)
        out[sorted_inds, slots - first_row[sorted_inds]] = rows[order, 1:]
    return out


class PaddedGT(NamedTuple):
    """Padded GT in the layout the batched assigners take."""
    labels: Tensor  # (B, G, 1), float like the boxes
    boxes: Tensor  # (B, G, d)
    is_real: Tensor  # (B, G, 1) float: 1 for a GT, 0 for a padding slot

    @classmethod
    def from_batch(cls, batch_gt_instances: Union[Tensor, Sequence],
                   batch_size: int, device: torch.device) -> 'PaddedGT':
        """Pad ``batch_gt_instances`` (see :func:`gt_instances_preprocess`).

        Padding slots are all zeros, and a real box never is (its corners
        differ), so a slot is real when any box value is non-zero.
        """
        padded = gt_instances_preprocess(batch_gt_instances,
                                         batch_size).to(device)
        boxes = padded[..., 1:]
        is_real = (boxes != 0).any(dim=-1, keepdim=True)
        return cls(padded[..., :1], boxes, is_real.to(boxes.dtype))
