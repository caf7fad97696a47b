"""YOLOv8 detection head: task-aligned assignment, BCE + CIoU + DFL losses.

Dims: B images, P point priors over all levels, C classes, R distance bins
(``reg_max``), F foreground priors of the batch.

Post-processing is :meth:`YOLOv5Head.predict_by_feat` without objectness.
"""
from typing import NamedTuple, Sequence

import torch
import torch.nn as nn
from mmdet.utils import (ConfigType, OptConfigType, OptInstanceList,
                         OptMultiConfig)
from torch import Tensor

from yolokit.registry import MODELS
from ..utils import (PaddedGT, flatten_levels, graph_keeping_zero,
                     scale_by_images_and_world)
from .assigner_setup import build_assigner, require_assigner
from .yolov5_head import GTInput, YOLOv5Head

# the last DFL bin is reg_max - 1; a target exactly there would need a
# right-hand neighbour bin that does not exist, hence the margin
DFL_TARGET_MARGIN = 0.01


class DenseTrainPreds(NamedTuple):
    """Flat training outputs of a distance-regression head."""
    cls_logits: Tensor  # (B, P, C)
    boxes: Tensor  # (B, P, 4) x1y1x2y2 px
    dist_logits: Tensor  # (B, P, 4 * R)


class ForegroundTargets(NamedTuple):
    """What the losses need of the assigner's result."""
    scores: Tensor  # (B, P, C) soft class targets
    boxes: Tensor  # (B, P, 4) x1y1x2y2 px of the assigned GT
    is_fg: Tensor  # (B, P) bool

    @classmethod
    def from_result(cls, result: dict) -> 'ForegroundTargets':
        return cls(result['assigned_scores'], result['assigned_bboxes'],
                   result['fg_mask_pre_prior'])


def cls_term(loss_cls: nn.Module, cls_logits: Tensor, target_scores: Tensor,
             norm: Tensor) -> Tensor:
    """BCE of every (prior, class) against its soft target, over ``norm``."""
    return loss_cls(cls_logits, target_scores).sum() / norm


def box_term(loss_bbox: nn.Module, pred_stride: Tensor, target_stride: Tensor,
             fg_weight: Tensor, norm: Tensor) -> Tensor:
    """IoU loss of ``(F, 4)`` foreground boxes (stride units), each weighted
    by ``fg_weight (F, 1)`` (its summed soft target), over ``norm``."""
    return loss_bbox(pred_stride, target_stride, weight=fg_weight) / norm


def dfl_term(loss_dfl: nn.Module, dist_logits: Tensor, target_ltrb: Tensor,
             fg_weight: Tensor, norm: Tensor, reg_max: int) -> Tensor:
    """DFL of the ``(F, 4 * R)`` side distributions against ``(F, 4)``
    distances (stride units), each side with its prior's ``fg_weight``."""
    return loss_dfl(
        dist_logits.reshape(-1, reg_max),
        target_ltrb.reshape(-1),
        weight=fg_weight.expand(-1, 4).reshape(-1),
        avg_factor=norm)


