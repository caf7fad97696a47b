"""Batched task-aligned label assignment (TOOD), as used by YOLOv6 and v8."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from yolokit.models.losses import bbox_overlaps
from yolokit.registry import TASK_UTILS
from .assigner_utils import (select_candidates_in_gts, select_highest_overlaps,
                             yolov6_iou_calculator)


@TASK_UTILS.register_module()
class BatchTaskAlignedAssigner(nn.Module):
    """Assign GT boxes to the priors of a padded batch by task alignment.

    From "TOOD: Task-aligned One-stage Object Detection" (arXiv 2108.07755),
    in the batched form of YOLOv6's ``tal_assigner``:

    1. the alignment metric ``t = s ** alpha * u ** beta`` pairs every GT
       with every prediction, where ``s`` is the predicted score of the GT's
       class and ``u`` the IoU of predicted box and GT;
    2. per GT, the ``topk`` priors with the largest ``t`` among those whose
       centre lies inside the GT become candidates (an anchor-free head can
       only regress positive distances);
    3. a prior claimed by several GTs keeps the one it overlaps most;
    4. the one-hot class targets of the positives are scaled by
       ``t / max_t(GT) * max_u(GT)`` (the largest over its GTs).

    Args:
        num_classes (int): Number of classes.
        topk (int): Candidates per GT. Defaults to 13.
        alpha (float): Exponent of the score in the metric. Defaults to 1.0.
        beta (float): Exponent of the IoU in the metric. Defaults to 6.0.
        eps (float): Keeps the normalisation finite. Defaults to 1e-7.
        use_ciou (bool): Use CIoU (clamped at 0) instead of IoU for ``u``.
            Defaults to False.
    """

    def __init__(self,
                 num_classes: int,
                 topk: int = 13,
                 alpha: float = 1.0,
                 beta: float = 6.0,
                 eps: float = 1e-7,
                 use_ciou: bool = False):
        super().__init__()
        if topk < 1:
            raise ValueError(f'topk must be >= 1, but got {topk}')
        self.num_classes = num_classes
        self.topk = topk
        self.alpha = alpha
        self.beta = beta
        self.eps = eps
        self.use_ciou = use_ciou

    @torch.no_grad()
    def forward(self, pred_bboxes: Tensor, pred_scores: Tensor, priors: Tensor,
                gt_labels: Tensor, gt_bboxes: Tensor,
                pad_bbox_flag: Tensor) -> dict:
        """Assign GTs to the priors of every image.

        Args:
            pred_bboxes (Tensor): Predicted boxes ``(B, P, 4)``, x1y1x2y2.
            pred_scores (Tensor): Predicted class scores (after sigmoid)
                ``(B, P, num_classes)``.
            priors (Tensor): Priors ``(P, 4)`` as (x, y, stride_w,
                stride_h); only the centres are used.
            gt_labels (Tensor): GT labels ``(B, G, 1)``.
            gt_bboxes (Tensor): GT boxes ``(B, G, 4)``, x1y1x2y2.
            pad_bbox_flag (Tensor): ``(B, G, 1)``, 1 for real GTs and 0 for
                padding.

        Returns:
            dict: ``assigned_labels`` ``(B, P)`` (long),
            ``assigned_bboxes`` ``(B, P, 4)``, ``assigned_scores``
            ``(B, P, num_classes)`` and ``fg_mask_pre_prior`` ``(B, P)``
            (bool). With no GT every prior is background: label
            ``num_classes`` and zero boxes and scores.
        """
        priors = priors[:, :2]
        batch_size, num_priors = pred_scores.shape[:2]
        num_gt = gt_bboxes.size(1)

        result = dict(
            assigned_labels=pred_scores.new_full((batch_size, num_priors),
                                                 self.num_classes,
                                                 dtype=torch.long),
            assigned_bboxes=gt_bboxes.new_zeros(pred_bboxes.shape),
            assigned_scores=gt_bboxes.new_zeros(pred_scores.shape),
            fg_mask_pre_prior=pred_scores.new_zeros((batch_size, num_priors),
                                                    dtype=torch.bool))
        if num_gt == 0 or num_priors == 0:
            return result

        pos_mask, alignment_metrics, overlaps = self.get_pos_mask(
            pred_bboxes, pred_scores, priors, gt_labels, gt_bboxes,
            pad_bbox_flag, batch_size, num_gt)
        assigned_gt_idxs, fg_mask_pre_prior, pos_mask = \
            select_highest_overlaps(pos_mask, overlaps, num_gt)
        assigned_labels, assigned_bboxes, assigned_scores = self.get_targets(
            gt_labels, gt_bboxes, assigned_gt_idxs, fg_mask_pre_prior,
            batch_size, num_gt)

        # Soft targets: each GT's best positive gets that GT's best IoU.
        alignment_metrics = alignment_metrics * pos_mask
        max_metric_per_gt = alignment_metrics.amax(dim=-1, keepdim=True)
        max_iou_per_gt = (overlaps * pos_mask).amax(dim=-1, keepdim=True)
        norm_metrics = (alignment_metrics * max_iou_per_gt /
                        (max_metric_per_gt + self.eps)).amax(dim=-2)
        assigned_scores = assigned_scores * norm_metrics[..., None]

        result.update(
            assigned_labels=assigned_labels,
            assigned_bboxes=assigned_bboxes,
            assigned_scores=assigned_scores,
            fg_mask_pre_prior=fg_mask_pre_prior.bool())
        return result

    def get_pos_mask(self, pred_bboxes: Tensor, pred_scores: Tensor,
                     priors: Tensor, gt_labels: Tensor, gt_bboxes: Tensor,
                     pad_bbox_flag: Tensor, batch_size: int,
                     num_gt: int) -> Tuple[Tensor, Tensor, Tensor]:
        """Candidate mask of every (GT, prior) pair.

        Args:
            priors (Tensor): Prior centres ``(P, 2)``.
            Others: see :meth:`forward`.

        Returns:
            tuple[Tensor, Tensor, Tensor]: ``pos_mask``,
            ``alignment_metrics`` and ``overlaps``, each ``(B, G, P)``.
        """
        alignment_metrics, overlaps = self.get_box_metrics(
            pred_bboxes, pred_scores, gt_labels, gt_bboxes, batch_size, num_gt)
        is_in_gts = select_candidates_in_gts(priors, gt_bboxes)
        topk_mask = pad_bbox_flag.repeat(1, 1, self.topk).bool()
        is_in_topk = self.select_topk_candidates(
            alignment_metrics * is_in_gts, topk_mask=topk_mask)
        pos_mask = is_in_topk * is_in_gts * pad_bbox_flag
        return pos_mask, alignment_metrics, overlaps

    def get_box_metrics(self, pred_bboxes: Tensor, pred_scores: Tensor,
                        gt_labels: Tensor, gt_bboxes: Tensor, batch_size: int,
                        num_gt: int) -> Tuple[Tensor, Tensor]:
        """Alignment metric and IoU of every (GT, prediction) pair.

        Returns:
            tuple[Tensor, Tensor]: ``alignment_metrics`` and ``overlaps``,
            each ``(B, G, P)``.
        """
        # score of each GT's class at each prior: (B, G, P)
        labels = gt_labels.long().squeeze(-1).clamp(min=0)
        batch_inds = torch.arange(
            batch_size, device=labels.device)[:, None].expand(-1, num_gt)
        bbox_scores = pred_scores.permute(0, 2, 1)[batch_inds, labels]

        if self.use_ciou:
            overlaps = bbox_overlaps(
                pred_bboxes[:, None],
                gt_bboxes[:, :, None],
                iou_mode='ciou',
                bbox_format='xyxy').clamp(min=0)
        else:
            overlaps = yolov6_iou_calculator(gt_bboxes, pred_bboxes)
        alignment_metrics = bbox_scores.pow(self.alpha) * overlaps.pow(
            self.beta)
        return alignment_metrics, overlaps

    def select_topk_candidates(self,
                               alignment_gt_metrics: Tensor,
                               using_largest_topk: bool = True,
                               topk_mask: Optional[Tensor] = None) -> Tensor:
        """Mask of the ``topk`` priors of each GT.

        Args:
            alignment_gt_metrics (Tensor): ``(B, G, P)``.
            using_largest_topk (bool): Select the largest (True) or the
                smallest values. Defaults to True.
            topk_mask (Tensor, optional): ``(B, G, topk)`` bool, False for
                padded GTs; if None, GTs whose best metric is not above
                ``eps`` select nothing.

        Returns:
            Tensor: ``(B, G, P)`` 0/1 mask in the metric's dtype. With fewer
            than ``topk`` priors, all of them are candidates.
        """
        num_priors = alignment_gt_metrics.size(-1)
        k = min(self.topk, num_priors)
        topk_metrics, topk_idxs = torch.topk(
            alignment_gt_metrics, k, dim=-1, largest=using_largest_topk)
        if topk_mask is None:
            topk_mask = (topk_metrics.amax(dim=-1, keepdim=True)
                         > self.eps).expand_as(topk_idxs)
        else:
            topk_mask = topk_mask[..., :k]
        # A masked-out GT points all its k slots at prior 0; the count of k
        # there (> 1) is wiped below, like any duplicate.
        topk_idxs = torch.where(topk_mask, topk_idxs,
                                torch.zeros_like(topk_idxs))
        is_in_topk = F.one_hot(topk_idxs, num_priors).sum(dim=-2)
        is_in_topk = torch.where(is_in_topk > 1, torch.zeros_like(is_in_topk),
                                 is_in_topk)
        return is_in_topk.to(alignment_gt_metrics.dtype)

    def get_targets(self, gt_labels: Tensor, gt_bboxes: Tensor,
                    assigned_gt_idxs: Tensor, fg_mask_pre_prior: Tensor,
                    batch_size: int,
                    num_gt: int) -> Tuple[Tensor, Tensor, Tensor]:
        """Gather the targets of the assigned GTs.

        Returns:
            tuple[Tensor, Tensor, Tensor]: labels ``(B, P)`` (negatives get
            the label of GT 0 of their image; use the fg mask), boxes
            ``(B, P, 4)`` and one-hot scores ``(B, P, num_classes)`` that are
            zero for negatives.
        """
        batch_inds = torch.arange(
            batch_size, dtype=torch.long, device=gt_labels.device)[:, None]
        flat_idxs = assigned_gt_idxs + batch_inds * num_gt
        assigned_labels = gt_labels.long().flatten()[flat_idxs]
        assigned_bboxes = gt_bboxes.reshape(-1, 4)[flat_idxs]

        assigned_labels = assigned_labels.clamp(min=0)
        assigned_scores = F.one_hot(assigned_labels, self.num_classes)
        is_fg = fg_mask_pre_prior[..., None] > 0
        assigned_scores = torch.where(is_fg, assigned_scores,
                                      torch.zeros_like(assigned_scores))
        return assigned_labels, assigned_bboxes, assigned_scores
