"""YOLOv5 detection head: target assignment, losses and post-processing.

The other YOLO-family heads of yolokit subclass :class:`YOLOv5Head`: they
override :meth:`YOLOv5Head.special_init` and :meth:`YOLOv5Head.loss_by_feat`
and share :meth:`YOLOv5Head.loss` and :meth:`YOLOv5Head.predict_by_feat`.
"""
import copy
import logging
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
from mmdet.models.utils import filter_scores_and_topk
from mmdet.structures.bbox import bbox_overlaps, get_box_tensor
from mmdet.utils import (ConfigType, OptConfigType, OptInstanceList,
                         OptMultiConfig)
from mmengine.config import ConfigDict
from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from mmengine.structures import InstanceData
from torch import Tensor

from yolokit.registry import MODELS, TASK_UTILS

# per-image InstanceData, or the fast (N, 6) tensor of yolov5_collate
GTInput = Union[Sequence[InstanceData], Tensor]


class LevelTargets(NamedTuple):
    """Positive samples of one feature level, one row per positive.

    ``bbox_targets`` are (x, y, w, h) in grid units, with (x, y) relative to
    the top-left corner of the positive's cell.
    """
    img_inds: Tensor
    prior_inds: Tensor
    grid_x_inds: Tensor
    grid_y_inds: Tensor
    class_inds: Tensor
    bbox_targets: Tensor


