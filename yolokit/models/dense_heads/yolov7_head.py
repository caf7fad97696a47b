"""The YOLOv7 head: YOLOv5's anchor-based decoding and prediction path,
with simOTA-refined target assignment (training) and optional auxiliary
branches (P6).

Dims: B images, A priors per position, C classes, M positives of a level.
"""
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from mmdet.utils import OptInstanceList
from torch import Tensor

from yolokit.registry import MODELS
from ..task_modules.assigners.batch_yolov7_assigner import (
    BatchYOLOv7Assigner, LevelPositives)
from ..utils import scale_by_images_and_world
from .yolov5_head import GTInput, LevelLosses, YOLOv5Head, check_level_counts
from .yolov5_targets import LevelTargets, normalized_gt_rows, rows_per_prior


class BranchMaps(NamedTuple):
    """The per-level raw maps of one prediction branch."""
    cls: Sequence[Tensor]  # (B, A * C, H, W)
    box: Sequence[Tensor]  # (B, A * 4, H, W)
    obj: Sequence[Tensor]  # (B, A, H, W)


def split_branches(
    cls_scores: Sequence[Union[Tensor, Sequence[Tensor]]],
    bbox_preds: Sequence[Union[Tensor, Sequence[Tensor]]],
    objectnesses: Sequence[Union[Tensor, Sequence[Tensor]]]
) -> Tuple[BranchMaps, Optional[BranchMaps]]:
    """Main and auxiliary maps; a P6 head module in training mode gives a
    ``[main, aux]`` pair per level, any other head plain maps (aux None).
    """
    if not isinstance(cls_scores[0], (list, tuple)):
        return BranchMaps(cls_scores, bbox_preds, objectnesses), None
    per_branch = [
        list(zip(*maps)) for maps in (cls_scores, bbox_preds, objectnesses)
    ]
    main, aux = (
        BranchMaps(*(maps[i] for maps in per_branch)) for i in range(2))
    return main, aux


def stack_head_maps(branch: BranchMaps, num_base_priors: int) -> List[Tensor]:
    """Per level ``(B, A, H, W, 4 + 1 + C)``: box, objectness, classes per
    prior and cell, the layout the assigner indexes."""
    stacked = []
    for cls, box, obj in zip(branch.cls, branch.box, branch.obj):
        b, _, h, w = box.shape
        parts = [
            m.reshape(b, num_base_priors, -1, h, w) for m in (box, obj, cls)
        ]
        stacked.append(torch.cat(parts, 2).permute(0, 1, 3, 4, 2))
    return stacked


def positives_as_level_targets(
        positives: LevelPositives,
        featmap_size: Sequence[int]) -> Optional[LevelTargets]:
    """An assigner level in YOLOv5's :class:`LevelTargets` form (box
    targets in grid units, centre relative to the cell); None if empty."""
    if len(positives.positive_infos) == 0:
        return None
    h, w = featmap_size
    img_inds, prior_inds, grid_x, grid_y = positives.positive_infos.T
    cell = torch.stack([grid_x, grid_y], 1)
    gt = positives.targets_normed
    scaled = gt[:, 2:6] * gt.new_tensor([w, h, w, h])
    return LevelTargets(
        img_inds=img_inds,
        prior_inds=prior_inds,
        grid_x_inds=grid_x,
        grid_y_inds=grid_y,
        class_inds=gt[:, 1].long(),
        bbox_targets=torch.cat([scaled[:, :2] - cell, scaled[:, 2:]], 1))


