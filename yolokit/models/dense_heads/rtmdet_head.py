"""RTMDet detection head: dynamic soft label assignment, QFL + GIoU."""
from typing import List, Tuple, Union

import torch
from mmdet.models.task_modules.samplers import PseudoSampler
from mmdet.structures.bbox import distance2bbox
from mmdet.utils import (ConfigType, InstanceList, OptConfigType,
                         OptInstanceList, OptMultiConfig, reduce_mean)
from torch import Tensor

from yolokit.registry import MODELS, TASK_UTILS
from ..utils import PaddedGT, flatten_levels, graph_keeping_zero
from .assigner_setup import build_assigner, require_assigner
from .yolov5_head import YOLOv5Head


@MODELS.register_module()
class RTMDetHead(YOLOv5Head):
    """Head of RTMDet.

    Anchor-free: one point prior per position (``MlvlPointGenerator`` with
    offset 0); the head module predicts class logits and (left, top, right,
    bottom) distances in units of the stride; there is no objectness.
    Training assigns targets with ``train_cfg.assigner``
    (``BatchDynamicSoftLabelAssigner`` in the configs) and computes a
    Quality Focal Loss against the soft label ``IoU`` of each positive and a
    GIoU loss weighted by that IoU, both normalised by the (all-reduced) sum
    of the positives' IoUs. Prediction is :meth:`YOLOv5Head.predict_by_feat`
    without objectness.

    Args:
        head_module (dict): Config of the prediction module, e.g.
            :class:`RTMDetSepBNHeadModule`.
        prior_generator (dict): Config of the point generator.
        bbox_coder (dict): Config of the box coder used by prediction.
        loss_cls (dict): Config of the classification loss.
        loss_bbox (dict): Config of the box loss.
        train_cfg (dict, optional): Training config; ``assigner`` is
            required, ``sampler`` optional. Defaults to None.
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
                 bbox_coder: ConfigType = dict(type='DistancePointBBoxCoder'),
                 loss_cls: ConfigType = dict(
                     type='mmdet.QualityFocalLoss',
                     use_sigmoid=True,
                     beta=2.0,
                     loss_weight=1.0),
                 loss_bbox: ConfigType = dict(
                     type='mmdet.GIoULoss', loss_weight=2.0),
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
        self.use_sigmoid_cls = loss_cls.get('use_sigmoid', False)
        # a softmax classifier has one more output: the background
        self.cls_out_channels = self.num_classes + (not self.use_sigmoid_cls)
        self.loss_obj = None  # no objectness branch

    def special_init(self) -> None:
        """Build the assigner and sampler from ``train_cfg`` (if given)."""
        build_assigner(self)
        if self.train_cfg:
            sampler = self.train_cfg.get('sampler')
            self.sampler = PseudoSampler(context=self) if sampler is None \
                else TASK_UTILS.build(sampler, default_args=dict(context=self))

    def loss_by_feat(
            self,
            cls_scores: List[Tensor],
            bbox_preds: List[Tensor],
            batch_gt_instances: Union[InstanceList, Tensor],
            batch_img_metas: List[dict],
            batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        """The losses of a batch (see the class docstring).

        Args:
            cls_scores (list[Tensor]): Per level ``(B, A * C, H, W)``
                logits.
            bbox_preds (list[Tensor]): Per level (left, top, right, bottom)
                distances in stride units ``(B, A * 4, H, W)``.
            batch_gt_instances (list[InstanceData] | Tensor): Per-image GT
                (``bboxes`` in x1y1x2y2, ``labels``), or the fast ``(N, 6)``
                tensor of (img_idx, label, x1, y1, x2, y2).
            batch_img_metas (list[dict]): Meta information of each image.
            batch_gt_instances_ignore (list[InstanceData], optional): Not
                used by RTMDet. Defaults to None.

        Returns:
            dict[str, Tensor]: ``loss_cls`` and ``loss_bbox``.
        """
        require_assigner(self)
        if len(cls_scores) != self.prior_generator.num_levels:
            raise ValueError(
                f'Got {len(cls_scores)} levels of predictions but the '
                f'prior generator has {self.prior_generator.num_levels}')
        num_imgs = len(batch_img_metas)
        device = cls_scores[0].device
        # float32 priors whatever the prediction dtype, as MMYOLO's
        flat = self.prior_cache([m.shape[2:] for m in cls_scores],
                                torch.float32,
                                device,
                                with_stride=True)
        cls_logits = flatten_levels(cls_scores, self.cls_out_channels)
        pred_boxes = distance2bbox(
            flat.priors[:, :2],
            flatten_levels(bbox_preds, 4) * flat.strides[:, None])
        gt = PaddedGT.from_batch(batch_gt_instances, num_imgs, device)
        assigned = self.assigner(pred_boxes.detach(), cls_logits.detach(),
                                 flat.priors, gt.labels, gt.boxes, gt.is_real)

        labels = assigned['assigned_labels'].reshape(-1)
        # IoU of each positive with its GT: QFL's soft target, GIoU's weight
        quality = assigned['assign_metrics'].reshape(-1)
        boxes = pred_boxes.reshape(-1, 4)
        is_fg = (labels >= 0) & (labels < self.num_classes)  # C: background
        # both terms are normalised by the soft targets summed over all
        # processes, so every process weighs a positive the same
        norm = reduce_mean(quality.sum()).clamp_(min=1).item()
        loss_cls = self.loss_cls(
            cls_logits.reshape(-1, self.cls_out_channels), (labels, quality),
            assigned['assigned_labels_weights'].reshape(-1),
            avg_factor=norm)
        if is_fg.any():
            loss_bbox = self.loss_bbox(
                boxes[is_fg],
                assigned['assigned_bboxes'].reshape(-1, 4)[is_fg],
                weight=quality[is_fg],
                avg_factor=norm)
        else:
            loss_bbox = graph_keeping_zero(boxes)
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox)
