"""Adaptive Training Sample Selection for batched dense priors (YOLOv6).

Dims: B images, G padded GT slots per image, P priors over all levels,
L levels, k the per-level top-k, C classes.

ATSS (Zhang et al., "Bridging the Gap Between Anchor-based and Anchor-free
Detection via Adaptive Training Sample Selection", CVPR 2020), as YOLOv6
runs it during its first epochs:

1. every point prior becomes a square box of side ``5 * stride``
   (``PRIOR_BOX_HALF_SIDE`` strides each way);
2. per level, the k priors whose centres are closest to a GT centre are
   its candidates (L * k per GT);
3. a GT's IoU threshold is ``mean + std`` (unbiased std) of its
   candidates' IoUs; candidates strictly above it are positive;
4. a positive must have its centre strictly inside the GT; a prior
   positive for several GTs keeps the one it overlaps most;
5. class targets are one-hot, scaled (when predictions are given) by the
   best IoU between the prior's predicted box and its positive GTs.
"""
from typing import List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.utils import ConfigType
from torch import Tensor

from yolokit.registry import TASK_UTILS
from .assigner_utils import (select_candidates_in_gts, select_highest_overlaps,
                             yolov6_iou_calculator)

# half the side of the box a point prior stands for, in strides (a 5-stride
# square, the anchor size ATSS used on RetinaNet-style heads)
PRIOR_BOX_HALF_SIDE = 2.5


def points_to_prior_boxes(priors: Tensor) -> Tensor:
    """(P, 4) priors (cx, cy, stride_w, stride_h) -> (P, 4) x1y1x2y2 boxes
    of side ``2 * PRIOR_BOX_HALF_SIDE`` strides around each point."""
    half = priors[:, 2:] * PRIOR_BOX_HALF_SIDE
    return torch.cat([priors[:, :2] - half, priors[:, :2] + half], dim=-1)


def box_centres(boxes: Tensor) -> Tensor:
    """(..., 4) x1y1x2y2 -> (..., 2) centres."""
    return (boxes[..., :2] + boxes[..., 2:]) / 2


def centre_distances(gt_boxes: Tensor, prior_centres: Tensor) -> Tensor:
    """Euclidean distance of every GT centre to every prior centre:
    (N, 4) x1y1x2y2, (P, 2) -> (N, P)."""
    gaps = box_centres(gt_boxes)[:, None, :] - prior_centres[None]
    return gaps.pow(2).sum(-1).sqrt()


def nearest_per_level(distances: Tensor, num_level_priors: Sequence[int],
                      topk: int, is_real: Tensor) -> Tuple[Tensor, Tensor]:
    """The ``topk`` nearest priors of every GT on every level.

    Args:
        distances (Tensor): (B, G, P) GT-to-prior centre distances.
        num_level_priors (Sequence[int]): Priors per level (sum P).
        topk (int): Candidates per level (fewer on a smaller level).
        is_real (Tensor): (B, G, 1) 1 for real GTs, 0 for padding.

    Returns:
        tuple[Tensor, Tensor]: ``is_candidate`` (B, G, P) 0/1 in the dtype
        of ``distances``, 0 for every padding GT; ``candidate_inds``
        (B, G, sum_l min(k, P_l)) flat prior indices, padding included.
    """
    is_padding = ~is_real.bool()
    masks, inds, start = [], [], 0
    for level_dists in distances.split(list(num_level_priors), dim=-1):
        num = level_dists.size(-1)
        nearest = level_dists.topk(min(topk, num), dim=-1, largest=False)[1]
        inds.append(nearest + start)
        # a padding GT marks nothing: all its picks go to prior 0 and the
        # count > 1 there is dropped as well (as the reference does)
        nearest = nearest.masked_fill(is_padding, 0)
        counts = F.one_hot(nearest, num).sum(dim=-2)  # (B, G, P_l)
        masks.append((counts == 1).to(distances.dtype))
        start += num
    return torch.cat(masks, dim=-1), torch.cat(inds, dim=-1)


