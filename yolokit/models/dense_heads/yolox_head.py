"""YOLOX detection head: SimOTA assignment, IoU/BCE losses, optional L1."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.task_modules.samplers import PseudoSampler
from mmdet.structures.bbox import bbox_xyxy_to_cxcywh, get_box_tensor
from mmdet.utils import (ConfigType, OptConfigType, OptInstanceList,
                         OptMultiConfig, reduce_mean)
from mmengine.structures import InstanceData
from torch import Tensor

from yolokit.registry import MODELS, TASK_UTILS
from .yolov5_head import YOLOv5Head


@MODELS.register_module()
class YOLOXHead(YOLOv5Head):
    """YOLOXHead head used in `YOLOX <https://arxiv.org/abs/2107.08430>`_.

    Anchor-free with one point prior per feature-map position
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
            head_module=head_module,
            prior_generator=prior_generator,
            bbox_coder=bbox_coder,
            loss_cls=loss_cls,
            loss_bbox=loss_bbox,
            loss_obj=loss_obj,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            init_cfg=init_cfg)

    def special_init(self) -> None:
        """Build ``loss_bbox_aux`` and, with a ``train_cfg``, the assigner
        and the (pseudo) sampler; YOLOX does not sample."""
        self.loss_bbox_aux: nn.Module = MODELS.build(self._loss_bbox_aux_cfg)
        if self.train_cfg:
            if 'assigner' not in self.train_cfg:
                raise KeyError(
                    f'{type(self).__name__}: train_cfg needs an "assigner" '
                    f'config, but has only {sorted(self.train_cfg)}')
            self.assigner = TASK_UTILS.build(self.train_cfg['assigner'])
            self.sampler = PseudoSampler()

    def forward(self, x: Tuple[Tensor]) -> Tuple[List]:
        """Forward the features through the head module.

        Args:
            x (tuple[Tensor]): One feature map per level.

        Returns:
            tuple[list[Tensor]]: Per-level class logits, box deltas and
            objectness logits.
        """
        return self.head_module(x)

    @staticmethod
    def gt_instances_preprocess(batch_gt_instances: Tensor,
                                batch_size: int) -> List[InstanceData]:
        """Split the batch GT tensor into per-image ``InstanceData``.

        Args:
            batch_gt_instances (Tensor): ``[num_all_gt, 6]`` rows of
                ``(img_idx, label, x1, y1, x2, y2)`` (``yolov5_collate``).
            batch_size (int): Number of images in the batch.

        Returns:
            list[InstanceData]: One per image, with ``bboxes`` ``(n, 4)``
            and integer ``labels`` ``(n,)``.
        """
        results = []
        for i in range(batch_size):
            rows = batch_gt_instances[batch_gt_instances[:, 0] == i]
            results.append(
                InstanceData(bboxes=rows[:, 2:], labels=rows[:, 1].long()))
        return results

    def loss_by_feat(
            self,
            cls_scores: Sequence[Tensor],
            bbox_preds: Sequence[Tensor],
            objectnesses: Sequence[Tensor],
            batch_gt_instances: Union[Sequence[InstanceData], Tensor],
            batch_img_metas: Sequence[dict],
            batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        """Compute the losses from the head outputs.

        Args:
            cls_scores (Sequence[Tensor]): Per-level class logits
                ``(B, num_classes, H, W)``.
            bbox_preds (Sequence[Tensor]): Per-level box deltas
                ``(B, 4, H, W)``.
            objectnesses (Sequence[Tensor]): Per-level objectness logits
                ``(B, 1, H, W)``.
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
        if not hasattr(self, 'assigner'):
            raise RuntimeError(
                f'{type(self).__name__} was built without a train_cfg, so '
                'it has no assigner and cannot compute losses')
        num_imgs = len(batch_img_metas)
        if isinstance(batch_gt_instances, Tensor):
            batch_gt_instances = self.gt_instances_preprocess(
                batch_gt_instances, num_imgs)
        if batch_gt_instances_ignore is None:
            batch_gt_instances_ignore = [None] * num_imgs

        featmap_sizes = [cls_score.shape[2:] for cls_score in cls_scores]
        mlvl_priors = self.prior_generator.grid_priors(
            featmap_sizes,
            dtype=cls_scores[0].dtype,
            device=cls_scores[0].device,
            with_stride=True)
        # (num_priors, 4): x, y, stride_w, stride_h
        flatten_priors = torch.cat(mlvl_priors)

        flatten_cls_preds = torch.cat([
            cls_pred.permute(0, 2, 3, 1).reshape(
                num_imgs, -1, self.num_classes) for cls_pred in cls_scores
        ], 1)
        flatten_bbox_preds = torch.cat([
            bbox_pred.permute(0, 2, 3, 1).reshape(num_imgs, -1, 4)
            for bbox_pred in bbox_preds
        ], 1)
        flatten_objectness = torch.cat([
            objectness.permute(0, 2, 3, 1).reshape(num_imgs, -1)
            for objectness in objectnesses
        ], 1)
        flatten_bboxes = get_box_tensor(
            self.bbox_coder.decode(flatten_priors[..., :2], flatten_bbox_preds,
                                   flatten_priors[..., 2]))

        pos_masks, cls_targets, obj_targets, bbox_targets = [], [], [], []
        bbox_aux_targets, num_fg = [], 0
        for i in range(num_imgs):
            targets = self._get_targets_single(
                flatten_priors, flatten_cls_preds[i].detach(),
                flatten_bboxes[i].detach(), flatten_objectness[i].detach(),
                batch_gt_instances[i], batch_img_metas[i],
                batch_gt_instances_ignore[i])
            pos_masks.append(targets[0])
            cls_targets.append(targets[1])
            obj_targets.append(targets[2])
            bbox_targets.append(targets[3])
            bbox_aux_targets.append(targets[4])
            num_fg += targets[5]

        # averaging the positives over the processes helps on COCO
        num_pos = torch.tensor(
            num_fg, dtype=torch.float, device=flatten_cls_preds.device)
        num_total_samples = max(reduce_mean(num_pos), 1.0)

        pos_masks = torch.cat(pos_masks, 0)
        cls_targets = torch.cat(cls_targets, 0)
        obj_targets = torch.cat(obj_targets, 0)
        bbox_targets = torch.cat(bbox_targets, 0)

        loss_obj = self.loss_obj(flatten_objectness.view(-1, 1),
                                 obj_targets) / num_total_samples
        if num_fg > 0:
            loss_cls = self.loss_cls(
                flatten_cls_preds.view(-1, self.num_classes)[pos_masks],
                cls_targets) / num_total_samples
            loss_bbox = self.loss_bbox(
                flatten_bboxes.view(-1, 4)[pos_masks],
                bbox_targets) / num_total_samples
        else:
            # zero losses that keep the branches in the graph, so that
            # distributed training finds a gradient for every parameter
            loss_cls = flatten_cls_preds.sum() * 0
            loss_bbox = flatten_bboxes.sum() * 0
        losses = dict(
            loss_cls=loss_cls, loss_bbox=loss_bbox, loss_obj=loss_obj)

        if self.use_bbox_aux:
            if num_fg > 0:
                bbox_aux_targets = torch.cat(bbox_aux_targets, 0)
                loss_bbox_aux = self.loss_bbox_aux(
                    flatten_bbox_preds.view(-1, 4)[pos_masks],
                    bbox_aux_targets) / num_total_samples
            else:
                loss_bbox_aux = flatten_bbox_preds.sum() * 0
            losses['loss_bbox_aux'] = loss_bbox_aux
        return losses

    @torch.no_grad()
    def _get_targets_single(
            self,
            priors: Tensor,
            cls_preds: Tensor,
            decoded_bboxes: Tensor,
            objectness: Tensor,
            gt_instances: InstanceData,
            img_meta: dict,
            gt_instances_ignore: Optional[InstanceData] = None) -> tuple:
        """Targets of the priors of one image.

        Args:
            priors (Tensor): ``(num_priors, 4)`` (x, y, stride_w, stride_h),
                ``(x, y)`` being the top-left corner of the prior's cell.
            cls_preds (Tensor): Class logits ``(num_priors, num_classes)``.
            decoded_bboxes (Tensor): Decoded boxes ``(num_priors, 4)``.
            objectness (Tensor): Objectness logits ``(num_priors,)``.
            gt_instances (InstanceData): GT ``bboxes`` and ``labels``.
            img_meta (dict): Meta information of the image.
            gt_instances_ignore (InstanceData, optional): Ignored boxes.

        Returns:
            tuple: ``foreground_mask (num_priors,)``, ``cls_target
            (num_pos, num_classes)``, ``obj_target (num_priors, 1)``,
            ``bbox_target (num_pos, 4)``, ``bbox_aux_target (num_pos, 4)``
            and the number of positives.
        """
        num_priors = priors.size(0)
        num_gts = len(gt_instances)
        if num_gts == 0:
            cls_target = cls_preds.new_zeros((0, self.num_classes))
            bbox_target = cls_preds.new_zeros((0, 4))
            bbox_aux_target = cls_preds.new_zeros((0, 4))
            obj_target = cls_preds.new_zeros((num_priors, 1))
            foreground_mask = cls_preds.new_zeros(num_priors).bool()
            return (foreground_mask, cls_target, obj_target, bbox_target,
                    bbox_aux_target, 0)

        gt_bboxes = get_box_tensor(gt_instances.bboxes).to(cls_preds.dtype)
        gt_instances = InstanceData(
            bboxes=gt_bboxes, labels=gt_instances.labels.long())
        # The assignment uses the cell centres (+0.5 stride); the boxes are
        # regressed from the cell corners.
        offset_priors = torch.cat(
            [priors[:, :2] + priors[:, 2:] * 0.5, priors[:, 2:]], dim=-1)
        scores = (cls_preds.sigmoid() *
                  objectness.unsqueeze(1).sigmoid()).sqrt()
        pred_instances = InstanceData(
            bboxes=decoded_bboxes, scores=scores, priors=offset_priors)
        assign_result = self.assigner.assign(
            pred_instances=pred_instances,
            gt_instances=gt_instances,
            gt_instances_ignore=gt_instances_ignore)
        sampling_result = self.sampler.sample(assign_result, pred_instances,
                                              gt_instances)
        pos_inds = sampling_result.pos_inds
        num_pos = pos_inds.numel()

        pos_ious = assign_result.max_overlaps[pos_inds]
        # IoU-aware classification target
        cls_target = F.one_hot(sampling_result.pos_gt_labels.long(),
                               self.num_classes).to(
                                   cls_preds.dtype) * pos_ious.unsqueeze(-1)
        obj_target = objectness.new_zeros((num_priors, 1))
        obj_target[pos_inds] = 1
        bbox_target = sampling_result.pos_gt_bboxes
        if self.use_bbox_aux:
            bbox_aux_target = self._get_bbox_aux_target(
                bbox_target, priors[pos_inds])
        else:
            bbox_aux_target = cls_preds.new_zeros((num_pos, 4))
        foreground_mask = objectness.new_zeros(num_priors, dtype=torch.bool)
        foreground_mask[pos_inds] = True
        return (foreground_mask, cls_target, obj_target, bbox_target,
                bbox_aux_target, num_pos)

    @staticmethod
    def _get_bbox_aux_target(gt_bboxes: Tensor,
                             priors: Tensor,
                             eps: float = 1e-8) -> Tensor:
        """Encode GT boxes as the raw deltas the head predicts: centre offset
        from the prior in strides, log of the size in strides."""
        gt_cxcywh = bbox_xyxy_to_cxcywh(gt_bboxes)
        xy = (gt_cxcywh[:, :2] - priors[:, :2]) / priors[:, 2:]
        wh = torch.log(gt_cxcywh[:, 2:] / priors[:, 2:] + eps)
        return torch.cat([xy, wh], dim=-1)
