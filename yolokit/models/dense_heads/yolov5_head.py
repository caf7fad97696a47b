"""YOLOv5 detection head: anchor matching, CIoU/BCE losses, and the one
prediction path every yolokit head shares.

The other YOLO heads subclass :class:`YOLOv5Head` (as in MMYOLO): they
override :meth:`~YOLOv5Head.special_init` and
:meth:`~YOLOv5Head.loss_by_feat`, and inherit :meth:`~YOLOv5Head.loss`,
:meth:`~YOLOv5Head.decode_dense` and :meth:`~YOLOv5Head.predict_by_feat`.

Dims: B images, A priors per position, P priors over all levels, C classes.
"""
import logging
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
from mmdet.structures.bbox import bbox_overlaps, get_box_tensor
from mmdet.utils import (ConfigType, OptConfigType, OptInstanceList,
                         OptMultiConfig)
from mmengine.config import ConfigDict
from mmengine.logging import print_log
from mmengine.structures import InstanceData
from torch import Tensor

from yolokit.registry import MODELS, TASK_UTILS
from ..utils import (GridPriorCache, PostProcessCfg, flatten_levels,
                     graph_keeping_zero, postprocess_image,
                     scale_by_images_and_world)
from .yolov5_targets import (LevelTargets, assignment_constants,
                             decode_positive_xywh, match_level,
                             normalized_gt_rows, rows_per_prior)

# per-image InstanceData, or the fast (N, 6) tensor of yolov5_collate
GTInput = Union[Sequence[InstanceData], Tensor]

__all__ = ['YOLOv5Head', 'DenseDecoded', 'GTInput', 'LevelTargets']


class DenseDecoded(NamedTuple):
    """Decoded dense predictions of a batch, in prior order."""
    boxes: Tensor  # (B, P, 4) x1y1x2y2, network-input px
    scores: Tensor  # (B, P, C) class probabilities
    objectness: Optional[Tensor]  # (B, P) probabilities, or None


class LevelLosses(NamedTuple):
    """The three YOLOv5 terms of one level, before the DDP scaling."""
    cls: Tensor
    obj: Tensor
    bbox: Tensor


def check_level_counts(**per_level: Optional[Sequence]) -> None:
    """Every given per-level sequence has as many levels as the first."""
    given = {k: v for k, v in per_level.items() if v is not None}
    (first, first_maps), *others = given.items()
    for name, maps in others:
        if len(maps) != len(first_maps):
            raise ValueError(f'{first} has {len(first_maps)} levels but '
                             f'{name} has {len(maps)}')