def adaptive_iou_threshold(is_candidate: Tensor, candidate_inds: Tensor,
                           overlaps: Tensor) -> Tuple[Tensor, Tensor]:
    """Per GT ``mean + std`` of the IoUs at its candidate indices.

    Args:
        is_candidate (Tensor): (B, G, P) 0/1 candidate mask.
        candidate_inds (Tensor): (B, G, K) candidate prior indices.
        overlaps (Tensor): (B, G, P) IoU of GT and prior boxes.

    Returns:
        tuple[Tensor, Tensor]: threshold (B, G, 1); the candidates' IoUs
        (B, G, P), 0 off the candidates. The statistics run over all K
        gathered values (unbiased std), where a non-candidate counts as 0.
    """
    candidate_ious = torch.where(is_candidate > 0, overlaps,
                                 torch.zeros_like(overlaps))
    gathered = candidate_ious.gather(-1, candidate_inds)  # (B, G, K)
    threshold = gathered.mean(-1, keepdim=True) + \
        gathered.std(-1, keepdim=True)
    return threshold, candidate_ious


class ATSSTargets(NamedTuple):
    """The assignment of every prior."""
    labels: Tensor  # (B, P) long; C marks background
    boxes: Tensor  # (B, P, 4) x1y1x2y2 px of the assigned GT
    scores: Tensor  # (B, P, C) soft class targets
    is_fg: Tensor  # (B, P) bool

    def as_result_dict(self) -> dict:
        """MMYOLO's result keys."""
        return dict(
            assigned_labels=self.labels,
            assigned_bboxes=self.boxes,
            assigned_scores=self.scores,
            fg_mask_pre_prior=self.is_fg)


def gather_targets(gt_labels: Tensor, gt_boxes: Tensor, gt_inds: Tensor,
                   is_fg: Tensor, num_classes: int) -> ATSSTargets:
    """Labels, boxes and one-hot scores of GT ``gt_inds`` (B, P).

    Background priors get label ``num_classes`` and zero scores; their box
    is that of GT slot 0 of their image (MMYOLO's value; the losses only
    read foreground boxes).
    """
    labels = gt_labels[..., 0].gather(1, gt_inds).long()  # (B, P)
    labels = torch.where(is_fg, labels, torch.full_like(labels, num_classes))
    boxes = gt_boxes.gather(1, gt_inds[..., None].expand(-1, -1, 4))
    scores = F.one_hot(labels, num_classes + 1)[..., :num_classes].to(
        gt_boxes.dtype)
    return ATSSTargets(labels, boxes, scores, is_fg)


