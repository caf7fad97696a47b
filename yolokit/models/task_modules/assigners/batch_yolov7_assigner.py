"""YOLOv7's two-stage label assignment: YOLOv5 candidates, then simOTA.

Dims: B images, A priors (anchors) per position, N GT boxes of the batch,
G GT boxes of one image, M candidates of one image (over all levels),
C classes. "Grid units" are pixels divided by the level's stride.

Stage 1 (candidates) is YOLOv5's matching
(:func:`yolokit.models.dense_heads.yolov5_targets.match_level`): the priors
whose shape fits a GT within ``prior_match_thr``, in the GT's cell and its
neighbours within ``near_neighbor_thr``. The GT that proposed a candidate
is then forgotten: only the (image, prior, cell) triples are kept.

Stage 2 (simOTA, Ge et al., "YOLOX: Exceeding YOLO Series in 2021") re-
matches, per image, every GT with every candidate of that image:

- ``cost = cls_weight * BCE(sqrt(p_cls * p_obj), onehot) + iou_weight *
  -log(IoU + 1e-8)``, the BCE summed over the classes, the IoU between the
  GT and the candidate's decoded box;
- each GT takes its ``k`` cheapest candidates, ``k = max(1, int(sum of its
  candidate_topk largest IoUs))``;
- a candidate taken by several GTs goes to the GT of least cost (over all
  GTs of the image).

The positives come out per level, in image order, and within an image in
candidate order. The official reference is
``WongKinYiu/yolov7 utils/loss.py`` (``ComputeLossOTA.build_targets``).
"""
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_overlaps
from torch import Tensor

from yolokit.registry import TASK_UTILS
from ...dense_heads.yolov5_targets import (LevelTargets, decode_positive_xywh,
                                           match_level)

# -log(IoU + eps): keeps the cost finite for candidates that miss the GT
IOU_COST_EPS = 1e-8


class LevelPositives(NamedTuple):
    """The positives of one level after simOTA, one row per positive."""
    positive_infos: Tensor  # (M_l, 4) long: img, prior, grid_x, grid_y
    priors: Tensor  # (M_l, 2) prior w, h in grid units
    targets_normed: Tensor  # (M_l, 7) matched GT rows, see forward()


class YOLOv7Assignment(NamedTuple):
    """Positives of every level."""
    levels: List[LevelPositives]

    def as_result_dict(self) -> Dict[str, List[Tensor]]:
        """MMYOLO's result keys, one list entry per level."""
        return dict(
            mlvl_positive_infos=[lv.positive_infos for lv in self.levels],
            mlvl_priors=[lv.priors for lv in self.levels],
            mlvl_targets_normed=[lv.targets_normed for lv in self.levels])


def empty_level(ref: Tensor) -> LevelPositives:
    """A level without positives, on the device of ``ref``."""
    return LevelPositives(
        ref.new_zeros((0, 4), dtype=torch.long), ref.new_zeros((0, 2)),
        ref.new_zeros((0, 7)))


def pairwise_cls_cost(obj_cls_logits: Tensor, gt_labels: Tensor,
                      num_classes: int) -> Tensor:
    """simOTA's class cost, ``(M, 1 + C)`` logits (objectness first) and
    ``(G,)`` labels -> ``(G, M)``.

    The score of a class is the geometric mean of the class and objectness
    probabilities; the cost is its BCE against the one-hot label, summed
    over the classes. It goes through the logit ``log(y / (1 - y))`` as
    the official code does, so saturated scores give the same inf/nan.
    """
    probs = obj_cls_logits.float().sigmoid()
    score = (probs[:, 1:] * probs[:, :1]).sqrt()  # (M, C)
    onehot = F.one_hot(gt_labels.long(), num_classes).float()  # (G, C)
    logits = torch.log(score / (1 - score))
    num_gts, num_cands = len(onehot), len(score)
    return F.binary_cross_entropy_with_logits(
        logits[None].expand(num_gts, -1, -1),
        onehot[:, None].expand(-1, num_cands, -1),
        reduction='none').sum(-1)


def simota_match(cost: Tensor, ious: Tensor, candidate_topk: int) -> Tensor:
    """The GT of every candidate under simOTA's dynamic-k rule.

    Args:
        cost (Tensor): ``(G, M)`` matching cost.
        ious (Tensor): ``(G, M)`` IoU of each GT with each candidate box.
        candidate_topk (int): How many of its best IoUs set a GT's ``k``.

    Returns:
        Tensor: ``(M,)`` long, the matched GT index, -1 for no GT.
    """
    num_gts, num_cands = cost.shape
    best_ious = ious.topk(min(candidate_topk, num_cands), dim=1).values
    dynamic_ks = best_ious.sum(1).int().clamp(min=1)  # (G,) truncated
    is_taken = torch.zeros_like(cost, dtype=torch.bool)
    # one topk per GT with its own k: how ties between identical
    # candidates (two GTs proposing the same prior and cell) are broken
    # then decides the order of the positives, as in the reference
    for gt_idx, k in enumerate(dynamic_ks.tolist()):
        cheapest = cost[gt_idx].topk(k, largest=False).indices
        is_taken[gt_idx, cheapest] = True
    num_takers = is_taken.sum(0)  # (M,)
    matched = is_taken.int().argmax(0)
    contested = num_takers > 1
    if contested.any():
        matched[contested] = cost[:, contested].argmin(0)
    return torch.where(num_takers > 0, matched, matched.new_full((), -1))