@MODELS.register_module()
class YOLOv5Head(BaseDenseHead):
    """Head of YOLOv5.

    Args:
        head_module (dict): Config of the prediction module, e.g.
            :class:`YOLOv5HeadModule`; it provides ``num_classes`` and
            ``featmap_strides``.
        prior_generator (dict): Config of the anchor generator (in
            ``TASK_UTILS``).
        bbox_coder (dict): Config of the box coder.
        loss_cls (dict): Config of the classification loss.
        loss_bbox (dict): Config of the box loss; it must return
            ``(loss, iou)`` (``IoULoss(return_iou=True)``).
        loss_obj (dict): Config of the objectness loss.
        prior_match_thr (float): A GT is matched to a prior when neither its
            width nor its height differs from the prior's by a factor of
            ``prior_match_thr`` or more. Defaults to 4.0.
        near_neighbor_thr (float): A neighbouring cell becomes positive too
            when the GT centre lies within this distance of the shared
            cell border. Defaults to 0.5.
        ignore_iof_thr (float): Priors whose intersection-over-foreground
            with an ignored box exceeds this value are left out of the
            losses; -1 disables it. Defaults to -1.0.
        obj_level_weights (list[float]): Weight of the objectness loss of
            each level. Defaults to [4.0, 1.0, 0.4].
        train_cfg (dict, optional): Training config. Defaults to None.
        test_cfg (dict, optional): Post-processing config (``multi_label``,
            ``nms_pre``, ``score_thr``, ``nms``, ``max_per_img``,
            ``yolox_style``, ``min_bbox_size``). Defaults to None.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.
    """

    def __init__(self,
                 head_module: ConfigType,
                 prior_generator: ConfigType = dict(
                     type='mmdet.YOLOAnchorGenerator',
                     base_sizes=[[(10, 13), (16, 30), (33, 23)],
                                 [(30, 61), (62, 45), (59, 119)],
                                 [(116, 90), (156, 198), (373, 326)]],
                     strides=[8, 16, 32]),
                 bbox_coder: ConfigType = dict(type='YOLOv5BBoxCoder'),
                 loss_cls: ConfigType = dict(
                     type='mmdet.CrossEntropyLoss',
                     use_sigmoid=True,
                     reduction='mean',
                     loss_weight=0.5),
                 loss_bbox: ConfigType = dict(
                     type='IoULoss',
                     iou_mode='ciou',
                     bbox_format='xywh',
                     eps=1e-7,
                     reduction='mean',
                     loss_weight=0.05,
                     return_iou=True),
                 loss_obj: ConfigType = dict(
                     type='mmdet.CrossEntropyLoss',
                     use_sigmoid=True,
                     reduction='mean',
                     loss_weight=1.0),
                 prior_match_thr: float = 4.0,
                 near_neighbor_thr: float = 0.5,
                 ignore_iof_thr: float = -1.0,
                 obj_level_weights: List[float] = [4.0, 1.0, 0.4],
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)

        self.head_module = MODELS.build(head_module)
        self.num_classes = self.head_module.num_classes
        self.featmap_strides = self.head_module.featmap_strides
        self.num_levels = len(self.featmap_strides)

        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

        self.loss_cls: nn.Module = MODELS.build(loss_cls)
        self.loss_bbox: nn.Module = MODELS.build(loss_bbox)
        self.loss_obj: nn.Module = MODELS.build(loss_obj)

        self.prior_generator = TASK_UTILS.build(prior_generator)
        self.bbox_coder = TASK_UTILS.build(bbox_coder)
        self.num_base_priors = self.prior_generator.num_base_priors[0]

        # prior cache of predict_by_feat; refreshed when the sizes change
        self.featmap_sizes = [torch.empty(1)] * self.num_levels
        self.mlvl_priors: Optional[List[Tensor]] = None
        self._priors_cache_key = None

        self.prior_match_thr = prior_match_thr
        self.near_neighbor_thr = near_neighbor_thr
        self.obj_level_weights = obj_level_weights
        self.ignore_iof_thr = ignore_iof_thr

        self.special_init()

    def special_init(self) -> None:
        """Initialization specific to an algorithm.

        Called at the end of ``__init__``; the YOLO heads that subclass
        ``YOLOv5Head`` override it. Here it checks the per-level settings and
        registers the non-persistent buffers ``priors_base_sizes`` (prior
        sizes in grid units, ``(levels, priors, 2)``), ``grid_offset`` (cell
        offsets of centre, left, up, right, bottom, ``(5, 1, 2)``) and
        ``prior_inds`` (``(priors, 1)``).
        """
        if len(self.obj_level_weights) != self.num_levels:
            raise ValueError(
                f'obj_level_weights has {len(self.obj_level_weights)} '
                f'entries but the head has {self.num_levels} levels '
                f'(featmap_strides={list(self.featmap_strides)})')
        base_sizes = self.prior_generator.base_sizes
        if len(base_sizes) != self.num_levels:
            raise ValueError(
                f'prior_generator has {len(base_sizes)} levels of '
                f'base_sizes but the head has {self.num_levels} levels')
        if self.prior_match_thr != 4.0:
            print_log(
                f'prior_match_thr is {self.prior_match_thr}, not 4.0. The '
                'decoded box size is bounded by 4 times the prior, so also '
                'adapt the regression formulas of the bbox coder and of the '
                'loss, or accuracy may drop.',
                logger='current',
                level=logging.WARNING)
        if self.num_classes == 1:
            print_log(
                'YOLOv5Head with num_classes == 1: loss_cls will always be 0 '
                '(objectness alone scores the boxes). This is expected.',
                logger='current',
                level=logging.WARNING)

        priors_base_sizes = torch.tensor(base_sizes, dtype=torch.float)
        strides = torch.tensor(
            self.featmap_strides, dtype=torch.float)[:, None, None]
        self.register_buffer(
            'priors_base_sizes', priors_base_sizes / strides, persistent=False)
        grid_offset = torch.tensor(
            [
                [0, 0],  # centre
                [1, 0],  # left
                [0, 1],  # up
                [-1, 0],  # right
                [0, -1],  # bottom
            ],
            dtype=torch.float)
        self.register_buffer(
            'grid_offset', grid_offset[:, None], persistent=False)
        prior_inds = torch.arange(
            self.num_base_priors, dtype=torch.float).view(-1, 1)
        self.register_buffer('prior_inds', prior_inds, persistent=False)

    def forward(self, x: Tuple[Tensor]) -> Tuple[List]:
        """Forward the features through the head module.

        Args:
            x (tuple[Tensor]): One feature map per level.

        Returns:
            tuple[list[Tensor]]: Per-level class scores, box predictions and
            objectnesses.
        """
        return self.head_module(x)

    # ------------------------------------------------------------------
    # inference
    # ------------------------------------------------------------------
    def _get_mlvl_priors(self, featmap_sizes: List[torch.Size],
                         dtype: torch.dtype,
                         device: torch.device) -> List[Tensor]:
        """Grid priors of every level, cached while sizes, dtype and device
        stay the same."""
        key = (tuple(tuple(s) for s in featmap_sizes), dtype, device)
        if self.mlvl_priors is None or key != self._priors_cache_key:
            self.mlvl_priors = self.prior_generator.grid_priors(
                featmap_sizes, dtype=dtype, device=device)
            self.featmap_sizes = featmap_sizes
            self._priors_cache_key = key
        return self.mlvl_priors

    def predict_by_feat(self,
                        cls_scores: List[Tensor],
                        bbox_preds: List[Tensor],
                        objectnesses: Optional[List[Tensor]] = None,
                        batch_img_metas: Optional[List[dict]] = None,
                        cfg: Optional[ConfigDict] = None,
                        rescale: bool = True,
                        with_nms: bool = True) -> List[InstanceData]:
        """Turn the head outputs of a batch into detections.

        Args:
            cls_scores (list[Tensor]): Per-level class scores
                ``(B, num_priors * num_classes, H, W)``.
            bbox_preds (list[Tensor]): Per-level box predictions
                ``(B, num_priors * 4, H, W)``.
            objectnesses (list[Tensor], optional): Per-level objectness
                ``(B, num_priors, H, W)``; None for heads without one.
            batch_img_metas (list[dict]): Meta information of each image
                (``ori_shape``, ``scale_factor``, optional ``pad_param``).
            cfg (dict, optional): Post-processing config; ``test_cfg`` if
                None.
            rescale (bool): Map the boxes back to the original image: remove
                the ``pad_param`` padding, divide by ``scale_factor`` and
                clamp to ``ori_shape``. Defaults to True.
            with_nms (bool): Whether to run NMS. Defaults to True.

        Returns:
            list[InstanceData]: Per image ``bboxes`` ``(N, 4)`` in
            (x1, y1, x2, y2), ``scores`` ``(N,)`` and ``labels`` ``(N,)``.
        """
        if len(cls_scores) != len(bbox_preds):
            raise ValueError(
                f'cls_scores has {len(cls_scores)} levels but bbox_preds has '
                f'{len(bbox_preds)}')
        with_objectnesses = objectnesses is not None
        if with_objectnesses and len(objectnesses) != len(cls_scores):
            raise ValueError(
                f'objectnesses has {len(objectnesses)} levels but cls_scores '
                f'has {len(cls_scores)}')
        if batch_img_metas is None:
            raise ValueError('predict_by_feat needs batch_img_metas')
        cfg = self.test_cfg if cfg is None else cfg
        if cfg is None:
            raise ValueError('predict_by_feat needs a cfg or the test_cfg of '
                             'the head')
        cfg = ConfigDict(copy.deepcopy(cfg))
        cfg.multi_label = bool(
            cfg.get('multi_label', False) and self.num_classes > 1)
        score_thr = cfg.get('score_thr', -1)
        nms_pre = cfg.get('nms_pre', 100000)
        yolox_style = cfg.get('yolox_style', False)

        num_imgs = len(batch_img_metas)
        featmap_sizes = [cls_score.shape[2:] for cls_score in cls_scores]
        mlvl_priors = self._get_mlvl_priors(
            featmap_sizes,
            dtype=cls_scores[0].dtype,
            device=cls_scores[0].device)
        flatten_priors = torch.cat(mlvl_priors)
        flatten_stride = torch.cat([
            flatten_priors.new_full((size.numel() * self.num_base_priors, ),
                                    stride)
            for size, stride in zip(featmap_sizes, self.featmap_strides)
        ])

        mlvl_cls_scores = [
            score.permute(0, 2, 3, 1).reshape(num_imgs, -1, self.num_classes)
            for score in cls_scores
        ]
        mlvl_bbox_preds = [
            pred.permute(0, 2, 3, 1).reshape(num_imgs, -1, 4)
            for pred in bbox_preds
        ]
        flatten_cls_scores = torch.cat(mlvl_cls_scores, dim=1).sigmoid()
        flatten_bbox_preds = torch.cat(mlvl_bbox_preds, dim=1)
        flatten_decoded_bboxes = get_box_tensor(
            self.bbox_coder.decode(flatten_priors[None], flatten_bbox_preds,
                                   flatten_stride))
        if with_objectnesses:
            mlvl_objectness = [
                obj.permute(0, 2, 3, 1).reshape(num_imgs, -1)
                for obj in objectnesses
            ]
            flatten_objectness = torch.cat(mlvl_objectness, dim=1).sigmoid()
        else:
            flatten_objectness = [None] * num_imgs

        results_list = []
        for bboxes, scores, objectness, img_meta in zip(
                flatten_decoded_bboxes, flatten_cls_scores, flatten_objectness,
                batch_img_metas):
            # objectness bounds the final score, so positions below the
            # threshold can be dropped before the per-class work
            if objectness is not None and score_thr > 0 and not yolox_style:
                keep = objectness > score_thr
                bboxes = bboxes[keep]
                scores = scores[keep]
                objectness = objectness[keep]
            if objectness is not None:
                scores = scores * objectness[:, None]

            if scores.shape[0] == 0:
                results_list.append(
                    InstanceData(
                        bboxes=bboxes,
                        scores=scores[:, 0],
                        labels=scores[:, 0].long()))
                continue

            if cfg.multi_label:
                scores, labels, keep_idxs, _ = filter_scores_and_topk(
                    scores, score_thr, nms_pre)
            else:
                scores, labels = scores.max(1, keepdim=True)
                scores, _, keep_idxs, filtered = filter_scores_and_topk(
                    scores,
                    score_thr,
                    nms_pre,
                    results=dict(labels=labels[:, 0]))
                labels = filtered['labels']
            results = InstanceData(
                scores=scores, labels=labels, bboxes=bboxes[keep_idxs])

            if rescale:
                results.bboxes = self._rescale_bboxes(results.bboxes, img_meta)
            if yolox_style:
                # YOLOX keeps everything that survives NMS
                cfg.max_per_img = len(results)

            results = self._bbox_post_process(
                results=results,
                cfg=cfg,
                rescale=False,
                with_nms=with_nms,
                img_meta=img_meta)
            clamp_shape = img_meta.get('ori_shape') if rescale else \
                img_meta.get('img_shape')
            if clamp_shape is not None:
                results.bboxes[:, 0::2].clamp_(0, clamp_shape[1])
                results.bboxes[:, 1::2].clamp_(0, clamp_shape[0])
            results_list.append(results)
        return results_list

    @staticmethod
    def _rescale_bboxes(bboxes: Tensor, img_meta: dict) -> Tensor:
        """Map boxes from the network input back to the original image."""
        if 'scale_factor' not in img_meta:
            raise KeyError('rescale=True needs "scale_factor" (w_scale, '
                           'h_scale) in the image meta information, which '
                           f'only has {sorted(img_meta)}')
        pad_param = img_meta.get('pad_param')
        if pad_param is not None:
            # pad_param is (top, bottom, left, right)
            top, left = float(pad_param[0]), float(pad_param[2])
            bboxes = bboxes - bboxes.new_tensor([left, top, left, top])
        scale_factor = bboxes.new_tensor(img_meta['scale_factor']).view(-1)
        return bboxes / scale_factor.repeat(2)[:4]

    # ------------------------------------------------------------------
    # training
    # ------------------------------------------------------------------
    def loss(self, x: Tuple[Tensor], batch_data_samples: Union[list,
                                                               dict]) -> dict:
        """Forward the features and compute the losses.

        Args:
            x (tuple[Tensor]): One feature map per level.
            batch_data_samples (list[DetDataSample] | dict): The data
                samples, or the "fast" dict of ``yolov5_collate`` with
                ``bboxes_labels`` (``(N, 6)`` rows of (img_idx, label, x1,
                y1, x2, y2)) and ``img_metas``.

        Returns:
            dict[str, Tensor]: The losses.
        """
        if isinstance(batch_data_samples, dict):
            missing = [
                k for k in ('bboxes_labels', 'img_metas')
                if k not in batch_data_samples
            ]
            if missing:
                raise KeyError(
                    f'The fast batch dict needs the keys "bboxes_labels" and '
                    f'"img_metas"; missing {missing} (it has '
                    f'{sorted(batch_data_samples)})')
            outs = self(x)
            return self.loss_by_feat(*outs,
                                     batch_data_samples['bboxes_labels'],
                                     batch_data_samples['img_metas'])
        return super().loss(x, batch_data_samples)

    def loss_by_feat(
            self,
            cls_scores: Sequence[Tensor],
            bbox_preds: Sequence[Tensor],
            objectnesses: Sequence[Tensor],
            batch_gt_instances: GTInput,
            batch_img_metas: Sequence[dict],
            batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        """Compute the losses from the head outputs.

        Args:
            cls_scores (Sequence[Tensor]): Per-level class scores
                ``(B, num_priors * num_classes, H, W)``.
            bbox_preds (Sequence[Tensor]): Per-level box predictions
                ``(B, num_priors * 4, H, W)``.
            objectnesses (Sequence[Tensor]): Per-level objectness
                ``(B, num_priors, H, W)``.
            batch_gt_instances (Sequence[InstanceData] | Tensor): Per-image
                GT (``bboxes`` in x1y1x2y2, ``labels``), or the fast
                ``(N, 6)`` tensor of (img_idx, label, x1, y1, x2, y2).
            batch_img_metas (Sequence[dict]): Meta information of each
                image; ``batch_input_shape`` is required.
            batch_gt_instances_ignore (list[InstanceData], optional): Boxes
                to ignore, used when ``ignore_iof_thr != -1``.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_obj`` and ``loss_bbox``,
            each multiplied by batch size and world size.
        """
        featmap_sizes = [pred.shape[2:] for pred in bbox_preds]
        batch_size = bbox_preds[0].shape[0]
        not_ignore_flags = None
        if self.ignore_iof_thr != -1:
            not_ignore_flags = self._get_not_ignore_flags(
                batch_gt_instances_ignore,
                featmap_sizes,
                batch_size,
                dtype=bbox_preds[0].dtype,
                device=bbox_preds[0].device)

        batch_targets_normed = self._convert_gt_to_norm_format(
            batch_gt_instances, batch_img_metas)

        device = cls_scores[0].device
        loss_cls = torch.zeros((), device=device)
        loss_box = torch.zeros((), device=device)
        loss_obj = torch.zeros((), device=device)
        for i in range(self.num_levels):
            bs, _, h, w = bbox_preds[i].shape
            flags = None if not_ignore_flags is None else not_ignore_flags[i]
            target_obj = torch.zeros_like(objectnesses[i])
            targets = self._build_level_targets(batch_targets_normed, i,
                                                (h, w))
            if targets is None:
                # no positives: zero losses that keep every output in graph
                loss_box = loss_box + bbox_preds[i].sum() * 0
                loss_cls = loss_cls + cls_scores[i].sum() * 0
            else:
                index = (targets.img_inds, targets.prior_inds, slice(None),
                         targets.grid_y_inds, targets.grid_x_inds)
                pos_bbox_pred = bbox_preds[i].reshape(bs, self.num_base_priors,
                                                      -1, h, w)[index]
                decoded_bbox_pred = self._decode_bbox_to_xywh(
                    pos_bbox_pred,
                    self.priors_base_sizes[i][targets.prior_inds])
                pos_weight = None if flags is None else flags[
                    targets.img_inds, targets.prior_inds, targets.grid_y_inds,
                    targets.grid_x_inds]
                loss_box_i, iou = self._bbox_loss_and_iou(
                    decoded_bbox_pred, targets.bbox_targets, pos_weight)
                loss_box = loss_box + loss_box_i

                target_obj[targets.img_inds, targets.prior_inds,
                           targets.grid_y_inds, targets.grid_x_inds] = \
                    iou.detach().clamp(0).to(target_obj.dtype)

                if self.num_classes > 1:
                    pos_cls_score = cls_scores[i].reshape(
                        bs, self.num_base_priors, -1, h, w)[index]
                    target_cls = torch.zeros_like(pos_cls_score)
                    target_cls[torch.arange(len(target_cls)),
                               targets.class_inds] = 1.
                    if pos_weight is None:
                        loss_cls = loss_cls + self.loss_cls(
                            pos_cls_score, target_cls)
                    else:
                        # mean over the non-ignored (positive, class) pairs,
                        # like the unweighted 'mean'
                        loss_cls = loss_cls + self.loss_cls(
                            pos_cls_score,
                            target_cls,
                            weight=pos_weight[:, None].expand_as(target_cls),
                            avg_factor=pos_weight.sum().clamp(min=1) *
                            self.num_classes)
                else:
                    loss_cls = loss_cls + cls_scores[i].sum() * 0

            if flags is None:
                loss_obj_i = self.loss_obj(objectnesses[i], target_obj)
            else:
                loss_obj_i = self.loss_obj(
                    objectnesses[i],
                    target_obj,
                    weight=flags,
                    avg_factor=flags.sum().clamp(min=1))
            loss_obj = loss_obj + loss_obj_i * self.obj_level_weights[i]

        _, world_size = get_dist_info()
        scale = batch_size * world_size
        return dict(
            loss_cls=loss_cls * scale,
            loss_obj=loss_obj * scale,
            loss_bbox=loss_box * scale)

    def _bbox_loss_and_iou(self, pred: Tensor, target: Tensor,
                           weight: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        """Box loss and IoU of the positives of one level."""
        if weight is None:
            out = self.loss_bbox(pred, target)
        else:
            out = self.loss_bbox(
                pred,
                target,
                weight=weight,
                avg_factor=weight.sum().clamp(min=1))
        if isinstance(out, tuple):
            return out
        if weight is not None and not torch.any(weight > 0):
            # every positive is ignored, so their objectness targets are
            # ignored too and the IoU does not matter
            return out, pred.new_zeros(len(pred))
        raise TypeError(
            f'{type(self).__name__} uses the IoU from loss_bbox as the '
            'objectness target, so loss_bbox must return (loss, iou); set '
            f'return_iou=True in its config (got {type(self.loss_bbox)})')

    def _convert_gt_to_norm_format(self, batch_gt_instances: GTInput,
                                   batch_img_metas: Sequence[dict]) -> Tensor:
        """GT of the batch as normalized YOLO targets, one copy per prior.

        Returns:
            Tensor: ``(num_priors, num_gt, 7)`` rows of (img_idx, label, cx,
            cy, w, h, prior_idx) with the box divided by the batch input
            size. The input is not modified.
        """
        if isinstance(batch_gt_instances, Tensor):
            if batch_gt_instances.dim() != 2 or \
                    batch_gt_instances.size(1) != 6:
                raise ValueError(
                    'bboxes_labels must have shape (num_gt, 6) with rows '
                    '(img_idx, label, x1, y1, x2, y2), but got shape '
                    f'{tuple(batch_gt_instances.shape)}')
            img_h, img_w = self._batch_input_shape(batch_img_metas[0])
            img_label = batch_gt_instances[:, :2]
            bboxes = batch_gt_instances[:, 2:]
            targets = torch.cat(
                [img_label,
                 self._xyxy_to_norm_cxcywh(bboxes, img_h, img_w)],
                dim=1)
        else:
            per_image = []
            for i, gt_instances in enumerate(batch_gt_instances):
                img_h, img_w = self._batch_input_shape(batch_img_metas[i])
                bboxes = get_box_tensor(gt_instances.bboxes)
                labels = gt_instances.labels.to(bboxes.dtype)
                index = bboxes.new_full((len(bboxes), 1), i)
                normed = self._xyxy_to_norm_cxcywh(bboxes, img_h, img_w)
                per_image.append(
                    torch.cat((index, labels[:, None], normed), dim=1))
            if per_image:
                targets = torch.cat(per_image, dim=0)
            else:
                targets = self.prior_inds.new_zeros((0, 6))
        targets = targets.to(self.prior_inds.device)
        num_gt = targets.shape[0]
        prior_inds = self.prior_inds.to(targets.dtype).expand(
            self.num_base_priors, num_gt)[..., None]
        return torch.cat(
            [targets[None].expand(self.num_base_priors, -1, -1), prior_inds],
            dim=2)

    @staticmethod
    def _batch_input_shape(img_meta: dict) -> Tuple[int, int]:
        if 'batch_input_shape' not in img_meta:
            raise KeyError(
                'YOLOv5Head needs "batch_input_shape" (h, w) in the image '
                f'meta information, which only has {sorted(img_meta)}')
        img_h, img_w = img_meta['batch_input_shape'][:2]
        return img_h, img_w

    @staticmethod
    def _xyxy_to_norm_cxcywh(bboxes: Tensor, img_h: int, img_w: int) -> Tensor:
        xy1, xy2 = bboxes.split((2, 2), dim=-1)
        cxcywh = torch.cat([(xy1 + xy2) / 2, xy2 - xy1], dim=-1)
        return cxcywh / cxcywh.new_tensor([img_w, img_h, img_w, img_h])

    def _build_level_targets(
            self, batch_targets_normed: Tensor, level: int,
            featmap_size: Tuple[int, int]) -> Optional[LevelTargets]:
        """YOLOv5 assignment on one level.

        1. Shape match: a (GT, prior) pair is kept when
           ``max(r, 1 / r) < prior_match_thr`` for both the width and the
           height ratio ``r`` of GT to prior.
        2. Neighbours: besides the cell holding the GT centre, the left/up
           cell is positive when the centre is within ``near_neighbor_thr``
           of that cell border (and more than one cell from the map border),
           and likewise for the right/bottom cell.

        Args:
            batch_targets_normed (Tensor): Output of
                :meth:`_convert_gt_to_norm_format`.
            level (int): Level index.
            featmap_size (tuple[int, int]): ``(h, w)`` of the level.

        Returns:
            LevelTargets | None: The positives, ordered by neighbour offset
            (centre, left, up, right, bottom), then prior, then GT; None when
            there are none.
        """
        if batch_targets_normed.shape[1] == 0:
            return None
        h, w = featmap_size
        scale = batch_targets_normed.new_tensor([1, 1, w, h, w, h, 1])
        targets = batch_targets_normed * scale

        wh_ratio = targets[..., 4:6] / self.priors_base_sizes[level][:, None]
        matched = torch.max(wh_ratio, 1 / wh_ratio).max(dim=2).values < \
            self.prior_match_thr
        targets = targets[matched]
        if targets.shape[0] == 0:
            return None

        cxcy = targets[:, 2:4]
        cxcy_inv = cxcy.new_tensor([w, h]) - cxcy
        left, up = ((cxcy % 1 < self.near_neighbor_thr) & (cxcy > 1)).T
        right, bottom = ((cxcy_inv % 1 < self.near_neighbor_thr) &
                         (cxcy_inv > 1)).T
        offset_mask = torch.stack(
            [torch.ones_like(left), left, up, right, bottom])
        targets = targets[None].expand(5, -1, -1)[offset_mask]
        offsets = self.grid_offset.to(targets.dtype).expand(
            -1, offset_mask.shape[1], -1)[offset_mask]

        grid_xy = targets[:, 2:4]
        cell = (grid_xy - offsets * self.near_neighbor_thr).long()
        # centres on or beyond the map border would index outside it
        cell[:, 0].clamp_(0, w - 1)
        cell[:, 1].clamp_(0, h - 1)
        bbox_targets = torch.cat([grid_xy - cell, targets[:, 4:6]], dim=1)
        return LevelTargets(
            img_inds=targets[:, 0].long(),
            prior_inds=targets[:, 6].long(),
            grid_x_inds=cell[:, 0],
            grid_y_inds=cell[:, 1],
            class_inds=targets[:, 1].long(),
            bbox_targets=bbox_targets)

    def _decode_bbox_to_xywh(self, bbox_pred: Tensor,
                             priors_base_sizes: Tensor) -> Tensor:
        """Decode positives to (x, y, w, h) in grid units relative to their
        cell: ``xy = 2 * sigmoid - 0.5``, ``wh = (2 * sigmoid)**2 * prior``.
        """
        bbox_pred = bbox_pred.sigmoid()
        pred_xy = bbox_pred[:, :2] * 2 - 0.5
        pred_wh = (bbox_pred[:, 2:] * 2)**2 * priors_base_sizes
        return torch.cat([pred_xy, pred_wh], dim=-1)

    def _get_not_ignore_flags(self, batch_gt_instances_ignore: OptInstanceList,
                              featmap_sizes: List[torch.Size], batch_size: int,
                              dtype: torch.dtype,
                              device: torch.device) -> Optional[List[Tensor]]:
        """Per-level ``(B, num_priors, H, W)`` flags, 0 where a prior's IoF
        with an ignored box of the same image exceeds ``ignore_iof_thr``.

        Returns None when there is no ignored box in the batch.
        """
        if batch_gt_instances_ignore is None:
            return None
        if len(batch_gt_instances_ignore) != batch_size:
            raise ValueError(
                f'batch_gt_instances_ignore has '
                f'{len(batch_gt_instances_ignore)} entries for a batch of '
                f'{batch_size} images')
        ignore_boxes = [
            None
            if inst is None or len(inst) == 0 else get_box_tensor(inst.bboxes)
            for inst in batch_gt_instances_ignore
        ]
        if all(boxes is None for boxes in ignore_boxes):
            return None

        mlvl_priors = self._get_mlvl_priors(featmap_sizes, dtype, device)
        flags_list = []
        for priors, (h, w) in zip(mlvl_priors, featmap_sizes):
            flags = priors.new_ones(batch_size, self.num_base_priors, h, w)
            for img_idx, boxes in enumerate(ignore_boxes):
                if boxes is None:
                    continue
                iof = bbox_overlaps(priors, boxes.to(priors), mode='iof')
                # grid priors are ordered (y, x, prior)
                ignored = (iof.max(dim=1).values > self.ignore_iof_thr).view(
                    h, w, self.num_base_priors).permute(2, 0, 1)
                flags[img_idx][ignored] = 0
            flags_list.append(flags)
        return flags_list