@TASK_UTILS.register_module()
class BatchATSSAssigner(nn.Module):
    """ATSS label assignment on padded GT batches (see the module
    docstring for the rule).

    Args:
        num_classes (int): Number of classes ``C``.
        iou_calculator (dict): Pairwise IoU of GT and prior boxes.
            Defaults to ``dict(type='mmdet.BboxOverlaps2D')``.
        topk (int): Candidates per level and GT. Defaults to 9.
    """

    def __init__(
            self,
            num_classes: int,
            iou_calculator: ConfigType = dict(type='mmdet.BboxOverlaps2D'),
            topk: int = 9):
        super().__init__()
        if topk < 1:
            raise ValueError(f'BatchATSSAssigner: topk must be >= 1, but got '
                             f'{topk}')
        self.num_classes = num_classes
        self.iou_calculator = TASK_UTILS.build(iou_calculator)
        self.topk = topk

    @torch.no_grad()
    def forward(self, pred_bboxes: Optional[Tensor], priors: Tensor,
                num_level_priors: List[int], gt_labels: Tensor,
                gt_bboxes: Tensor, pad_bbox_flag: Tensor) -> dict:
        """Assign every prior of every image.

        Args:
            pred_bboxes (Tensor, optional): (B, P, 4) predicted x1y1x2y2 px
                boxes; they only scale the soft scores (None: one-hot).
            priors (Tensor): (P, 4) as (cx, cy, stride_w, stride_h).
            num_level_priors (List[int]): Priors per level, summing to P.
            gt_labels (Tensor): (B, G, 1) class indices.
            gt_bboxes (Tensor): (B, G, 4) x1y1x2y2 px.
            pad_bbox_flag (Tensor): (B, G, 1) 1 for real GTs, 0 for padding.

        Returns:
            dict: ``assigned_labels`` (B, P), ``assigned_bboxes``
            (B, P, 4), ``assigned_scores`` (B, P, C), ``fg_mask_pre_prior``
            (B, P) bool.
        """
        self._check_inputs(pred_bboxes, priors, num_level_priors, gt_labels,
                           gt_bboxes, pad_bbox_flag)
        num_imgs, num_gt = gt_bboxes.shape[:2]
        num_priors = priors.size(0)
        if num_gt == 0:
            return ATSSTargets(
                gt_bboxes.new_full((num_imgs, num_priors), self.num_classes,
                                   dtype=torch.long),
                gt_bboxes.new_zeros(num_imgs, num_priors, 4),
                gt_bboxes.new_zeros(num_imgs, num_priors, self.num_classes),
                gt_bboxes.new_zeros(num_imgs, num_priors,
                                    dtype=torch.bool)).as_result_dict()

        prior_boxes = points_to_prior_boxes(priors)
        flat_gt = gt_bboxes.reshape(-1, 4)
        overlaps = self.iou_calculator(flat_gt, prior_boxes).reshape(
            num_imgs, num_gt, num_priors)
        prior_centres = box_centres(prior_boxes)  # (P, 2)
        distances = centre_distances(flat_gt, prior_centres).reshape(
            num_imgs, num_gt, num_priors)

        is_candidate, candidate_inds = nearest_per_level(
            distances, num_level_priors, self.topk, pad_bbox_flag)
        threshold, candidate_ious = adaptive_iou_threshold(
            is_candidate, candidate_inds, overlaps)
        is_pos = torch.where(candidate_ious > threshold, is_candidate,
                             torch.zeros_like(is_candidate))
        pos_mask = is_pos * select_candidates_in_gts(
            prior_centres, gt_bboxes) * pad_bbox_flag
        gt_inds, fg_count, pos_mask = select_highest_overlaps(
            pos_mask, overlaps, num_gt)
        targets = gather_targets(gt_labels, gt_bboxes, gt_inds,
                                 fg_count > 0, self.num_classes)
        if pred_bboxes is not None:
            # IoU of the predicted box with its (single) positive GT
            pred_ious = (yolov6_iou_calculator(gt_bboxes, pred_bboxes) *
                         pos_mask).max(dim=-2)[0]  # (B, P)
            targets = targets._replace(
                scores=targets.scores * pred_ious[..., None])
        return targets.as_result_dict()

    @staticmethod
    def _check_inputs(pred_bboxes: Optional[Tensor], priors: Tensor,
                      num_level_priors: Sequence[int], gt_labels: Tensor,
                      gt_bboxes: Tensor, pad_bbox_flag: Tensor) -> None:
        if priors.dim() != 2 or priors.size(-1) != 4:
            raise ValueError('BatchATSSAssigner: priors must have shape '
                             '(P, 4) as (cx, cy, stride_w, stride_h), got '
                             f'{tuple(priors.shape)}')
        if sum(num_level_priors) != priors.size(0):
            raise ValueError('BatchATSSAssigner: num_level_priors '
                             f'{list(num_level_priors)} must sum to the '
                             f'{priors.size(0)} priors')
        if gt_bboxes.dim() != 3 or gt_bboxes.size(-1) != 4:
            raise ValueError('BatchATSSAssigner: gt_bboxes must have shape '
                             f'(B, G, 4), got {tuple(gt_bboxes.shape)}')
        for name, t in (('gt_labels', gt_labels),
                        ('pad_bbox_flag', pad_bbox_flag)):
            if tuple(t.shape) != tuple(gt_bboxes.shape[:2]) + (1, ):
                raise ValueError(
                    f'BatchATSSAssigner: {name} must have shape (B, G, 1) = '
                    f'{tuple(gt_bboxes.shape[:2]) + (1, )}, got '
                    f'{tuple(t.shape)}')
        if pred_bboxes is not None and tuple(pred_bboxes.shape) != (
                gt_bboxes.size(0), priors.size(0), 4):
            raise ValueError(
                'BatchATSSAssigner: pred_bboxes must have shape (B, P, 4) = '
                f'{(gt_bboxes.size(0), priors.size(0), 4)}, got '
                f'{tuple(pred_bboxes.shape)}')