@MODELS.register_module()
class YOLOv8Head(YOLOv5Head):
    """Head of YOLOv8: decoupled, anchor-free, with Distribution Focal Loss.

    Losses (``t`` are the soft class targets of ``train_cfg.assigner``,
    normally :class:`BatchTaskAlignedAssigner`, and ``S = max(sum(t), 1)``):

    - ``loss_cls``: BCE between all class logits and ``t``, summed, / S;
    - ``loss_bbox``: CIoU loss of the foreground boxes in stride units,
      each weighted by the sum of its ``t``, / S;
    - ``loss_dfl``: DFL of the foreground side distributions against the
      GT distances (stride units, clamped to ``[0, reg_max - 1 - 0.01]``),
      same weights, / S.

    Each is multiplied by the number of images and the world size.

    Args:
        head_module (dict): Config of :class:`YOLOv8HeadModule`.
        prior_generator (dict): Config of the point generator.
            Defaults to ``mmdet.MlvlPointGenerator`` with offset 0.5 and
            strides (8, 16, 32).
        bbox_coder (dict): Config of the box coder.
            Defaults to ``DistancePointBBoxCoder``.
        loss_cls (dict): Classification loss; must not reduce.
            Defaults to sigmoid BCE with weight 0.5.
        loss_bbox (dict): Box loss. Defaults to ``IoULoss`` (CIoU, xyxy,
            sum) with weight 7.5.
        loss_dfl (dict): DFL. Defaults to ``mmdet.DistributionFocalLoss``
            (mean) with weight 1.5 / 4.
        train_cfg (dict, optional): Training config; ``assigner`` is
            required for training. Defaults to None.
        test_cfg (dict, optional): Post-processing config, see
            :class:`YOLOv5Head`. Defaults to None.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.
    """

    def __init__(self,
                 head_module: ConfigType,
                 prior_generator: ConfigType = dict(
                     type='mmdet.MlvlPointGenerator',
                     offset=0.5,
                     strides=[8, 16, 32]),
                 bbox_coder: ConfigType = dict(type='DistancePointBBoxCoder'),
                 loss_cls: ConfigType = dict(
                     type='mmdet.CrossEntropyLoss',
                     use_sigmoid=True,
                     reduction='none',
                     loss_weight=0.5),
                 loss_bbox: ConfigType = dict(
                     type='IoULoss',
                     iou_mode='ciou',
                     bbox_format='xyxy',
                     reduction='sum',
                     loss_weight=7.5,
                     return_iou=False),
                 loss_dfl: ConfigType = dict(
                     type='mmdet.DistributionFocalLoss',
                     reduction='mean',
                     loss_weight=1.5 / 4),
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None):
        super().__init__(
            head_module,
            prior_generator,
            bbox_coder,
            loss_cls,
            loss_bbox,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            init_cfg=init_cfg)
        self.loss_dfl = MODELS.build(loss_dfl)
        self.loss_obj = None  # no objectness branch

    def special_init(self) -> None:
        """Build the assigner from ``train_cfg`` when one is given."""
        build_assigner(self)

    def loss_by_feat(
            self,
            cls_scores: Sequence[Tensor],
            bbox_preds: Sequence[Tensor],
            bbox_dist_preds: Sequence[Tensor],
            batch_gt_instances: GTInput,
            batch_img_metas: Sequence[dict],
            batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        """The losses of a batch (see the class docstring).

        Args:
            cls_scores (Sequence[Tensor]): Per level ``(B, C, H, W)``.
            bbox_preds (Sequence[Tensor]): Per level distances in stride
                units ``(B, 4, H, W)``.
            bbox_dist_preds (Sequence[Tensor]): Per level distance logits
                ``(B, H * W, 4, R)``.
            batch_gt_instances (Sequence[InstanceData] | Tensor): Per-image
                GT (``bboxes`` in x1y1x2y2, ``labels``), or the fast
                ``(N, 6)`` tensor of (img_idx, label, x1, y1, x2, y2).
            batch_img_metas (Sequence[dict]): Meta information of each
                image.
            batch_gt_instances_ignore (list[InstanceData], optional): Not
                used by YOLOv8.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_bbox`` and ``loss_dfl``.
        """
        require_assigner(self)
        reg_max = self.head_module.reg_max
        if reg_max < 2:
            raise ValueError('YOLOv8Head: the DFL loss needs reg_max >= 2, '
                             f'but the head module has reg_max={reg_max}')
        num_imgs = len(batch_img_metas)
        first = cls_scores[0]
        flat = self.prior_cache([m.shape[2:] for m in cls_scores],
                                first.dtype,
                                first.device,
                                with_stride=True)
        points, strides = flat.priors[:, :2], flat.strides[:, None]  # (P, 1)
        pred = DenseTrainPreds(
            cls_logits=flatten_levels(cls_scores, self.num_classes),
            boxes=self.bbox_coder.decode(points, flatten_levels(bbox_preds, 4),
                                         flat.strides),
            dist_logits=torch.cat([
                d.reshape(num_imgs, -1, reg_max * 4) for d in bbox_dist_preds
            ], dim=1))
        # GT coordinates keep their own (full) precision under AMP
        gt = PaddedGT.from_batch(batch_gt_instances, num_imgs, first.device)
        tgt = ForegroundTargets.from_result(
            self.assigner(pred.boxes.detach().to(gt.boxes.dtype),
                          pred.cls_logits.detach().sigmoid(), flat.priors,
                          gt.labels, gt.boxes, gt.is_real))
        norm = tgt.scores.sum().clamp(min=1)  # S of the class docstring

        terms = dict(loss_cls=cls_term(self.loss_cls, pred.cls_logits,
                                       tgt.scores, norm))
        if tgt.is_fg.any():
            fg_weight = tgt.scores.sum(-1)[tgt.is_fg][:, None]  # (F, 1)
            fg_strides = strides.expand(num_imgs, -1, -1)[tgt.is_fg]
            fg_target_stride = tgt.boxes[tgt.is_fg] / fg_strides
            terms['loss_bbox'] = box_term(self.loss_bbox,
                                          pred.boxes[tgt.is_fg] / fg_strides,
                                          fg_target_stride, fg_weight, norm)
            fg_points = (points / strides).expand(num_imgs, -1,
                                                  -1)[tgt.is_fg]
            target_ltrb = self.bbox_coder.encode(
                fg_points,
                fg_target_stride,
                max_dis=reg_max - 1,
                eps=DFL_TARGET_MARGIN)
            terms['loss_dfl'] = dfl_term(self.loss_dfl,
                                         pred.dist_logits[tgt.is_fg],
                                         target_ltrb, fg_weight, norm, reg_max)
        else:
            terms['loss_bbox'] = graph_keeping_zero(pred.boxes)
            terms['loss_dfl'] = graph_keeping_zero(pred.dist_logits)
        return scale_by_images_and_world(terms, num_imgs)

