"""From decoded dense predictions of one image to its detections.

Every yolokit head ends in :func:`postprocess_image`; a head only supplies
its decoded boxes, its class probabilities and, if it has one, its
objectness. The steps and their order are MMYOLO 0.6.0's, because they
change results (``min_bbox_size`` is measured on rescaled boxes; float
rounding follows the order):

1. objectness: drop priors below ``score_thr`` early (an upper bound of
   their final score), then multiply it into the class probabilities;
2. candidates: scores above ``score_thr``, at most ``nms_pre`` of them
   (per prior and class with ``multi_label``, else per prior with its best
   class);
3. rescale: remove the letterbox padding, undo the resize;
4. drop boxes not wider and taller than ``min_bbox_size``;
5. class-aware NMS, then keep the ``max_per_img`` best;
6. clamp to the original (or network input) image.

Dims: N priors of the image, C classes, D detections.
"""
import difflib
import logging
from dataclasses import dataclass
from typing import Mapping, Optional, Set

import torch
from mmcv.ops import batched_nms
from mmdet.models.utils import filter_scores_and_topk
from mmengine.logging import print_log
from mmengine.structures import InstanceData
from torch import Tensor

from yolokit.utils.errors import PlainMessageKeyError

# test_cfg keys the post-processing reads; ``yolox_style`` is resolved into
# the other settings by PostProcessCfg.from_config
KNOWN_TEST_CFG_KEYS = ('multi_label', 'score_thr', 'nms_pre', 'nms',
                       'max_per_img', 'yolox_style', 'min_bbox_size')
_reported_unknown_keys: Set[str] = set()


class MissingTestCfgKeyError(PlainMessageKeyError, AttributeError):
    """A post-processing step needs a ``test_cfg`` key that is absent.

    An ``AttributeError`` as well, which is what MMYOLO's ``cfg.nms``
    raised for the same config.
    """


@dataclass(frozen=True)
class PostProcessCfg:
    """A head's ``test_cfg``, read once into plain settings.

    The defaults are those MMYOLO 0.6.0 falls back to for absent keys.
    ``max_per_img=None`` keeps every box that survives NMS (what
    ``yolox_style=True`` asks for); ``objectness_prefilter=False`` skips
    step 1's early objectness cut (also ``yolox_style``).
    """
    score_thr: float = -1.0
    nms_pre: int = 100000
    multi_label: bool = False
    nms: Optional[Mapping] = None
    max_per_img: Optional[int] = None
    min_bbox_size: float = -1.0
    objectness_prefilter: bool = True

    @classmethod
    def from_config(cls, cfg: Mapping, num_classes: int) -> 'PostProcessCfg':
        """Read a ``test_cfg``; unknown keys are reported once and ignored
        (MMYOLO ignored them, and old configs carry them)."""
        for key in sorted(set(cfg) - set(KNOWN_TEST_CFG_KEYS)):
            if key not in _reported_unknown_keys:
                _reported_unknown_keys.add(key)
                close = difflib.get_close_matches(key, KNOWN_TEST_CFG_KEYS, 1)
                hint = f'; did you mean {close[0]!r}?' if close else ''
                print_log(
                    f'test_cfg key {key!r} is not used by yolokit heads '
                    f'(known: {", ".join(KNOWN_TEST_CFG_KEYS)}){hint}',
                    logger='current',
                    level=logging.WARNING)
        yolox_style = bool(cfg.get('yolox_style', False))
        nms = cfg.get('nms')
        return cls(
            score_thr=cfg.get('score_thr', -1.0),
            nms_pre=cfg.get('nms_pre', 100000),
            multi_label=bool(cfg.get('multi_label', False))
            and num_classes > 1,
            nms=None if nms is None else dict(nms),
            max_per_img=None if yolox_style else cfg.get('max_per_img'),
            min_bbox_size=cfg.get('min_bbox_size', -1.0),
            objectness_prefilter=not yolox_style)


def select_candidates(scores: Tensor, boxes: Tensor,
                      cfg: PostProcessCfg) -> InstanceData:
    """Step 2: ``(N, C)`` probabilities and ``(N, 4)`` boxes -> the
    ``nms_pre`` best (prior, class) pairs above ``score_thr``."""
    if cfg.multi_label:
        scores, labels, keep, _ = filter_scores_and_topk(
            scores, cfg.score_thr, cfg.nms_pre)
    else:
        best, best_labels = scores.max(dim=1, keepdim=True)
        scores, _, keep, kept = filter_scores_and_topk(
            best, cfg.score_thr, cfg.nms_pre,
            dict(labels=best_labels[:, 0]))
        labels = kept['labels']
    return InstanceData(scores=scores, labels=labels, bboxes=boxes[keep])


