"""YOLOv8 detection head: task-aligned assignment, BCE + CIoU + DFL losses.

Post-processing is :meth:`YOLOv5Head.predict_by_feat` without objectness.
"""
from typing import List, Optional, Sequence, Tuple

import torch
from mmdet.utils import (ConfigType, OptConfigType, OptInstanceList,
                         OptMultiConfig)
from mmengine.dist import get_dist_info
from torch import Tensor

from yolokit.registry import MODELS, TASK_UTILS
from ..utils import gt_instances_preprocess
from .yolov5_head import GTInput, YOLOv5Head


@MODELS.register_module()
class YOLOv8Head(YOLOv5Head):
    """Head of YOLOv8: decoupled, anchor-free, with Distribution Focal Loss.

    Losses (``assigned_scores`` are the soft class targets of
    ``train_cfg.assigner``, normally :class:`BatchTaskAlignedAssigner`, and
    ``S = max(assigned_scores.sum(), 1)``):

    - ``loss_cls``: BCE between all class logits and ``assigned_scores``,
      summed and divided by ``S``;
    - ``loss_bbox``: CIoU loss of the positives, boxes in stride units,
      each weighted by the sum of its ``assigned_scores``, divided by ``S``;
    - ``loss_dfl``: DFL of the positives' side distributions against the
      GT distances (stride units, clamped to ``[0, reg_max - 1 - 0.01]``),
      same weights, divided by ``S``.

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
            head_module=head_module,
            prior_generator=prior_generator,
            bbox_coder=bbox_coder,
            loss_cls=loss_cls,
            loss_bbox=loss_bbox,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            init_cfg=init_cfg)
        self.loss_dfl = MODELS.build(loss_dfl)
        # YOLOv8 has no objectness branch.
        self.loss_obj = None

    def special_init(self) -> None:
        """Build the assigner from ``train_cfg`` (when given) and reset the
        training prior cache."""
        if self.train_cfg:
            if 'assigner' not in self.train_cfg:
                raise KeyError('YOLOv8Head: train_cfg needs an "assigner" '
                               '(e.g. dict(type="BatchTaskAlignedAssigner", '
                               f'...)), but has {sorted(self.train_cfg)}')
            self.assigner = TASK_UTILS.build(self.train_cfg['assigner'])
        # Priors of the training feature maps, rebuilt when sizes change.
        self.featmap_sizes_train: Optional[List[torch.Size]] = None
        self.num_level_priors: Optional[List[int]] = None
        self.flatten_priors_train: Optional[Tensor] = None
        self.stride_tensor: Optional[Tensor] = None
        self._train_priors_key = None

    def _get_train_priors(self, featmap_sizes: List[torch.Size],
                          dtype: torch.dtype,
                          device: torch.device) -> Tuple[Tensor, Tensor]:
        """Flattened priors ``(P, 4)`` as (x, y, stride_w, stride_h) and
        their strides ``(P, 1)``, cached per sizes, dtype and device."""
        key = (tuple(tuple(s) for s in featmap_sizes), dtype, device)
        if key != self._train_priors_key:
            mlvl_priors = self.prior_generator.grid_priors(
                featmap_sizes, dtype=dtype, device=device, with_stride=True)
            self.featmap_sizes_train = featmap_sizes
            self.num_level_priors = [len(p) for p in mlvl_priors]
            self.flatten_priors_train = torch.cat(mlvl_priors, dim=0)
            self.stride_tensor = self.flatten_priors_train[..., [2]]
            self._train_priors_key = key
        return self.flatten_priors_train, self.stride_tensor

    def loss_by_feat(
            self,
            cls_scores: Sequence[Tensor],
            bbox_preds: Sequence[Tensor],
            bbox_dist_preds: Sequence[Tensor],
            batch_gt_instances: GTInput,
            batch_img_metas: Sequence[dict],
            batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        """Compute the losses from the head outputs.

        Args:
            cls_scores (Sequence[Tensor]): Per-level class logits
                ``(B, num_classes, H, W)``.
            bbox_preds (Sequence[Tensor]): Per-level distances in stride
                units ``(B, 4, H, W)``.
            bbox_dist_preds (Sequence[Tensor]): Per-level distance logits
                ``(B, H * W, 4, reg_max)``.
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
        if not hasattr(self, 'assigner'):
            raise RuntimeError('YOLOv8Head.loss_by_feat needs an assigner: '
                               'build the head with train_cfg=dict('
                               'assigner=...)')
        reg_max = self.head_module.reg_max
        if reg_max < 2:
            raise ValueError('YOLOv8Head: the DFL loss needs reg_max >= 2, '
                             f'but the head module has reg_max={reg_max}')
        num_imgs = len(batch_img_metas)
        featmap_sizes = [score.shape[2:] for score in cls_scores]
        priors, stride_tensor = self._get_train_priors(featmap_sizes,
                                                       cls_scores[0].dtype,
                                                       cls_scores[0].device)

        # GT coordinates stay in their own (full) precision under AMP
        gt_info = gt_instances_preprocess(batch_gt_instances,
                                          num_imgs).to(priors.device)
        gt_labels = gt_info[:, :, :1]
        gt_bboxes = gt_info[:, :, 1:]  # x1y1x2y2
        pad_bbox_flag = (gt_bboxes.sum(-1, keepdim=True) > 0).float()

        flatten_cls_preds = torch.cat([
            score.permute(0, 2, 3, 1).reshape(num_imgs, -1, self.num_classes)
            for score in cls_scores
        ],
                                      dim=1)
        flatten_pred_bboxes = torch.cat([
            pred.permute(0, 2, 3, 1).reshape(num_imgs, -1, 4)
            for pred in bbox_preds
        ],
                                        dim=1)
        flatten_dist_preds = torch.cat([
            dist.reshape(num_imgs, -1, reg_max * 4) for dist in bbox_dist_preds
        ],
                                       dim=1)
        # pixels, x1y1x2y2
        flatten_pred_bboxes = self.bbox_coder.decode(priors[..., :2],
                                                     flatten_pred_bboxes,
                                                     stride_tensor[..., 0])

        assigned_result = self.assigner(
            flatten_pred_bboxes.detach().type(gt_bboxes.dtype),
            flatten_cls_preds.detach().sigmoid(), priors, gt_labels, gt_bboxes,
            pad_bbox_flag)
        assigned_bboxes = assigned_result['assigned_bboxes']
        assigned_scores = assigned_result['assigned_scores']
        fg_mask_pre_prior = assigned_result['fg_mask_pre_prior']

        assigned_scores_sum = assigned_scores.sum().clamp(min=1)
        loss_cls = self.loss_cls(flatten_cls_preds,
                                 assigned_scores).sum() / assigned_scores_sum

        # box and DFL losses work in stride units
        assigned_bboxes = assigned_bboxes / stride_tensor
        flatten_pred_bboxes = flatten_pred_bboxes / stride_tensor

        if fg_mask_pre_prior.sum() > 0:
            pred_bboxes_pos = flatten_pred_bboxes[fg_mask_pre_prior]
            assigned_bboxes_pos = assigned_bboxes[fg_mask_pre_prior]
            bbox_weight = assigned_scores.sum(-1)[fg_mask_pre_prior][:, None]
            loss_bbox = self.loss_bbox(
                pred_bboxes_pos, assigned_bboxes_pos,
                weight=bbox_weight) / assigned_scores_sum

            pred_dist_pos = flatten_dist_preds[fg_mask_pre_prior]
            assigned_ltrb = self.bbox_coder.encode(
                priors[..., :2] / stride_tensor,
                assigned_bboxes,
                max_dis=reg_max - 1,
                eps=0.01)
            assigned_ltrb_pos = assigned_ltrb[fg_mask_pre_prior]
            loss_dfl = self.loss_dfl(
                pred_dist_pos.reshape(-1, reg_max),
                assigned_ltrb_pos.reshape(-1),
                weight=bbox_weight.expand(-1, 4).reshape(-1),
                avg_factor=assigned_scores_sum)
        else:
            # zero losses that keep every output in the graph
            loss_bbox = flatten_pred_bboxes.sum() * 0
            loss_dfl = flatten_dist_preds.sum() * 0

        _, world_size = get_dist_info()
        scale = num_imgs * world_size
        return dict(
            loss_cls=loss_cls * scale,
            loss_bbox=loss_bbox * scale,
            loss_dfl=loss_dfl * scale)
