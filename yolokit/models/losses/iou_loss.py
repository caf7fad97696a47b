"""IoU-family box regression loss (CIoU / GIoU / SIoU)."""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from mmdet.models.losses.utils import weight_reduce_loss
from torch import Tensor

from yolokit.registry import MODELS
from .bbox_overlaps import BBOX_FORMATS, bbox_overlaps

LOSS_IOU_MODES = ('ciou', 'siou', 'giou')
REDUCTIONS = ('none', 'mean', 'sum')


@MODELS.register_module()
class IoULoss(nn.Module):
    """``1 - IoU`` loss between paired predicted and target boxes.

    Args:
        iou_mode (str): ``'ciou'``, ``'giou'`` or ``'siou'`` (see
            :func:`bbox_overlaps`). Defaults to ``'ciou'``.
        bbox_format (str): ``'xywh'`` (centre, size) or ``'xyxy'``.
            Defaults to ``'xywh'``.
        eps (float): Small value that keeps divisions finite.
            Defaults to 1e-7.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        return_iou (bool): If True, ``forward`` returns ``(loss, iou)``; the
            IoU is what YOLOv5 uses as objectness target. Defaults to True.
    """

    def __init__(self,
                 iou_mode: str = 'ciou',
                 bbox_format: str = 'xywh',
                 eps: float = 1e-7,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 return_iou: bool = True):
        super().__init__()
        if bbox_format not in BBOX_FORMATS:
            raise ValueError(f'IoULoss: bbox_format must be one of '
                             f'{BBOX_FORMATS}, but got {bbox_format!r}')
        if iou_mode not in LOSS_IOU_MODES:
            raise ValueError(f'IoULoss: iou_mode must be one of '
                             f'{LOSS_IOU_MODES}, but got {iou_mode!r}')
        if reduction not in REDUCTIONS:
            raise ValueError(f'IoULoss: reduction must be one of '
                             f'{REDUCTIONS}, but got {reduction!r}')
        self.iou_mode = iou_mode
        self.bbox_format = bbox_format
        self.eps = eps
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.return_iou = return_iou

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        weight: Optional[Tensor] = None,
        avg_factor: Optional[float] = None,
        reduction_override: Optional[Union[str, bool]] = None
    ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """Compute the loss.

        Args:
            pred (Tensor): Predicted boxes, shape ``(n, 4)``, in
                ``bbox_format``.
            target (Tensor): Target boxes, shape ``(n, 4)``.
            weight (Tensor, optional): Per-box weights, shape ``(n,)`` or
                ``(n, 4)`` (averaged over the last dimension).
            avg_factor (float, optional): Divisor of the summed loss for
                ``'mean'`` reduction, instead of the element count.
            reduction_override (str, optional): Overrides ``reduction``.

        Returns:
            Tensor | tuple[Tensor, Tensor]: The loss, or ``(loss, iou)`` when
            ``return_iou`` is set. If ``weight`` is given and has no positive
            element, only a zero loss that keeps the graph is returned (even
            with ``return_iou``), as in MMYOLO.
        """
        if weight is not None and not torch.any(weight > 0):
            if pred.dim() == weight.dim() + 1:
                weight = weight.unsqueeze(1)
            return (pred * weight).sum()
        if reduction_override not in (None, ) + REDUCTIONS:
            raise ValueError(f'IoULoss: reduction_override must be None or '
                             f'one of {REDUCTIONS}, but got '
                             f'{reduction_override!r}')
        reduction = reduction_override if reduction_override else \
            self.reduction
        if weight is not None and weight.dim() > 1:
            weight = weight.mean(-1)

        iou = bbox_overlaps(
            pred,
            target,
            iou_mode=self.iou_mode,
            bbox_format=self.bbox_format,
            eps=self.eps)
        loss = self.loss_weight * weight_reduce_loss(1.0 - iou, weight,
                                                     reduction, avg_factor)
        if self.return_iou:
            return loss, iou
        return loss