class _ImageCandidates(NamedTuple):
    """The stage-1 candidates of one image, concatenated over levels."""
    infos: Tensor  # (M, 4) long: img, prior, grid_x, grid_y
    priors: Tensor  # (M, 2) grid units
    levels: Tensor  # (M,) long level index
    boxes_px: Tensor  # (M, 4) decoded x1y1x2y2 px
    obj_cls_logits: Tensor  # (M, 1 + C)


def _level_candidates(pos: LevelTargets, pred: Tensor, prior_sizes: Tensor,
                      stride: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Infos, priors, decoded px boxes and obj/cls logits of one level's
    candidates; ``pred`` is ``(B, A, H, W, 5 + C)``."""
    infos = torch.stack(
        [pos.img_inds, pos.prior_inds, pos.grid_x_inds, pos.grid_y_inds], 1)
    priors = prior_sizes[pos.prior_inds]
    raw = pred[pos.img_inds, pos.prior_inds, pos.grid_y_inds,
               pos.grid_x_inds]  # (M_l, 5 + C)
    xywh = decode_positive_xywh(raw[:, :4], priors)
    cell = torch.stack([pos.grid_x_inds, pos.grid_y_inds], 1)
    centre_px = (xywh[:, :2] + cell) * stride
    boxes_px = bbox_cxcywh_to_xyxy(
        torch.cat([centre_px, xywh[:, 2:] * stride], 1))
    return infos, priors, boxes_px, raw[:, 4:]


@TASK_UTILS.register_module()
class BatchYOLOv7Assigner(nn.Module):
    """YOLOv7's assigner: YOLOv5 candidates refined by simOTA (see the
    module docstring).

    Args:
        num_classes (int): Number of classes.
        num_base_priors (int): Priors (anchors) per position.
        featmap_strides (Sequence[int]): Stride of each level.
        prior_match_thr (float): Stage 1's GT-to-prior shape ratio bound.
            Defaults to 4.0.
        candidate_topk (int): How many best IoUs set a GT's dynamic k.
            Defaults to 10.
        iou_weight (float): Weight of the IoU cost. Defaults to 3.0.
        cls_weight (float): Weight of the class cost. Defaults to 1.0.
    """

    def __init__(self,
                 num_classes: int,
                 num_base_priors: int,
                 featmap_strides: Sequence[int],
                 prior_match_thr: float = 4.0,
                 candidate_topk: int = 10,
                 iou_weight: float = 3.0,
                 cls_weight: float = 1.0):
        super().__init__()
        if candidate_topk < 1:
            raise ValueError(
                f'candidate_topk must be >= 1, got {candidate_topk}')
        self.num_classes = num_classes
        self.num_base_priors = num_base_priors
        self.featmap_strides = featmap_strides
        self.prior_match_thr = prior_match_thr
        self.candidate_topk = candidate_topk
        self.iou_weight = iou_weight
        self.cls_weight = cls_weight

    @torch.no_grad()
    def forward(self,
                pred_results: Sequence[Tensor],
                batch_targets_normed: Tensor,
                batch_input_shape: Sequence[int],
                priors_base_sizes: Tensor,
                grid_offset: Tensor,
                near_neighbor_thr: float = 0.5) -> dict:
        """Assign the GT of a batch to the predictions.

        Args:
            pred_results (Sequence[Tensor]): Per level ``(B, A, H, W, 5 +
                C)`` raw maps: box (4), objectness, classes.
            batch_targets_normed (Tensor): ``(A, N, 7)`` GT rows (img,
                label, cx, cy, w, h as fractions of the input, prior
                index), one copy per prior; see ``rows_per_prior`` in
                :mod:`yolokit.models.dense_heads.yolov5_targets`.
            batch_input_shape (Sequence[int]): ``(h, w)`` of the input.
            priors_base_sizes (Tensor): ``(levels, A, 2)`` prior w, h in
                grid units.
            grid_offset (Tensor): ``(5, 1, 2)`` neighbour offsets.
            near_neighbor_thr (float): Stage 1's neighbour distance; 0.5
                gives up to 3 cells per GT, 1.0 up to 5 (the auxiliary
                branches of the P6 models). Defaults to 0.5.

        Returns:
            dict: ``mlvl_positive_infos`` (per level ``(M_l, 4)`` long:
            img, prior, grid_x, grid_y), ``mlvl_priors`` (``(M_l, 2)``
            prior w, h in grid units) and ``mlvl_targets_normed``
            (``(M_l, 7)``, the matched GT's row, prior column 0).
        """
        self._check_inputs(pred_results, batch_targets_normed,
                           priors_base_sizes)
        return self.assign(pred_results, batch_targets_normed,
                           batch_input_shape, priors_base_sizes, grid_offset,
                           near_neighbor_thr).as_result_dict()

    def _check_inputs(self, pred_results: Sequence[Tensor],
                      batch_targets_normed: Tensor,
                      priors_base_sizes: Tensor) -> None:
        if len(pred_results) != len(self.featmap_strides):
            raise ValueError(
                f'pred_results has {len(pred_results)} levels but '
                f'featmap_strides has {len(self.featmap_strides)}')
        want_last = 5 + self.num_classes
        for level, pred in enumerate(pred_results):
            if pred.dim() != 5 or pred.shape[1] != self.num_base_priors or \
                    pred.shape[-1] != want_last:
                raise ValueError(
                    f'pred_results[{level}] must have shape (B, '
                    f'{self.num_base_priors}, H, W, {want_last}), got '
                    f'{tuple(pred.shape)}')
        if batch_targets_normed.dim() != 3 or \
                batch_targets_normed.shape[-1] != 7:
            raise ValueError(
                'batch_targets_normed must have shape (num_base_priors, '
                'num_gt, 7), got '
                f'{tuple(batch_targets_normed.shape)}')
        labels = batch_targets_normed[..., 1]
        if labels.numel() and (labels.min() < 0
                               or labels.max() >= self.num_classes):
            raise ValueError(
                'batch_targets_normed holds labels in '
                f'[{int(labels.min())}, {int(labels.max())}], expected '
                f'0..{self.num_classes - 1} (num_classes={self.num_classes})')
        if len(priors_base_sizes) != len(pred_results):
            raise ValueError(
                f'priors_base_sizes has {len(priors_base_sizes)} levels '
                f'for {len(pred_results)} prediction levels')

    def assign(self, pred_results: Sequence[Tensor],
               batch_targets_normed: Tensor, batch_input_shape: Sequence[int],
               priors_base_sizes: Tensor, grid_offset: Tensor,
               near_neighbor_thr: float) -> YOLOv7Assignment:
        """:meth:`forward` as a :class:`YOLOv7Assignment` (no checks)."""
        num_levels = len(pred_results)
        per_level: List[List[LevelPositives]] = [[] for _ in pred_results]
        candidates = self._candidates(pred_results, batch_targets_normed,
                                      priors_base_sizes, grid_offset,
                                      near_neighbor_thr)
        gt_rows = batch_targets_normed[0]  # (N, 7) the first prior's copy
        img_h, img_w = batch_input_shape[:2]
        to_px = gt_rows.new_tensor([img_w, img_h, img_w, img_h])
        for img_idx, cands in enumerate(candidates):
            image_gt = gt_rows[gt_rows[:, 0] == img_idx]  # (G, 7)
            if cands is None or len(image_gt) == 0:
                continue
            gt_boxes_px = bbox_cxcywh_to_xyxy(image_gt[:, 2:6] * to_px)
            ious = bbox_overlaps(gt_boxes_px, cands.boxes_px)  # (G, M)
            cost = (
                self.cls_weight * pairwise_cls_cost(
                    cands.obj_cls_logits, image_gt[:, 1], self.num_classes) +
                self.iou_weight * -torch.log(ious + IOU_COST_EPS))
            matched = simota_match(cost, ious, self.candidate_topk)
            is_pos = matched >= 0
            levels = cands.levels[is_pos]
            infos, priors = cands.infos[is_pos], cands.priors[is_pos]
            targets = image_gt[matched[is_pos]]
            for level in range(num_levels):
                at = levels == level
                per_level[level].append(
                    LevelPositives(infos[at], priors[at], targets[at]))
        ref = batch_targets_normed
        return YOLOv7Assignment([
            LevelPositives(*(torch.cat(parts) for parts in zip(
                *rows))) if rows else empty_level(ref) for rows in per_level
        ])

    def _candidates(
            self, pred_results: Sequence[Tensor], batch_targets_normed: Tensor,
            priors_base_sizes: Tensor, grid_offset: Tensor,
            near_neighbor_thr: float) -> List[Optional[_ImageCandidates]]:
        """Stage 1, grouped per image (None for an image without any)."""
        num_imgs = pred_results[0].shape[0]
        levels = []
        for level, pred in enumerate(pred_results):
            pos = match_level(batch_targets_normed,
                              priors_base_sizes[level], grid_offset,
                              tuple(pred.shape[2:4]), self.prior_match_thr,
                              near_neighbor_thr)
            if pos is not None:
                levels.append((level, pos, pred))
        out: List[Optional[_ImageCandidates]] = []
        for img_idx in range(num_imgs):
            parts = []
            for level, pos, pred in levels:
                in_img = pos.img_inds == img_idx
                if not in_img.any():
                    continue
                pos_img = LevelTargets(*(t[in_img] for t in pos))
                infos, priors, boxes, logits = _level_candidates(
                    pos_img, pred, priors_base_sizes[level],
                    self.featmap_strides[level])
                parts.append(
                    (infos, priors, infos.new_full((len(infos), ),
                                                   level), boxes, logits))
            out.append(
                _ImageCandidates(*(torch.cat(t)
                                   for t in zip(*parts))) if parts else None)
        return out