@MODELS.register_module()
class YOLOv5Head(BaseDenseHead):
    """Head of YOLOv5 (anchor-based, with objectness).

    Training matches every GT to priors and cells by the rules in
    :mod:`yolokit.models.dense_heads.yolov5_targets`. Per level ``l``:

    - ``loss_bbox``: CIoU loss between positives' decoded boxes and their
      GT, mean over the positives;
    - ``loss_obj``: BCE of the objectness of every prior against the
      (detached, clamped at 0) CIoU of its positive, 0 elsewhere, times
      ``obj_level_weights[l]``;
    - ``loss_cls``: BCE of the positives' class logits against one-hot
      labels (0 when there is a single class).

    Each is summed over the levels and multiplied by the batch size and
    the world size, as the official code does.

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
            ``yolox_style``, ``min_bbox_size``), see
            :mod:`yolokit.models.utils.postprocess`. Defaults to None.
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
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        self.prior_match_thr = prior_match_thr
        self.near_neighbor_thr = near_neighbor_thr
        self.obj_level_weights = obj_level_weights
        self.ignore_iof_thr = ignore_iof_thr

        self.head_module = MODELS.build(head_module)
        self.num_classes = self.head_module.num_classes
        self.featmap_strides = self.head_module.featmap_strides
        self.num_levels = len(self.featmap_strides)
        self.loss_cls: nn.Module = MODELS.build(loss_cls)
        self.loss_bbox: nn.Module = MODELS.build(loss_bbox)
        self.loss_obj: Optional[nn.Module] = MODELS.build(loss_obj)
        self.prior_generator = TASK_UTILS.build(prior_generator)
        self.bbox_coder = TASK_UTILS.build(bbox_coder)
        self.num_base_priors = self.prior_generator.num_base_priors[0]
        self.prior_cache = GridPriorCache(self.prior_generator,
                                          self.featmap_strides,
                                          self.num_base_priors)
        self.special_init()

    def special_init(self) -> None:
        """YOLOv5's part of the construction (subclasses replace it).

        Checks the per-level settings, warns about settings that work but
        are rarely what is meant, and registers the assignment constants
        as non-persistent buffers (``priors_base_sizes``, ``grid_offset``,
        ``prior_inds``; see :class:`~.yolov5_targets.AssignmentConstants`),
        so they follow ``.to(device)`` without entering checkpoints.
        """
        base_sizes = self.prior_generator.base_sizes
        for name, count in (('obj_level_weights', len(self.obj_level_weights)),
                            ('prior_generator.base_sizes', len(base_sizes))):
            if count != self.num_levels:
                raise ValueError(
                    f'{name} has {count} levels but the head has '
                    f'{self.num_levels} (featmap_strides='
                    f'{list(self.featmap_strides)})')
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
        constants = assignment_constants(base_sizes, self.featmap_strides,
                                         self.num_base_priors)
        for name, value in constants._asdict().items():
            self.register_buffer(name, value, persistent=False)

    def forward(self, x: Tuple[Tensor]) -> Tuple[List]:
        """The head module's per-level outputs for features ``x``."""
        return self.head_module(x)

    # ------------------------------------------------------------------
    # prediction, shared by every head
    # ------------------------------------------------------------------
    def decode_dense(
            self,
            cls_scores: Sequence[Tensor],
            bbox_preds: Sequence[Tensor],
            objectnesses: Optional[Sequence[Tensor]] = None) -> DenseDecoded:
        """Flatten the levels, decode the boxes and apply the sigmoids.

        Args:
            cls_scores (Sequence[Tensor]): Per level ``(B, A * C, H, W)``.
            bbox_preds (Sequence[Tensor]): Per level ``(B, A * 4, H, W)``,
                in the bbox coder's encoding.
            objectnesses (Sequence[Tensor], optional): Per level
                ``(B, A, H, W)``.
        """
        first = cls_scores[0]
        flat = self.prior_cache([m.shape[2:] for m in cls_scores],
                                first.dtype, first.device)
        boxes = self.bbox_coder.decode(flat.priors[None],
                                       flatten_levels(bbox_preds, 4),
                                       flat.strides)
        scores = flatten_levels(cls_scores, self.num_classes).sigmoid()
        objectness = None if objectnesses is None else flatten_levels(
            objectnesses, 1)[..., 0].sigmoid()
        return DenseDecoded(get_box_tensor(boxes), scores, objectness)

    def predict_by_feat(self,
                        cls_scores: List[Tensor],
                        bbox_preds: List[Tensor],
                        objectnesses: Optional[List[Tensor]] = None,
                        batch_img_metas: Optional[List[dict]] = None,
                        cfg: Optional[ConfigDict] = None,
                        rescale: bool = True,
                        with_nms: bool = True) -> List[InstanceData]:
        """Detections of every image of the batch.

        Args:
            cls_scores (list[Tensor]): Per level ``(B, A * C, H, W)``.
            bbox_preds (list[Tensor]): Per level ``(B, A * 4, H, W)``.
            objectnesses (list[Tensor], optional): Per level
                ``(B, A, H, W)``; None for heads without objectness.
            batch_img_metas (list[dict]): Meta information of each image
                (``ori_shape``, ``scale_factor``, optional ``pad_param``).
            cfg (dict, optional): Post-processing config; ``test_cfg`` if
                None.
            rescale (bool): Boxes in original-image px (padding removed,
                resize undone, clamped to ``ori_shape``). Defaults to True.
            with_nms (bool): Whether to run NMS. Defaults to True.

        Returns:
            list[InstanceData]: Per image ``bboxes (N, 4)`` x1y1x2y2,
            ``scores (N,)`` and ``labels (N,)``.
        """
        check_level_counts(
            cls_scores=cls_scores,
            bbox_preds=bbox_preds,
            objectnesses=objectnesses)
        if batch_img_metas is None:
            raise ValueError('predict_by_feat needs batch_img_metas')
        cfg = self.test_cfg if cfg is None else cfg
        if cfg is None:
            raise ValueError('predict_by_feat needs a cfg or the test_cfg of '
                             'the head')
        settings = PostProcessCfg.from_config(cfg, self.num_classes)
        dense = self.decode_dense(cls_scores, bbox_preds, objectnesses)
        return [
            postprocess_image(
                dense.scores[i], dense.boxes[i],
                None if dense.objectness is None else dense.objectness[i],
                meta, settings, rescale, with_nms)
            for i, meta in enumerate(batch_img_metas)
        ]

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
        """
        if not isinstance(batch_data_samples, dict):
            return super().loss(x, batch_data_samples)
        missing = [
            k for k in ('bboxes_labels', 'img_metas')
            if k not in batch_data_samples
        ]
        if missing:
            raise KeyError(f'The fast batch dict needs the keys '
                           f'"bboxes_labels" and "img_metas"; missing '
                           f'{missing} (it has {sorted(batch_data_samples)})')
        return self.loss_by_feat(*self(x), batch_data_samples['bboxes_labels'],
                                 batch_data_samples['img_metas'])

    def loss_by_feat(
            self,
            cls_scores: Sequence[Tensor],
            bbox_preds: Sequence[Tensor],
            objectnesses: Sequence[Tensor],
            batch_gt_instances: GTInput,
            batch_img_metas: Sequence[dict],
            batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        """The losses of a batch (see the class docstring).

        Args:
            cls_scores (Sequence[Tensor]): Per level ``(B, A * C, H, W)``.
            bbox_preds (Sequence[Tensor]): Per level ``(B, A * 4, H, W)``.
            objectnesses (Sequence[Tensor]): Per level ``(B, A, H, W)``.
            batch_gt_instances (Sequence[InstanceData] | Tensor): Per-image
                GT (``bboxes`` in x1y1x2y2, ``labels``), or the fast
                ``(N, 6)`` tensor of (img_idx, label, x1, y1, x2, y2).
            batch_img_metas (Sequence[dict]): Meta information of each
                image; ``batch_input_shape`` is required.
            batch_gt_instances_ignore (list[InstanceData], optional): Boxes
                to ignore, used when ``ignore_iof_thr != -1``.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_obj`` and ``loss_bbox``.
        """
        num_imgs = bbox_preds[0].shape[0]
        gt_per_prior = rows_per_prior(
            normalized_gt_rows(batch_gt_instances, batch_img_metas),
            self.prior_inds)
        keep_flags = [None] * self.num_levels
        if self.ignore_iof_thr != -1:
            keep_flags = self._not_ignored_flags(batch_gt_instances_ignore,
                                                 bbox_preds)
        per_level = [
            self._level_losses(level, cls_scores[level], bbox_preds[level],
                               objectnesses[level], gt_per_prior,
                               keep_flags[level])
            for level in range(self.num_levels)
        ]
        totals = LevelLosses(*(sum(terms) for terms in zip(*per_level)))
        return scale_by_images_and_world(
            dict(
                loss_cls=totals.cls,
                loss_obj=totals.obj,
                loss_bbox=totals.bbox), num_imgs)

    def _level_losses(self, level: int, cls_map: Tensor, box_map: Tensor,
                      obj_map: Tensor, gt_per_prior: Tensor,
                      keep: Optional[Tensor]) -> LevelLosses:
        """The terms of one level; ``keep`` is ``(B, A, H, W)`` 0/1 flags
        of priors outside every ignored box, or None."""
        pos = match_level(gt_per_prior, self.priors_base_sizes[level],
                          self.grid_offset, tuple(box_map.shape[2:]),
                          self.prior_match_thr, self.near_neighbor_thr)
        return self._losses_at_positives(level, cls_map, box_map, obj_map,
                                         pos, keep)

    def _losses_at_positives(self, level: int, cls_map: Tensor,
                             box_map: Tensor, obj_map: Tensor,
                             pos: Optional[LevelTargets],
                             keep: Optional[Tensor]) -> LevelLosses:
        """The terms of one level once its positives are known (None: no
        positive); subclasses with their own matching (YOLOv7) reuse it."""
        num_imgs, _, h, w = box_map.shape
        prior_sizes = self.priors_base_sizes[level]
        obj_target = torch.zeros_like(obj_map)
        if pos is None:
            box_loss = graph_keeping_zero(box_map)
            cls_loss = graph_keeping_zero(cls_map)
        else:
            at_pos = (pos.img_inds, pos.prior_inds, pos.grid_y_inds,
                      pos.grid_x_inds)
            weight = None if keep is None else keep[at_pos]

            def positives(maps: Tensor) -> Tensor:  # (M, k) rows
                per_prior = maps.view(num_imgs, self.num_base_priors, -1, h,
                                      w)
                return per_prior[at_pos[:2] + (slice(None), ) + at_pos[2:]]

            pred_xywh = decode_positive_xywh(
                positives(box_map), prior_sizes[pos.prior_inds])
            box_loss, iou = self._bbox_loss_and_iou(pred_xywh,
                                                    pos.bbox_targets, weight)
            # the objectness target is how well the box fits, not 1
            obj_target[at_pos] = iou.detach().clamp(0).to(obj_target.dtype)
            cls_loss = self._positive_cls_loss(
                positives(cls_map), pos.class_inds, weight, cls_map)
        obj_loss = self._weighted(self.loss_obj, obj_map, obj_target, keep)
        return LevelLosses(cls_loss, obj_loss * self.obj_level_weights[level],
                           box_loss)

    @staticmethod
    def _weighted(loss_fn: nn.Module, pred: Tensor, target: Tensor,
                  weight: Optional[Tensor]) -> Tensor:
        """``loss_fn`` as a mean over the entries whose weight is 1."""
        if weight is None:
            return loss_fn(pred, target)
        return loss_fn(
            pred, target, weight=weight, avg_factor=weight.sum().clamp(min=1))

    def _positive_cls_loss(self, logits: Tensor, labels: Tensor,
                           weight: Optional[Tensor],
                           cls_map: Tensor) -> Tensor:
        """BCE of ``(M, C)`` positive logits against one-hot ``labels``."""
        if self.num_classes == 1:
            return graph_keeping_zero(cls_map)  # objectness scores alone
        target = torch.zeros_like(logits)
        target[torch.arange(len(target)), labels] = 1.
        if weight is None:
            return self.loss_cls(logits, target)
        # mean over the non-ignored (positive, class) pairs, as the
        # unweighted 'mean' averages over all of them
        return self.loss_cls(
            logits,
            target,
            weight=weight[:, None].expand_as(target),
            avg_factor=weight.sum().clamp(min=1) * self.num_classes)

    def _bbox_loss_and_iou(self, pred: Tensor, target: Tensor,
                           weight: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        """Box loss and IoU of the positives of one level."""
        out = self._weighted(self.loss_bbox, pred, target, weight)
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

    def _not_ignored_flags(self, batch_gt_instances_ignore: OptInstanceList,
                           bbox_preds: Sequence[Tensor]) -> List:
        """Per level ``(B, A, H, W)`` flags, 0 where a prior's IoF with an
        ignored box of its image exceeds ``ignore_iof_thr``; a list of None
        when the batch has no ignored box."""
        num_imgs = bbox_preds[0].shape[0]
        none = [None] * self.num_levels
        if batch_gt_instances_ignore is None:
            return none
        if len(batch_gt_instances_ignore) != num_imgs:
            raise ValueError(
                f'batch_gt_instances_ignore has '
                f'{len(batch_gt_instances_ignore)} entries for a batch of '
                f'{num_imgs} images')
        ignored = [
            None
            if inst is None or len(inst) == 0 else get_box_tensor(inst.bboxes)
            for inst in batch_gt_instances_ignore
        ]
        if all(boxes is None for boxes in ignored):
            return none
        sizes = [tuple(p.shape[2:]) for p in bbox_preds]
        flat = self.prior_cache(sizes, bbox_preds[0].dtype,
                                bbox_preds[0].device)
        per_level = flat.priors.split(
            [h * w * self.num_base_priors for h, w in sizes])
        flags = []
        for priors, (h, w) in zip(per_level, sizes):
            level_flags = priors.new_ones(num_imgs, self.num_base_priors, h, w)
            for img_idx, boxes in enumerate(ignored):
                if boxes is None:
                    continue
                iof = bbox_overlaps(priors, boxes.to(priors), mode='iof')
                # grid priors are ordered (y, x, prior)
                is_ignored = (iof.max(dim=1).values > self.ignore_iof_thr)
                level_flags[img_idx][is_ignored.view(h, w, -1).permute(
                    2, 0, 1)] = 0
            flags.append(level_flags)
        return flags
