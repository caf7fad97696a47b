"""YOLOv6 detection head: ATSS warm-up then task-aligned assignment,
Varifocal classification and IoU-family box losses.

Dims: B images, P point priors over all levels, C classes, F foreground
priors of the batch.

Post-processing is :meth:`YOLOv5Head.predict_by_feat` without objectness.
The v3.0 distance distribution (``reg_max > 1``) only changes how the head
module computes its distances; MMYOLO 0.6.0 trains it through the box loss
alone (no DFL term), and so does yolokit.
"""
from typing import List, Optional, Sequence

import torch.nn as nn
from mmdet.utils import (ConfigType, OptConfigType, OptInstanceList,
                         OptMultiConfig)
from mmengine.dist import get_world_size
from mmengine.logging import MessageHub
from torch import Tensor

from yolokit.registry import MODELS, TASK_UTILS
from ..utils import PaddedGT, flatten_levels, graph_keeping_zero
from .assigner_setup import build_assigner, require_assigner
from .yolov5_head import GTInput, YOLOv5Head
from .yolov8_head import ForegroundTargets

# keys YOLOv6's train_cfg must have besides `assigner`
WARMUP_KEYS = ('initial_epoch', 'initial_assigner')


def current_epoch() -> int:
    """The 0-based epoch the runner publishes in mmengine's MessageHub
    (``'epoch'``); 0 outside a training loop (e.g. a bare ``loss`` call),
    which selects the warm-up assigner."""
    epoch = MessageHub.get_current_instance().get_info('epoch')
    return 0 if epoch is None else int(epoch)


def varifocal_term(loss_cls: nn.Module, cls_logits: Tensor,
                   target_scores: Tensor, norm: Tensor) -> Tensor:
    """Summed Varifocal loss of all ``(B, P, C)`` logits against the soft
    targets, divided by ``norm`` when that is positive.

    Runs in float32: the focal weight ``|sigmoid(x) - t| ** gamma`` of
    confident negatives underflows in half precision.
    """
    loss = loss_cls(cls_logits.float(), target_scores.float())
    return loss / norm if norm > 0 else loss


def iou_term(loss_bbox: nn.Module, pred_stride: Tensor, target_stride: Tensor,
             fg_weight: Tensor, norm: Tensor) -> Tensor:
    """IoU loss of ``(F, 4)`` foreground boxes in stride units, each weighted
    by ``fg_weight (F, 1)``; with ``reduction='mean'`` it is their weighted
    sum over ``norm`` (``avg_factor``)."""
    return loss_bbox(
        pred_stride, target_stride, weight=fg_weight, avg_factor=norm)


