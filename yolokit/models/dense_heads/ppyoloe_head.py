"""PP-YOLOE detection head: YOLOv6's assignment and losses plus a
Distribution Focal Loss on ``reg_max + 1`` distance bins.

Dims: B images, P point priors over all levels, C classes, R = ``reg_max``
(bins 0..R, so R + 1 of them), F foreground priors of the batch.

Post-processing is :meth:`YOLOv5Head.predict_by_feat` without objectness.
"""
from typing import Sequence

import torch
from mmdet.utils import (ConfigType, OptConfigType, OptInstanceList,
                         OptMultiConfig, reduce_mean)
from torch import Tensor

from yolokit.registry import MODELS
from ..utils import PaddedGT, flatten_levels, graph_keeping_zero
from .assigner_setup import require_assigner
from .yolov5_head import GTInput
from .yolov6_head import YOLOv6Head, iou_term, varifocal_term
from .yolov8_head import (DFL_TARGET_MARGIN, DenseTrainPreds,
                          ForegroundTargets, dfl_term)


def flatten_distributions(bbox_dist_preds: Sequence[Tensor],
                          num_bins: int) -> Tensor:
    """Per level ``(B, H * W, 4, num_bins)`` bin logits (the head module's
    third training output) -> ``(B, P, 4 * num_bins)`` in prior order."""
    per_level = []
    for level, dist in enumerate(bbox_dist_preds):
        if dist.dim() != 4 or dist.shape[2:] != (4, num_bins):
            raise ValueError(
                f'bbox_dist_preds[{level}] must have shape (B, H * W, 4, '
                f'reg_max + 1 = {num_bins}), got {tuple(dist.shape)}')
        per_level.append(dist.reshape(dist.shape[0], -1, 4 * num_bins))
    return torch.cat(per_level, dim=1)


def global_score_norm(target_scores: Tensor) -> Tensor:
    """``max(mean over processes of sum(t), 1)``: the normaliser of all
    three terms. Averaging it over the processes lets every process divide
    by the same number, so DDP's gradient average weighs each positive of
    the global batch equally (no extra world-size factor is needed)."""
    return reduce_mean(target_scores.sum()).clamp(min=1)