def to_original_image(boxes: Tensor, img_meta: Mapping) -> Tensor:
    """Step 3: network-input px -> original-image px.

    ``pad_param`` is the letterbox padding ``(top, bottom, left, right)``;
    ``scale_factor`` is ``(w_scale, h_scale)`` of the resize.
    """
    if 'scale_factor' not in img_meta:
        raise KeyError('rescale=True needs "scale_factor" (w_scale, '
                       'h_scale) in the image meta information, which '
                       f'only has {sorted(img_meta)}')
    pad_param = img_meta.get('pad_param')
    if pad_param is not None:
        top, left = float(pad_param[0]), float(pad_param[2])
        boxes = boxes - boxes.new_tensor([left, top, left, top])
    scale = boxes.new_tensor(img_meta['scale_factor']).view(-1)
    return boxes / scale.repeat(2)[:4]


def drop_small_boxes(dets: InstanceData, min_size: float) -> InstanceData:
    """Step 4: keep boxes wider and taller than ``min_size`` (off if < 0)."""
    if min_size < 0:
        return dets
    wh = dets.bboxes[:, 2:] - dets.bboxes[:, :2]
    return dets[(wh > min_size).all(dim=1)]


def suppress_duplicates(dets: InstanceData,
                        cfg: PostProcessCfg) -> InstanceData:
    """Step 5: class-aware NMS, best first, cut to ``max_per_img``."""
    if cfg.nms is None:
        raise MissingTestCfgKeyError(
            'with_nms=True needs test_cfg.nms, e.g. dict(type="nms", '
            'iou_threshold=0.65)')
    nms_dets, keep = batched_nms(dets.bboxes, dets.scores, dets.labels,
                                 dict(cfg.nms))
    dets = dets[keep]
    dets.scores = nms_dets[:, -1]
    return dets if cfg.max_per_img is None else dets[:cfg.max_per_img]


def clamp_boxes(boxes: Tensor, shape_hw) -> Tensor:
    """Step 6: clamp x1y1x2y2 boxes into an ``(h, w)`` image."""
    h, w = shape_hw[:2]
    return torch.minimum(boxes.clamp(min=0), boxes.new_tensor([w, h, w, h]))


def postprocess_image(scores: Tensor,
                      boxes: Tensor,
                      objectness: Optional[Tensor],
                      img_meta: Mapping,
                      cfg: PostProcessCfg,
                      rescale: bool = True,
                      with_nms: bool = True) -> InstanceData:
    """Detections of one image from its dense predictions.

    Args:
        scores (Tensor): Class probabilities ``(N, C)``.
        boxes (Tensor): Decoded x1y1x2y2 boxes ``(N, 4)``, network-input px.
        objectness (Tensor, optional): Objectness probabilities ``(N,)``.
        img_meta (Mapping): ``ori_shape``/``img_shape``, and for
            ``rescale`` ``scale_factor`` and optionally ``pad_param``.
        cfg (PostProcessCfg): The settings.
        rescale (bool): Return boxes in original-image px.
        with_nms (bool): Run steps 5 (NMS and ``max_per_img``).

    Returns:
        InstanceData: ``bboxes (D, 4)``, ``scores (D,)``, ``labels (D,)``.
    """
    if objectness is not None:
        if cfg.objectness_prefilter and cfg.score_thr > 0:
            is_kept = objectness > cfg.score_thr
            scores, boxes = scores[is_kept], boxes[is_kept]
            objectness = objectness[is_kept]
        scores = scores * objectness[:, None]
    if len(scores) == 0:
        return InstanceData(
            bboxes=boxes, scores=scores[:, 0], labels=scores[:, 0].long())

    dets = select_candidates(scores, boxes, cfg)
    if rescale:
        dets.bboxes = to_original_image(dets.bboxes, img_meta)
    dets = drop_small_boxes(dets, cfg.min_bbox_size)
    if with_nms and len(dets) > 0:
        dets = suppress_duplicates(dets, cfg)
    bound = img_meta.get('ori_shape' if rescale else 'img_shape')
    if bound is not None:
        dets.bboxes = clamp_boxes(dets.bboxes, bound)
    return dets