@MODELS.register_module()
class YOLOv6Head(YOLOv5Head):
    """Head of YOLOv6 (v2.0 and v3.0): decoupled and anchor-free.

    Assignment: :class:`BatchATSSAssigner` (``train_cfg.initial_assigner``)
    while the epoch is below ``train_cfg.initial_epoch``, then
    ``train_cfg.assigner`` (:class:`BatchTaskAlignedAssigner`). With ``t``
    the soft class targets and ``S = sum(t)``:

    - ``loss_cls``: Varifocal loss of every (prior, class) logit against
      ``t``, summed, / S (left undivided when S is 0);
    - ``loss_bbox``: IoU loss (GIoU, or SIoU for the n/t models) of the
      foreground boxes in stride units, each weighted by the sum of its
      ``t``, summed / S.

    Both are multiplied by the world size only (not by the batch size).

    Args:
        head_module (dict): Config of :class:`YOLOv6HeadModule`.
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
        self.loss_obj = None  # no objectness branch

    def special_init(self) -> None:
        """Build both assigners from ``train_cfg`` when one is given (the
        warm-up one first: the module order is MMYOLO's)."""
        if not self.train_cfg:
            return
        missing = [k for k in WARMUP_KEYS if k not in self.train_cfg]
        if missing:
            raise KeyError(f'YOLOv6Head: train_cfg needs {list(WARMUP_KEYS)} '
                           f'besides "assigner"; missing {missing} (it has '
                           f'{sorted(self.train_cfg)})')
        self.initial_epoch = self.train_cfg['initial_epoch']
        self.initial_assigner = TASK_UTILS.build(
            self.train_cfg['initial_assigner'])
        build_assigner(self)

    def loss_by_feat(
            self,
            cls_scores: Sequence[Tensor],
            bbox_preds: Sequence[Tensor],
            bbox_dist_preds: Optional[Sequence[Tensor]],
            batch_gt_instances: GTInput,
            batch_img_metas: Sequence[dict],
            batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        """The losses of a batch (see the class docstring).

        Args:
            cls_scores (Sequence[Tensor]): Per level ``(B, C, H, W)``.
            bbox_preds (Sequence[Tensor]): Per level distances in stride
                units ``(B, 4, H, W)``.
            bbox_dist_preds (Sequence[Tensor], optional): The head module's
                third training output; not used by the losses.
            batch_gt_instances (Sequence[InstanceData] | Tensor): Per-image
                GT (``bboxes`` in x1y1x2y2, ``labels``), or the fast
                ``(N, 6)`` tensor of (img_idx, label, x1, y1, x2, y2).
            batch_img_metas (Sequence[dict]): Meta information of each
                image.
            batch_gt_instances_ignore (list[InstanceData], optional): Not
                used by YOLOv6.

        Returns:
            dict[str, Tensor]: ``loss_cls`` and ``loss_bbox``.
        """
        require_assigner(self)
        if len(bbox_preds) != len(cls_scores):
            raise ValueError(f'cls_scores has {len(cls_scores)} levels but '
                             f'bbox_preds has {len(bbox_preds)}')
        num_imgs = len(batch_img_metas)
        first = cls_scores[0]
        sizes = [m.shape[2:] for m in cls_scores]
        flat = self.prior_cache(
            sizes, first.dtype, first.device, with_stride=True)
        strides = flat.strides[:, None]  # (P, 1)
        cls_logits = flatten_levels(cls_scores, self.num_classes)  # (B,P,C)
        boxes = self.bbox_coder.decode(flat.priors[:, :2],
                                       flatten_levels(bbox_preds, 4),
                                       flat.strides)  # (B, P, 4) px
        gt = PaddedGT.from_batch(batch_gt_instances, num_imgs, first.device)
        tgt = ForegroundTargets.from_result(
            self._assign(boxes.detach(), cls_logits.detach(), flat.priors,
                         self._level_counts(sizes), gt))
        norm = tgt.scores.sum()  # S of the class docstring

        terms = dict(
            loss_cls=varifocal_term(self.loss_cls, cls_logits, tgt.scores,
                                    norm))
        if tgt.is_fg.any():
            fg_strides = strides.expand(num_imgs, -1, -1)[tgt.is_fg]  # (F,1)
            terms['loss_bbox'] = iou_term(
                self.loss_bbox, boxes[tgt.is_fg] / fg_strides,
                tgt.boxes[tgt.is_fg] / fg_strides,
                tgt.scores.sum(-1)[tgt.is_fg][:, None], norm)
        else:
            terms['loss_bbox'] = graph_keeping_zero(boxes)
        # the official code averages over the local batch and leaves the
        # cross-process average of DDP in place, so only undo the latter
        world_size = get_world_size()
        return {name: value * world_size for name, value in terms.items()}

    def _level_counts(self, sizes: Sequence) -> List[int]:
        """Priors on each level: ``H * W * A``."""
        return [int(h) * int(w) * self.num_base_priors for h, w in sizes]

    def _assign(self, boxes: Tensor, cls_logits: Tensor, priors: Tensor,
                num_level_priors: List[int], gt: PaddedGT) -> dict:
        """The assigner of the current epoch on detached predictions."""
        boxes = boxes.to(gt.boxes.dtype)  # GT keep full precision under AMP
        if current_epoch() < self.initial_epoch:
            return self.initial_assigner(boxes, priors, num_level_priors,
                                         gt.labels, gt.boxes, gt.is_real)
        return self.assigner(boxes, cls_logits.sigmoid(), priors, gt.labels,
                             gt.boxes, gt.is_real)
