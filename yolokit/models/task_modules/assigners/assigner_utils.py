"""Helpers shared by the batched label assigners.

All functions work on padded batches: ``B`` images, ``G`` ground-truth boxes
per image (padded with zeros) and ``P`` priors shared by every image.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def select_candidates_in_gts(priors_points: Tensor,
                             gt_bboxes: Tensor,
                             eps: float = 1e-9) -> Tensor:
    """Which prior points lie strictly inside which GT boxes.

    A point counts as inside when its smallest distance to the four box
    sides is larger than ``eps``, so points on a border are outside.

    Args:
        priors_points (Tensor): Prior centres ``(P, 2)`` as (x, y).
        gt_bboxes (Tensor): GT boxes ``(B, G, 4)`` as (x1, y1, x2, y2).
        eps (float): Margin a point must keep from every side.
            Defaults to 1e-9.

    Returns:
        Tensor: ``(B, G, P)`` mask with 1 where the point is inside, in the
        dtype of ``gt_bboxes``.
    """
    if priors_points.dim() != 2 or priors_points.size(-1) != 2:
        raise ValueError('priors_points must have shape (num_priors, 2), '
                         f'but got {tuple(priors_points.shape)}')
    if gt_bboxes.dim() != 3 or gt_bboxes.size(-1) != 4:
        raise ValueError('gt_bboxes must have shape (batch, num_gt, 4), '
                         f'but got {tuple(gt_bboxes.shape)}')
    points = priors_points[None, None].to(gt_bboxes.dtype)  # (1, 1, P, 2)
    top_left = gt_bboxes[:, :, None, :2]  # (B, G, 1, 2)
    bottom_right = gt_bboxes[:, :, None, 2:]
    deltas = torch.cat([points - top_left, bottom_right - points], dim=-1)
    return (deltas.min(dim=-1).values > eps).to(gt_bboxes.dtype)


def select_highest_overlaps(pos_mask: Tensor, overlaps: Tensor,
                            num_gt: int) -> Tuple[Tensor, Tensor, Tensor]:
    """Keep one GT per prior: a prior positive for several GTs keeps only
    the GT it overlaps most.

    Args:
        pos_mask (Tensor): Candidate mask ``(B, G, P)``.
        overlaps (Tensor): Overlap of every (GT, prior) pair ``(B, G, P)``;
            for a conflicted prior the arg-max over all ``G`` GTs wins.
        num_gt (int): ``G``.

    Returns:
        tuple[Tensor, Tensor, Tensor]:

        - ``gt_idx_pre_prior`` ``(B, P)``: index of the GT of each prior
          (0 for negatives; use ``fg_mask_pre_prior`` to tell them apart).
        - ``fg_mask_pre_prior`` ``(B, P)``: number of GTs of each prior
          after the clean-up, i.e. 1 for positives and 0 otherwise.
        - ``pos_mask`` ``(B, G, P)``: the cleaned mask.
    """
    fg_mask_pre_prior = pos_mask.sum(dim=-2)
    if num_gt > 0 and fg_mask_pre_prior.numel() > 0 and \
            fg_mask_pre_prior.max() > 1:
        multi_gts = (fg_mask_pre_prior[:, None] > 1).expand(-1, num_gt, -1)
        best_gt = overlaps.argmax(dim=1)  # (B, P)
        is_best = F.one_hot(best_gt, num_gt).permute(0, 2,
                                                     1).to(overlaps.dtype)
        pos_mask = torch.where(multi_gts, is_best, pos_mask)
        fg_mask_pre_prior = pos_mask.sum(dim=-2)
    gt_idx_pre_prior = pos_mask.argmax(dim=-2) if num_gt > 0 else \
        pos_mask.new_zeros(pos_mask.shape[0], pos_mask.shape[2],
                           dtype=torch.long)
    return gt_idx_pre_prior, fg_mask_pre_prior, pos_mask


def yolov6_iou_calculator(bbox1: Tensor,
                          bbox2: Tensor,
                          eps: float = 1e-9) -> Tensor:
    """Pairwise IoU of two batches of (x1, y1, x2, y2) boxes.

    Boxes with negative width or height count as empty.

    Args:
        bbox1 (Tensor): ``(B, M1, 4)``.
        bbox2 (Tensor): ``(B, M2, 4)``.
        eps (float): Added to the union. Defaults to 1e-9.

    Returns:
        Tensor: ``(B, M1, M2)`` IoU.
    """
    if bbox1.dim() != 3 or bbox1.size(-1) != 4 or bbox2.dim() != 3 or \
            bbox2.size(-1) != 4:
        raise ValueError('bbox1 and bbox2 must have shape (batch, num, 4), '
                         f'but got {tuple(bbox1.shape)} and '
                         f'{tuple(bbox2.shape)}')
    b1 = bbox1[:, :, None]  # (B, M1, 1, 4)
    b2 = bbox2[:, None]  # (B, 1, M2, 4)
    inter_wh = (torch.minimum(b1[..., 2:], b2[..., 2:]) -
                torch.maximum(b1[..., :2], b2[..., :2])).clamp(min=0)
    overlap = inter_wh.prod(dim=-1)
    area1 = (b1[..., 2:] - b1[..., :2]).clamp(min=0).prod(dim=-1)
    area2 = (b2[..., 2:] - b2[..., :2]).clamp(min=0).prod(dim=-1)
    return overlap / (area1 + area2 - overlap + eps)
