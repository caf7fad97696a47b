"""RTMDet's dynamic soft label assignment, for a whole padded batch."""
from typing import Dict

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.structures.bbox import BaseBoxes
from mmdet.utils import ConfigType
from torch import Tensor

from yolokit.registry import TASK_UTILS

EPS = 1.0e-7


@TASK_UTILS.register_module()
class BatchDynamicSoftLabelAssigner(nn.Module):
    """Dynamic soft label assigner of RTMDet, batched over images.

    For every (prior, GT) pair of an image the matching cost is

    .. code:: text

        cost = soft_cls_cost + iou_weight * -log(IoU + 1e-7)
               + 10 ** (|prior - gt_centre| / stride - soft_center_radius)

        soft_cls_cost = sum_c BCE(x_c, y_c) * |y_c - sigmoid(x_c)| ** 2,
        y = one_hot(gt_label) * IoU   (a soft label)

    where ``x`` are the class logits of the prior and IoU is between its
    decoded box and the GT. Only priors whose point lies strictly inside at
    least one GT of the image are candidates. Each GT takes its
    ``dynamic_k = max(1, int(sum of its topk largest IoUs over the
    candidates))`` lowest-cost candidates; a prior taken by several GTs keeps
    the GT of lowest cost. This is the algorithm of MMDetection's
    ``DynamicSoftLabelAssigner`` (and of the RTMDet description in the
    MMYOLO docs), computed for a padded batch at once.

    Args:
        num_classes (int): Number of classes, without background.
        soft_center_radius (float): ``beta`` of the soft centre prior
            ``10 ** (distance - beta)``. Defaults to 3.0.
        topk (int): Number of largest IoUs summed to get ``dynamic_k``.
            Defaults to 13.
        iou_weight (float): Weight of the ``-log(IoU)`` cost.
            Defaults to 3.0.
        iou_calculator (dict): Config of the pairwise IoU calculator.
            Defaults to ``dict(type='mmdet.BboxOverlaps2D')``.
        batch_iou (bool): Compute the IoUs of the whole batch in one call;
            False loops over the images (less peak memory).
            Defaults to True.
    """

    def __init__(
        self,
        num_classes,
        soft_center_radius: float = 3.0,
        topk: int = 13,
        iou_weight: float = 3.0,
        iou_calculator: ConfigType = dict(type='mmdet.BboxOverlaps2D'),
        batch_iou: bool = True,
    ) -> None:
        super().__init__()
        if topk < 1:
            raise ValueError(
                f'BatchDynamicSoftLabelAssigner: topk must be >= 1, got {topk}')
        self.num_classes = num_classes
        self.soft_center_radius = soft_center_radius
        self.topk = topk
        self.iou_weight = iou_weight
        self.iou_calculator = TASK_UTILS.build(iou_calculator)
        self.batch_iou = batch_iou

    @torch.no_grad()
    def forward(self, pred_bboxes: Tensor, pred_scores: Tensor, priors: Tensor,
                gt_labels: Tensor, gt_bboxes: Tensor,
                pad_bbox_flag: Tensor) -> Dict[str, Tensor]:
        """Assign a GT or the background to every prior of every image.

        Args:
            pred_bboxes (Tensor): Decoded predicted boxes ``(B, N, 4)``,
                (x1, y1, x2, y2).
            pred_scores (Tensor): Class logits ``(B, N, C)``; ``C`` need not
                be ``num_classes``.
            priors (Tensor): Prior points ``(N, 4)`` as (x, y, stride_w,
                stride_h).
            gt_labels (Tensor): GT labels ``(B, G, 1)`` (or ``(B, G)``),
                zero-padded.
            gt_bboxes (Tensor): GT boxes ``(B, G, 4)``, zero-padded.
            pad_bbox_flag (Tensor): ``(B, G, 1)`` (or ``(B, G)``), 1 for real
                GTs and 0 for padding.

        Returns:
            dict[str, Tensor]:

            - ``assigned_labels`` ``(B, N)``: class of each prior,
              ``num_classes`` for background.
            - ``assigned_labels_weights`` ``(B, N)``: all ones.
            - ``assigned_bboxes`` ``(B, N, 4)``: GT box of each positive,
              zeros elsewhere.
            - ``assign_metrics`` ``(B, N)``: IoU of each positive's predicted
              box with its GT (the soft classification target), 0 elsewhere.
            - ``assigned_gt_inds`` ``(num_pos,)`` and
              ``assigned_batch_index`` ``(num_pos,)``: GT index and image
              index of the positives, in row-major (image, prior) order.
        """
        if isinstance(gt_bboxes, BaseBoxes):
            gt_bboxes = gt_bboxes.tensor
        self._check_inputs(pred_bboxes, pred_scores, priors, gt_labels,
                           gt_bboxes, pad_bbox_flag)
        gt_labels = gt_labels.reshape(gt_bboxes.shape[:2])
        pad_bbox_flag = pad_bbox_flag.reshape(gt_bboxes.shape[:2]) > 0
        batch_size, num_priors = pred_bboxes.shape[:2]
        num_gt = gt_bboxes.size(1)

        assigned_labels = gt_labels.new_full((batch_size, num_priors),
                                             self.num_classes,
                                             dtype=torch.long)
        assigned_labels_weights = gt_bboxes.new_ones((batch_size, num_priors))
        assigned_bboxes = gt_bboxes.new_zeros((batch_size, num_priors, 4))
        assign_metrics = gt_bboxes.new_zeros((batch_size, num_priors))
        empty_inds = gt_labels.new_zeros((0, ), dtype=torch.long)
        result = dict(
            assigned_labels=assigned_labels,
            assigned_labels_weights=assigned_labels_weights,
            assigned_bboxes=assigned_bboxes,
            assign_metrics=assign_metrics,
            assigned_gt_inds=empty_inds,
            assigned_batch_index=empty_inds)
        if num_gt == 0 or num_priors == 0:
            return result

        # (B, N, G): prior point strictly inside a real GT
        is_in_gts = _points_inside_boxes(priors[:, :2], gt_bboxes)
        is_in_gts &= pad_bbox_flag[:, None, :]
        valid_mask = is_in_gts.any(dim=-1)  # (B, N): candidate priors

        pairwise_ious = self._pairwise_ious(pred_bboxes.float(),
                                            gt_bboxes.float())
        cost = self._cost_matrix(pred_scores.float(), priors.float(),
                                 gt_labels, gt_bboxes.float(), pairwise_ious)
        # Finite costs (even 10 ** large) must rank before non-candidates.
        cost = cost.clamp(max=torch.finfo(cost.dtype).max)
        pair_ok = valid_mask[:, :, None] & pad_bbox_flag[:, None, :]
        cost = cost.masked_fill(~pair_ok, float('inf'))

        matching = self._dynamic_k_matching(cost, pairwise_ious, valid_mask,
                                            pad_bbox_flag)

        fg_mask = matching.any(dim=-1)  # (B, N)
        batch_index, prior_index = fg_mask.nonzero(as_tuple=True)
        matched_gt_inds = matching[batch_index, prior_index].float().argmax(
            dim=-1)
        matched_ious = pairwise_ious[batch_index, prior_index,
                                     matched_gt_inds]

        assigned_labels[batch_index, prior_index] = \
            gt_labels[batch_index, matched_gt_inds].long()
        assigned_bboxes[batch_index, prior_index] = \
            gt_bboxes[batch_index, matched_gt_inds]
        assign_metrics[batch_index, prior_index] = matched_ious.to(
            assign_metrics.dtype)
        result.update(
            assigned_gt_inds=matched_gt_inds, assigned_batch_index=batch_index)
        return result

    def _check_inputs(self, pred_bboxes: Tensor, pred_scores: Tensor,
                      priors: Tensor, gt_labels: Tensor, gt_bboxes: Tensor,
                      pad_bbox_flag: Tensor) -> None:
        if pred_bboxes.dim() != 3 or pred_bboxes.size(-1) != 4:
            raise ValueError('pred_bboxes must have shape (batch, num_priors, '
                             f'4), but got {tuple(pred_bboxes.shape)}')
        batch_size, num_priors = pred_bboxes.shape[:2]
        # the class count of pred_scores may differ from num_classes (as
        # MMYOLO allows): num_classes only labels the background
        if pred_scores.dim() != 3 or \
                pred_scores.shape[:2] != (batch_size, num_priors):
            raise ValueError(
                'pred_scores must have shape (batch, num_priors, classes) '
                f'with (batch, num_priors) = {(batch_size, num_priors)}, but '
                f'got {tuple(pred_scores.shape)}')
        if priors.dim() != 2 or priors.size(0) != num_priors or \
                priors.size(1) < 3:
            raise ValueError(
                'priors must have shape (num_priors, 4) with rows (x, y, '
                f'stride_w, stride_h) for {num_priors} priors, but got '
                f'{tuple(priors.shape)}')
        if gt_bboxes.dim() != 3 or gt_bboxes.size(0) != batch_size or \
                gt_bboxes.size(-1) != 4:
            raise ValueError(
                f'gt_bboxes must have shape (batch={batch_size}, num_gt, 4), '
                f'but got {tuple(gt_bboxes.shape)}')
        for name, value in (('gt_labels', gt_labels), ('pad_bbox_flag',
                                                       pad_bbox_flag)):
            if value.numel() != gt_bboxes.shape[0] * gt_bboxes.shape[1]:
                raise ValueError(
                    f'{name} must have shape (batch, num_gt, 1) matching '
                    f'gt_bboxes {tuple(gt_bboxes.shape)}, but got '
                    f'{tuple(value.shape)}')

    def _pairwise_ious(self, pred_bboxes: Tensor, gt_bboxes: Tensor) -> Tensor:
        """IoU of every (prior, GT) pair of each image, ``(B, N, G)``."""
        if self.batch_iou:
            return self.iou_calculator(pred_bboxes, gt_bboxes)
        return torch.stack([
            self.iou_calculator(boxes, gts)
            for boxes, gts in zip(pred_bboxes, gt_bboxes)
        ])

    def _cost_matrix(self, pred_scores: Tensor, priors: Tensor,
                     gt_labels: Tensor, gt_bboxes: Tensor,
                     pairwise_ious: Tensor) -> Tensor:
        """Matching cost of every (prior, GT) pair, ``(B, N, G)``.

        The classification cost sums, over all classes, the quality-focal
        term against the soft label ``one_hot(label) * IoU``. Every class
        but the GT's has target 0, so with ``f0(x) = BCE(x, 0) *
        sigmoid(x) ** 2`` it equals ``sum_c f0(x_c) - f0(x_label) +
        BCE(x_label, IoU) * |IoU - sigmoid(x_label)| ** 2``; this form
        needs no ``(B, N, G, num_classes)`` tensor.
        """
        gt_center = (gt_bboxes[..., :2] + gt_bboxes[..., 2:]) / 2.0
        distance = (priors[None, :, None, :2] - gt_center[:, None]).pow(2).sum(
            -1).sqrt() / priors[None, :, None, 2]
        soft_center_prior = torch.pow(10, distance - self.soft_center_radius)

        iou_cost = -torch.log(pairwise_ious + EPS) * self.iou_weight

        zeros = torch.zeros_like(pred_scores)
        background_cost = (
            F.binary_cross_entropy_with_logits(
                pred_scores, zeros, reduction='none') *
            pred_scores.sigmoid().pow(2)).sum(-1)  # (B, N)
        num_priors = pred_scores.size(1)
        label_index = gt_labels.long().clamp(0, pred_scores.size(-1) - 1)
        label_logits = pred_scores.gather(
            2, label_index[:, None, :].expand(-1, num_priors, -1))  # (B,N,G)
        label_background = F.binary_cross_entropy_with_logits(
            label_logits, torch.zeros_like(label_logits),
            reduction='none') * label_logits.sigmoid().pow(2)
        label_soft = F.binary_cross_entropy_with_logits(
            label_logits, pairwise_ious, reduction='none') * (
                pairwise_ious - label_logits.sigmoid()).abs().pow(2)
        soft_cls_cost = background_cost[..., None] - label_background + \
            label_soft

        return soft_cls_cost + iou_cost + soft_center_prior

    def _dynamic_k_matching(self, cost: Tensor, pairwise_ious: Tensor,
                            valid_mask: Tensor, gt_mask: Tensor) -> Tensor:
        """Pick each GT's ``dynamic_k`` lowest-cost candidates and resolve
        priors picked by several GTs.

        Args:
            cost (Tensor): ``(B, N, G)``, ``inf`` for non-candidate priors
                and padded GTs.
            pairwise_ious (Tensor): ``(B, N, G)``.
            valid_mask (Tensor): ``(B, N)`` candidate priors.
            gt_mask (Tensor): ``(B, G)`` real GTs.

        Returns:
            Tensor: ``(B, N, G)`` bool matching, at most one GT per prior.
        """
        num_priors = cost.size(1)
        candidate_ious = pairwise_ious * valid_mask[..., None]
        candidate_topk = min(self.topk, num_priors)
        topk_ious, _ = torch.topk(candidate_ious, candidate_topk, dim=1)
        num_valid = valid_mask.sum(dim=1, keepdim=True)  # (B, 1)
        dynamic_ks = topk_ious.sum(dim=1).int().clamp(min=1)  # (B, G)
        # the IoUs are <= 1, so dynamic_k <= num_valid whenever num_valid > 0
        dynamic_ks = torch.minimum(dynamic_ks, num_valid.int())
        dynamic_ks = dynamic_ks * gt_mask

        # sorting the whole cost matrix beats a per-GT topk loop
        _, sorted_indices = torch.sort(cost, dim=1)
        ranks = torch.arange(num_priors, device=cost.device)[None, :, None]
        matching = torch.zeros_like(cost, dtype=torch.bool)
        matching.scatter_(1, sorted_indices, ranks < dynamic_ks[:, None, :])

        multiple = matching.sum(dim=-1) > 1  # (B, N)
        if multiple.any():
            best_gt = cost[multiple].argmin(dim=-1)
            matching[multiple] = F.one_hot(
                best_gt, cost.size(-1)).to(torch.bool)
        return matching


def _points_inside_boxes(points: Tensor, boxes: Tensor) -> Tensor:
    """``(B, N, G)`` mask: point ``n`` strictly inside box ``g`` of image
    ``b`` (points on a border are outside)."""
    top_left = points[None, :, None] - boxes[:, None, :, :2]
    bottom_right = boxes[:, None, :, 2:] - points[None, :, None]
    return torch.cat([top_left, bottom_right], dim=-1).min(dim=-1).values > 0