@MODELS.register_module()
class YOLOv7Head(YOLOv5Head):
    """YOLOv7 detection head.

    Prediction is :class:`YOLOv5Head`'s (the shared post-processing path):
    in eval mode the P6 head module returns only its main branch.

    Training: :class:`BatchYOLOv7Assigner` picks the positives from the
    detached main-branch predictions (YOLOv5 candidates within
    ``near_neighbor_thr``, then simOTA). On them YOLOv5's three terms are
    computed per level (CIoU box loss, BCE objectness against the clamped
    IoU times ``obj_level_weights[l]``, BCE classes against the matched
    GT's one-hot label) and summed over the levels. The P6 models add the
    same terms of their auxiliary branch, ``aux_loss_weights`` times,
    with positives assigned again from the *main* predictions but with
    twice the neighbour distance (up to 5 cells per GT). Like YOLOv5 the
    sums are multiplied by batch size and world size.

    Args:
        simota_candidate_topk (int): IoU top-k that sets each GT's dynamic
            k in ``BatchYOLOv7Assigner``. Defaults to 20.
        simota_iou_weight (float): Weight of the IoU cost. Defaults to 3.0.
        simota_cls_weight (float): Weight of the class cost. Defaults to
            1.0.
        aux_loss_weights (float): Weight of the auxiliary-branch losses.
            Defaults to 0.25.
        *args, **kwargs: As :class:`YOLOv5Head`.
    """

    def __init__(self,
                 *args,
                 simota_candidate_topk: int = 20,
                 simota_iou_weight: float = 3.0,
                 simota_cls_weight: float = 1.0,
                 aux_loss_weights: float = 0.25,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.simota_candidate_topk = simota_candidate_topk
        self.simota_iou_weight = simota_iou_weight
        self.simota_cls_weight = simota_cls_weight
        self.aux_loss_weights = aux_loss_weights
        # built here, not from a config (the key bbox_head.assigner of
        # MMYOLO's module tree; it holds no parameters)
        self.assigner = BatchYOLOv7Assigner(
            num_classes=self.num_classes,
            num_base_priors=self.num_base_priors,
            featmap_strides=self.featmap_strides,
            prior_match_thr=self.prior_match_thr,
            candidate_topk=simota_candidate_topk,
            iou_weight=simota_iou_weight,
            cls_weight=simota_cls_weight)

    def loss_by_feat(
            self,
            cls_scores: Sequence[Union[Tensor, List]],
            bbox_preds: Sequence[Union[Tensor, List]],
            objectnesses: Sequence[Union[Tensor, List]],
            batch_gt_instances: GTInput,
            batch_img_metas: Sequence[dict],
            batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        """The losses of a batch (see the class docstring).

        Args:
            cls_scores, bbox_preds, objectnesses (Sequence): Per level
                ``(B, A * C, H, W)``, ``(B, A * 4, H, W)``,
                ``(B, A, H, W)``, or ``[main, aux]`` pairs of them.
            batch_gt_instances (Sequence[InstanceData] | Tensor): Per-image
                GT, or the fast ``(N, 6)`` tensor of (img_idx, label, x1,
                y1, x2, y2).
            batch_img_metas (Sequence[dict]): Meta information of each
                image; ``batch_input_shape`` is required.
            batch_gt_instances_ignore: Unused: YOLOv7's loss (official and
                MMYOLO's) has no ignore rule; the fast collate path never
                passes any.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_obj`` and ``loss_bbox``.
        """
        check_level_counts(
            cls_scores=cls_scores,
            bbox_preds=bbox_preds,
            objectnesses=objectnesses)
        main, aux = split_branches(cls_scores, bbox_preds, objectnesses)
        num_imgs = main.box[0].shape[0]
        gt_per_prior = rows_per_prior(
            normalized_gt_rows(batch_gt_instances, batch_img_metas),
            self.prior_inds)
        if 'batch_input_shape' not in batch_img_metas[0]:
            raise KeyError('YOLOv7Head needs "batch_input_shape" in the '
                           'image meta information, which only has '
                           f'{sorted(batch_img_metas[0])}')
        input_hw = batch_img_metas[0]['batch_input_shape']
        stacked_main = stack_head_maps(main, self.num_base_priors)
        totals = self._branch_losses(stacked_main, main, gt_per_prior,
                                     input_hw, self.near_neighbor_thr)
        if aux is not None:
            aux_totals = self._branch_losses(stacked_main, aux, gt_per_prior,
                                             input_hw,
                                             2 * self.near_neighbor_thr)
            totals = LevelLosses(*(t + self.aux_loss_weights * a
                                   for t, a in zip(totals, aux_totals)))
        return scale_by_images_and_world(
            dict(
                loss_cls=totals.cls,
                loss_obj=totals.obj,
                loss_bbox=totals.bbox), num_imgs)

    def _branch_losses(self, assign_from: List[Tensor], branch: BranchMaps,
                       gt_per_prior: Tensor, input_hw: Sequence[int],
                       near_neighbor_thr: float) -> LevelLosses:
        """One branch's terms summed over the levels, its positives
        assigned from ``assign_from`` (the stacked main maps)."""
        assignment = self.assigner.assign([p.detach()
                                           for p in assign_from], gt_per_prior,
                                          input_hw, self.priors_base_sizes,
                                          self.grid_offset, near_neighbor_thr)
        per_level = [
            self._losses_at_positives(
                level, branch.cls[level], branch.box[level], branch.obj[level],
                positives_as_level_targets(positives,
                                           branch.box[level].shape[2:]), None)
            for level, positives in enumerate(assignment.levels)
        ]
        return LevelLosses(*(sum(terms) for terms in zip(*per_level)))