@MODELS.register_module()
class PPYOLOEHead(YOLOv6Head):
    """Head of PP-YOLOE and PP-YOLOE+ (the "ET-head").

    Assignment as :class:`YOLOv6Head`: ``train_cfg.initial_assigner``
    (:class:`BatchATSSAssigner`) while the runner's epoch is below
    ``train_cfg.initial_epoch``, then ``train_cfg.assigner``
    (:class:`BatchTaskAlignedAssigner`). With ``t`` the soft class targets
    and ``S = max(reduce_mean(sum(t)), 1)``:

    - ``loss_cls``: Varifocal loss of every (prior, class) logit against
      ``t``, summed, / S;
    - ``loss_bbox``: GIoU loss of the foreground boxes in stride units,
      each weighted by the sum of its ``t``, summed / S;
    - ``loss_dfl``: DFL of each foreground side's ``R + 1`` bin logits
      against the GT distance (stride units, clamped to
      ``[0, R - 0.01]``), same weights, / S.

    No factor for the batch or the world size is applied.

    Note:
        MMYOLO 0.6.0 flattens the bin logits as if they were laid out
        ``(B, R + 1, H * W, 4)`` (its docstring's layout), while its head
        module emits ``(B, H * W, 4, R + 1)``, so its DFL pairs a prior's
        targets with other priors' logits. yolokit reads the layout the
        module emits; ``loss_cls``, ``loss_bbox`` and all predictions are
        unaffected (see ``configs/ppyoloe/README.md``).

    Args:
        head_module (dict): Config of :class:`PPYOLOEHeadModule`.
        prior_generator (dict): Config of the point generator.
            Defaults to ``mmdet.MlvlPointGenerator`` with offset 0.5 and
            strides (8, 16, 32).
        bbox_coder (dict): Config of the box coder.
            Defaults to ``DistancePointBBoxCoder``.
        loss_cls (dict): Classification loss. Defaults to
            ``mmdet.VarifocalLoss`` (alpha 0.75, gamma 2, IoU-weighted,
            sum).
        loss_bbox (dict): Box loss. Defaults to ``IoULoss`` (GIoU, xyxy,
            mean) with weight 2.5.
        loss_dfl (dict): DFL. Defaults to ``mmdet.DistributionFocalLoss``
            (mean) with weight 0.5 / 4.
        train_cfg (dict, optional): Training config with ``initial_epoch``,
            ``initial_assigner`` and ``assigner``. Defaults to None.
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
                     type='mmdet.VarifocalLoss',
                     use_sigmoid=True,
                     alpha=0.75,
                     gamma=2.0,
                     iou_weighted=True,
                     reduction='sum',
                     loss_weight=1.0),
                 loss_bbox: ConfigType = dict(
                     type='IoULoss',
                     iou_mode='giou',
                     bbox_format='xyxy',
                     reduction='mean',
                     loss_weight=2.5,
                     return_iou=False),
                 loss_dfl: ConfigType = dict(
                     type='mmdet.DistributionFocalLoss',
                     reduction='mean',
                     loss_weight=0.5 / 4),
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None):
        super().__init__(
            head_module=head_module,
            prior_generator=prior_generator,
            bbox_coder=bbox_coder,
            loss_cls=loss_cls,
            loss_bbox=loss_bbox,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            init_cfg=init_cfg)
        # registered after the assigners: the module order of checkpoints
        self.loss_dfl = MODELS.build(loss_dfl)

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
            bbox_dist_preds (Sequence[Tensor]): Per level bin logits
                ``(B, H * W, 4, R + 1)``.
            batch_gt_instances (Sequence[InstanceData] | Tensor): Per-image
                GT (``bboxes`` in x1y1x2y2, ``labels``), or the fast
                ``(N, 6)`` tensor of (img_idx, label, x1, y1, x2, y2).
            batch_img_metas (Sequence[dict]): Meta information of each
                image.
            batch_gt_instances_ignore (list[InstanceData], optional): Not
                used by PP-YOLOE.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_bbox`` and ``loss_dfl``.
        """
        require_assigner(self)
        reg_max = self.head_module.reg_max
        if reg_max < 2:
            raise ValueError('PPYOLOEHead: the DFL loss needs reg_max >= 2 '
                             '(below that the head module predicts plain '
                             f'distances), but it has reg_max={reg_max}')
        if not len(cls_scores) == len(bbox_preds) == len(bbox_dist_preds):
            raise ValueError(
                f'cls_scores, bbox_preds and bbox_dist_preds must have one '
                f'entry per level, got {len(cls_scores)}, {len(bbox_preds)} '
                f'and {len(bbox_dist_preds)}')
        num_imgs = len(batch_img_metas)
        first = cls_scores[0]
        sizes = [m.shape[2:] for m in cls_scores]
        flat = self.prior_cache(
            sizes, first.dtype, first.device, with_stride=True)
        points, strides = flat.priors[:, :2], flat.strides[:, None]  # (P, 1)
        pred = DenseTrainPreds(
            cls_logits=flatten_levels(cls_scores, self.num_classes),
            boxes=self.bbox_coder.decode(points, flatten_levels(bbox_preds, 4),
                                         flat.strides),
            dist_logits=flatten_distributions(bbox_dist_preds, reg_max + 1))
        gt = PaddedGT.from_batch(batch_gt_instances, num_imgs, first.device)
        tgt = ForegroundTargets.from_result(
            self._assign(pred.boxes.detach(), pred.cls_logits.detach(),
                         flat.priors, self._level_counts(sizes), gt))
        norm = global_score_norm(tgt.scores)  # S of the class docstring

        terms = dict(loss_cls=varifocal_term(self.loss_cls, pred.cls_logits,
                                             tgt.scores, norm))
        if not tgt.is_fg.any():
            terms['loss_bbox'] = graph_keeping_zero(pred.boxes)
            terms['loss_dfl'] = graph_keeping_zero(pred.dist_logits)
            return terms
        fg_weight = tgt.scores.sum(-1)[tgt.is_fg][:, None]  # (F, 1)
        fg_strides = strides.expand(num_imgs, -1, -1)[tgt.is_fg]  # (F, 1)
        fg_target_stride = tgt.boxes[tgt.is_fg] / fg_strides  # (F, 4)
        terms['loss_bbox'] = iou_term(self.loss_bbox,
                                      pred.boxes[tgt.is_fg] / fg_strides,
                                      fg_target_stride, fg_weight, norm)
        fg_points = (points / strides).expand(num_imgs, -1, -1)[tgt.is_fg]
        # the largest bin is R itself (R + 1 bins), hence max_dis=R
        target_ltrb = self.bbox_coder.encode(
            fg_points, fg_target_stride, max_dis=reg_max,
            eps=DFL_TARGET_MARGIN)
        terms['loss_dfl'] = dfl_term(self.loss_dfl,
                                     pred.dist_logits[tgt.is_fg], target_ltrb,
                                     fg_weight, norm,
                                     reg_max + 1)  # the bin count
        return terms
