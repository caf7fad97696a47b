"""RTMDet detection head: dynamic soft label assignment, QFL + GIoU."""
from typing import List, Tuple, Union

import torch
from mmdet.models.task_modules.samplers import PseudoSampler
from mmdet.structures.bbox import distance2bbox
from mmdet.utils import (ConfigType, InstanceList, OptConfigType,
                         OptInstanceList, OptMultiConfig, reduce_mean)
from torch import Tensor

from yolokit.registry import MODELS, TASK_UTILS
from ..utils import gt_instances_preprocess
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
            head_module=head_module,
            prior_generator=prior_generator,
            bbox_coder=bbox_coder,
            loss_cls=loss_cls,
            loss_bbox=loss_bbox,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            init_cfg=init_cfg)

        self.use_sigmoid_cls = loss_cls.get('use_sigmoid', False)
        if self.use_sigmoid_cls:
            self.cls_out_channels = self.num_classes
        else:
            self.cls_out_channels = self.num_classes + 1
        # RTMDet has no objectness branch
        self.loss_obj = None

    def special_init(self) -> None:
        """Build the assigner and sampler from ``train_cfg`` (if given) and
        reset the cache of training priors."""
        self.featmap_sizes_train = None
        self.flatten_priors_train = None
        self._train_priors_key = None
        if self.train_cfg:
            if 'assigner' not in self.train_cfg:
                raise KeyError(
                    f'{type(self).__name__}: train_cfg needs an "assigner" '
                    f'config, but has only {sorted(self.train_cfg)}')
            self.assigner = TASK_UTILS.build(self.train_cfg['assigner'])
            if self.train_cfg.get('sampler', None) is not None:
                self.sampler = TASK_UTILS.build(
                    self.train_cfg['sampler'], default_args=dict(context=self))
            else:
                self.sampler = PseudoSampler(context=self)

    def forward(self, x: Tuple[Tensor]) -> Tuple[List]:
        """Forward the features through the head module.

        Args:
            x (tuple[Tensor]): One feature map per level.

        Returns:
            tuple[list[Tensor]]: Per-level class scores and box distances
            (no objectness).
        """
        return self.head_module(x)

    def _get_train_priors(self, featmap_sizes: List[torch.Size],
                          device: torch.device) -> Tensor:
        """``(num_priors, 4)`` (x, y, stride_w, stride_h) of all levels,
        cached while the sizes and device stay the same."""
        key = (tuple(tuple(s) for s in featmap_sizes), device)
        if key != self._train_priors_key:
            mlvl_priors = self.prior_generator.grid_priors(
                featmap_sizes, device=device, with_stride=True)
            self.flatten_priors_train = torch.cat(mlvl_priors, dim=0)
            self.featmap_sizes_train = featmap_sizes
            self._train_priors_key = key
        return self.flatten_priors_train

    def loss_by_feat(
            self,
            cls_scores: List[Tensor],
            bbox_preds: List[Tensor],
            batch_gt_instances: Union[InstanceList, Tensor],
            batch_img_metas: List[dict],
            batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        """Compute the losses from the head outputs.

        Args:
            cls_scores (list[Tensor]): Per-level class logits
                ``(B, num_priors * num_classes, H, W)``.
            bbox_preds (list[Tensor]): Per-level (left, top, right, bottom)
                distances in stride units ``(B, num_priors * 4, H, W)``.
            batch_gt_instances (list[InstanceData] | Tensor): Per-image GT
                (``bboxes`` in x1y1x2y2, ``labels``), or the fast ``(N, 6)``
                tensor of (img_idx, label, x1, y1, x2, y2).
            batch_img_metas (list[dict]): Meta information of each image.
            batch_gt_instances_ignore (list[InstanceData], optional): Not
                used by RTMDet. Defaults to None.

        Returns:
            dict[str, Tensor]: ``loss_cls`` and ``loss_bbox``.
        """
        if not hasattr(self, 'assigner'):
            raise RuntimeError(
                f'{type(self).__name__} was built without a train_cfg, so '
                'it has no assigner and cannot compute losses')
        num_imgs = len(batch_img_metas)
        featmap_sizes = [featmap.size()[-2:] for featmap in cls_scores]
        if len(featmap_sizes) != self.prior_generator.num_levels:
            raise ValueError(
                f'Got {len(featmap_sizes)} levels of predictions but the '
                f'prior generator has {self.prior_generator.num_levels}')

        gt_info = gt_instances_preprocess(batch_gt_instances, num_imgs)
        gt_info = gt_info.to(cls_scores[0].device)
        gt_labels = gt_info[:, :, :1]
        gt_bboxes = gt_info[:, :, 1:]  # xyxy
        # gt_instances_preprocess pads with all-zero rows
        pad_bbox_flag = (gt_bboxes != 0).any(dim=-1, keepdim=True).float()

        priors = self._get_train_priors(featmap_sizes, cls_scores[0].device)

        flatten_cls_scores = torch.cat([
            cls_score.permute(0, 2, 3, 1).reshape(num_imgs, -1,
                                                  self.cls_out_channels)
            for cls_score in cls_scores
        ], 1).contiguous()
        flatten_bboxes = torch.cat([
            bbox_pred.permute(0, 2, 3, 1).reshape(num_imgs, -1, 4)
            for bbox_pred in bbox_preds
        ], 1)
        # distances are predicted in units of the stride
        flatten_bboxes = flatten_bboxes * priors[..., -1, None]
        flatten_bboxes = distance2bbox(priors[..., :2], flatten_bboxes)

        assigned_result = self.assigner(flatten_bboxes.detach(),
                                        flatten_cls_scores.detach(), priors,
                                        gt_labels, gt_bboxes, pad_bbox_flag)

        labels = assigned_result['assigned_labels'].reshape(-1)
        label_weights = assigned_result['assigned_labels_weights'].reshape(-1)
        bbox_targets = assigned_result['assigned_bboxes'].reshape(-1, 4)
        assign_metrics = assigned_result['assign_metrics'].reshape(-1)
        cls_preds = flatten_cls_scores.reshape(-1, self.cls_out_channels)
        bbox_preds = flatten_bboxes.reshape(-1, 4)

        # foreground classes are [0, num_classes - 1], background is
        # num_classes
        pos_inds = ((labels >= 0)
                    & (labels < self.num_classes)).nonzero().squeeze(1)
        avg_factor = reduce_mean(assign_metrics.sum()).clamp_(min=1).item()

        loss_cls = self.loss_cls(
            cls_preds, (labels, assign_metrics),
            label_weights,
            avg_factor=avg_factor)

        if len(pos_inds) > 0:
            loss_bbox = self.loss_bbox(
                bbox_preds[pos_inds],
                bbox_targets[pos_inds],
                weight=assign_metrics[pos_inds],
                avg_factor=avg_factor)
        else:
            loss_bbox = bbox_preds.sum() * 0

        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox)
