"""YOLOX detection head: SimOTA assignment, IoU/BCE losses, optional L1.

Dims: B images, P point priors over all levels, C classes, F foreground
priors of one image.
"""
from typing import List, NamedTuple, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.task_modules.samplers import PseudoSampler
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import (ConfigType, OptConfigType, OptInstanceList,
                         OptMultiConfig, reduce_mean)
from mmengine.structures import InstanceData
from torch import Tensor

from yolokit.registry import MODELS
from ..task_modules.coders import yolox_deltas
from ..utils import flatten_levels, graph_keeping_zero
from .assigner_setup import build_assigner, require_assigner
from .yolov5_head import YOLOv5Head


@MODELS.register_module()
class YOLOXHead(YOLOv5Head):
    """Head of YOLOX (arXiv 2107.08430): anchor-free, decoupled, with
    objectness.

    One point prior per feature-map position
    (``MlvlPointGenerator`` with offset 0); the head module predicts class
    logits, box deltas decoded by :class:`YOLOXBBoxCoder` and an objectness
    logit. Training assigns targets per image with ``train_cfg.assigner``
    (``mmdet.SimOTAAssigner``) and computes

    * ``loss_obj`` (BCE) over all priors, with target 1 at the positives;
    * ``loss_cls`` (BCE) over the positives, with the IoU of the positive's
      decoded box and its GT as the soft target of the GT class;
    * ``loss_bbox`` (IoU loss) between the positives' decoded boxes and
      their GT boxes;
    * ``loss_bbox_aux`` (L1) between the positives' raw deltas and the
      encoded GT, only once :attr:`use_bbox_aux` is True (switched on for
      the last epochs by :class:`YOLOXModeSwitchHook`).

    Every loss is divided by the number of positives averaged over the
    processes (at least 1). Prediction is :meth:`YOLOv5Head.predict_by_feat`
    with objectness (the configs set ``yolox_style=True``).

    Args:
        head_module (dict): Config of the prediction module, e.g.
            :class:`YOLOXHeadModule`.
        prior_generator (dict): Config of the point generator.
        bbox_coder (dict): Config of the box coder.
        loss_cls (dict): Config of the classification loss.
        loss_bbox (dict): Config of the box loss.
        loss_obj (dict): Config of the objectness loss.
        loss_bbox_aux (dict): Config of the auxiliary L1 box loss.
        train_cfg (dict, optional): Training config with the ``assigner``.
            Defaults to None.
        test_cfg (dict, optional): Post-processing config, see
            :meth:`YOLOv5Head.predict_by_feat`. Defaults to None.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.
    """

    def __init__(self,
                 head_module: ConfigType,
                 prior_generator: ConfigType = dict(
                     type='mmdet.MlvlPointGenerator',
                     offset=0,
                     strides=[8, 16, 32]),
                 bbox_coder: ConfigType = dict(type='YOLOXBBoxCoder'),
                 loss_cls: ConfigType = dict(
                     type='mmdet.CrossEntropyLoss',
                     use_sigmoid=True,
                     reduction='sum',
                     loss_weight=1.0),
                 loss_bbox: ConfigType = dict(
                     type='mmdet.IoULoss',
                     mode='square',
                     eps=1e-16,
                     reduction='sum',
                     loss_weight=5.0),
                 loss_obj: ConfigType = dict(
                     type='mmdet.CrossEntropyLoss',
                     use_sigmoid=True,
                     reduction='sum',
                     loss_weight=1.0),
                 loss_bbox_aux: ConfigType = dict(
                     type='mmdet.L1Loss', reduction='sum', loss_weight=1.0),
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None):
        # Read by special_init, which YOLOv5Head.__init__ calls at its end.
        self.use_bbox_aux = False
        self._loss_bbox_aux_cfg = loss_bbox_aux
        super().__init__(
            head_module,
            prior_generator,
            bbox_coder,
            loss_cls,
            loss_bbox,
            loss_obj,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            init_cfg=init_cfg)

    def special_init(self) -> None:
        """Build ``loss_bbox_aux`` and, with a ``train_cfg``, the assigner
        and the pseudo sampler (YOLOX does not sample)."""
        self.loss_bbox_aux: nn.Module = MODELS.build(self._loss_bbox_aux_cfg)
        build_assigner(self)
        if self.train_cfg:
            self.sampler = PseudoSampler()

    @staticmethod
    def gt_instances_preprocess(batch_gt_instances: Tensor,
                                batch_size: int) -> List[InstanceData]:
        """The fast ``(N, 6)`` GT tensor of ``yolov5_collate`` (rows
        ``(img_idx, label, x1, y1, x2, y2)``) as one ``InstanceData`` per
        image, with ``bboxes (n, 4)`` and integer ``labels (n,)``."""
        img_inds = batch_gt_instances[:, 0]
        per_image = [batch_gt_instances[img_inds == i] for i in range(
            batch_size)]
        return [
            InstanceData(bboxes=rows[:, 2:], labels=rows[:, 1].long())
            for rows in per_image
        ]

    def loss_by_feat(
            self,
            cls_scores: Sequence[Tensor],
            bbox_preds: Sequence[Tensor],
            objectnesses: Sequence[Tensor],
            batch_gt_instances: Union[Sequence[InstanceData], Tensor],
            batch_img_metas: Sequence[dict],
            batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        """The losses of a batch (see the class docstring).

        Args:
            cls_scores (Sequence[Tensor]): Per level ``(B, C, H, W)``
                logits.
            bbox_preds (Sequence[Tensor]): Per level ``(B, 4, H, W)``
                deltas.
            objectnesses (Sequence[Tensor]): Per level ``(B, 1, H, W)``
                logits.
            batch_gt_instances (Sequence[InstanceData] | Tensor): Per-image
                GT (``bboxes`` in x1y1x2y2, ``labels``), or the fast
                ``(N, 6)`` tensor of (img_idx, label, x1, y1, x2, y2).
            batch_img_metas (Sequence[dict]): Meta information of each
                image.
            batch_gt_instances_ignore (list[InstanceData], optional):
                Passed to the assigner (SimOTA ignores it).

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_bbox`` and ``loss_obj``,
            plus ``loss_bbox_aux`` when :attr:`use_bbox_aux` is True.
        """
        require_assigner(self)
        num_imgs = len(batch_img_metas)
        if isinstance(batch_gt_instances, Tensor):
            batch_gt_instances = self.gt_instances_preprocess(
                batch_gt_instances, num_imgs)
        if batch_gt_instances_ignore is None:
            batch_gt_instances_ignore = [None] * num_imgs

        first = cls_scores[0]
        flat = self.prior_cache([m.shape[2:] for m in cls_scores],
                                first.dtype,
                                first.device,
                                with_stride=True)  # (P, 4): x, y, s_w, s_h
        cls_logits = flatten_levels(cls_scores, self.num_classes)
        deltas = flatten_levels(bbox_preds, 4)
        obj_logits = flatten_levels(objectnesses, 1)[..., 0]  # (B, P)
        boxes = get_box_tensor(
            self.bbox_coder.decode(flat.priors[:, :2], deltas, flat.strides))

        per_image = [
            self._simota_targets(flat.priors, cls_logits[i].detach(),
                                 boxes[i].detach(), obj_logits[i].detach(),
                                 batch_gt_instances[i],
                                 batch_gt_instances_ignore[i])
            for i in range(num_imgs)
        ]
        tgt = SimOTATargets(*(torch.cat(parts) for parts in zip(*per_image)))
        num_fg = len(tgt.cls)
        # the positives averaged over the processes (at least 1) normalise
        # every term, which YOLOX found to help on COCO
        norm = max(
            reduce_mean(
                torch.tensor(num_fg, dtype=torch.float, device=first.device)),
            1.0)

        fg_of = SelectForeground(tgt.is_fg, num_fg)
        losses = dict(
            loss_cls=fg_of.loss(self.loss_cls, cls_logits, tgt.cls, norm),
            loss_bbox=fg_of.loss(self.loss_bbox, boxes, tgt.boxes, norm),
            loss_obj=self.loss_obj(obj_logits.view(-1, 1), tgt.obj) / norm)
        if self.use_bbox_aux:
            losses['loss_bbox_aux'] = fg_of.loss(self.loss_bbox_aux, deltas,
                                                 tgt.aux, norm)
        return losses

    @torch.no_grad()
    def _simota_targets(
            self,
            priors: Tensor,
            cls_logits: Tensor,
            boxes: Tensor,
            obj_logits: Tensor,
            gt_instances: InstanceData,
            gt_instances_ignore: Optional[InstanceData] = None
    ) -> 'SimOTATargets':
        """Targets of the priors of one image.

        Args:
            priors (Tensor): ``(P, 4)`` (x, y, s_w, s_h), ``(x, y)`` the
                top-left corner of the prior's cell.
            cls_logits (Tensor): ``(P, C)``.
            boxes (Tensor): Decoded boxes ``(P, 4)``.
            obj_logits (Tensor): ``(P,)``.
            gt_instances (InstanceData): GT ``bboxes`` and ``labels``.
            gt_instances_ignore (InstanceData, optional): Ignored boxes.
        """
        num_priors = len(priors)
        if len(gt_instances) == 0:
            return SimOTATargets.background(num_priors, self.num_classes,
                                            cls_logits)
        gt_instances = InstanceData(
            bboxes=get_box_tensor(gt_instances.bboxes).to(cls_logits.dtype),
            labels=gt_instances.labels.long())
        # SimOTA measures distances from the cell centres, while the boxes
        # are regressed from the cell corners
        centres = torch.cat(
            [priors[:, :2] + priors[:, 2:] * 0.5, priors[:, 2:]], dim=-1)
        # the score SimOTA ranks by: geometric mean of class and objectness
        joint = (cls_logits.sigmoid() * obj_logits[:, None].sigmoid()).sqrt()
        candidates = InstanceData(bboxes=boxes, scores=joint, priors=centres)
        assigned = self.assigner.assign(
            pred_instances=candidates,
            gt_instances=gt_instances,
            gt_instances_ignore=gt_instances_ignore)
        sampled = self.sampler.sample(assigned, candidates, gt_instances)
        fg_inds = sampled.pos_inds

        is_fg = torch.zeros(num_priors, dtype=torch.bool, device=boxes.device)
        is_fg[fg_inds] = True
        obj = obj_logits.new_zeros((num_priors, 1))
        obj[fg_inds] = 1
        # IoU-aware classification: the GT class's target is the IoU
        cls = F.one_hot(sampled.pos_gt_labels.long(), self.num_classes).to(
            cls_logits.dtype) * assigned.max_overlaps[fg_inds, None]
        fg_boxes = sampled.pos_gt_bboxes
        if self.use_bbox_aux:
            aux = yolox_deltas(fg_boxes, priors[fg_inds, :2],
                               priors[fg_inds, 2])
        else:
            aux = cls_logits.new_zeros((len(fg_inds), 4))
        return SimOTATargets(is_fg, cls, obj, fg_boxes, aux)


class SimOTATargets(NamedTuple):
    """Targets of the priors of one image (or, concatenated, of a batch)."""
    is_fg: Tensor  # (P,) bool
    cls: Tensor  # (F, C) one-hot times the IoU with the GT
    obj: Tensor  # (P, 1) 1 at the foreground, 0 elsewhere
    boxes: Tensor  # (F, 4) GT boxes, x1y1x2y2 px
    aux: Tensor  # (F, 4) GT as raw deltas; zeros when aux is off

    @classmethod
    def background(cls, num_priors: int, num_classes: int,
                   like: Tensor) -> 'SimOTATargets':
        """Every prior background (an image without GT)."""
        return cls(
            like.new_zeros(num_priors, dtype=torch.bool),
            like.new_zeros((0, num_classes)), like.new_zeros((num_priors, 1)),
            like.new_zeros((0, 4)), like.new_zeros((0, 4)))


class SelectForeground(NamedTuple):
    """Applies a loss to the foreground rows of flat ``(B, P, k)`` preds."""
    is_fg: Tensor  # (B * P,) bool
    num_fg: int

    def loss(self, loss_fn: nn.Module, pred: Tensor, target: Tensor,
             norm) -> Tensor:
        """``loss_fn`` of the foreground rows against ``target``, / norm."""
        if self.num_fg == 0:
            return graph_keeping_zero(pred)
        rows = pred.reshape(-1, pred.shape[-1])[self.is_fg]
        return loss_fn(rows, target) / norm
