"""PP-YOLOE's random crop: an SSD-style crop search over IoU thresholds.

The candidate thresholds (plus "no crop" when allowed) are tried in a random
order. For a threshold ``t`` up to ``num_attempts`` crop windows are drawn:
a scale ``s ~ U(scaling)`` and an aspect ratio
``r ~ U(max(r_min, s^2), min(r_max, s^-2))`` give a window of
``int(h s / sqrt(r)) x int(w s sqrt(r))`` px (the bounds on ``r`` keep
both sides within the image), placed at a uniform integer offset. A window
is accepted when

- the largest IoU of a box with the window is at least ``t`` (with
  ``cover_all_box``: the smallest as well), and
- at least one box keeps its centre inside the window (``x1 <= c < x2``)
  with a non-empty part inside it; only those boxes are kept.

Kept boxes are shifted to the window and clipped to it. The first accepted
window is used; the "no crop" candidate, or no accepted window at all,
leaves the results unchanged.

Dims: N boxes, K kept boxes. Boxes are px ``(x1, y1, x2, y2)``.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.structures.bbox import autocast_box_type

from yolokit.registry import TRANSFORMS
from .errors import TransformArgumentError, check_ratio_range

__all__ = ['PPYOLOERandomCrop']

# without a configured aspect ratio the two sides are drawn apart and a
# window more elongated than this is redrawn (PaddleDetection's rule)
FREE_ASPECT_LIMITS = (0.5, 2.0)


def window_overlaps(boxes: np.ndarray,
                    window: np.ndarray,
                    eps: float = 1e-10) -> np.ndarray:
    """IoU of each box with one window: ``(N, 4)``, ``(4,)`` -> ``(N,)``.

    ``inter / (area_box + area_window - inter + eps)``; a box that does not
    overlap the window (touching counts as not overlapping) gives 0.
    """
    lt = np.maximum(boxes[:, :2], window[:2])
    rb = np.minimum(boxes[:, 2:], window[2:])
    inter = np.prod(rb - lt, axis=1) * (lt < rb).all(axis=1)
    area_boxes = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    area_window = np.prod(window[2:] - window[:2])
    return inter / (area_boxes + area_window - inter + eps)


def centre_kept_inds(boxes: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Indices ``(K,)`` of the boxes ``(N, 4)`` a window ``(4,)`` keeps.

    A box is kept when its centre lies in the half-open window
    ``[x1, x2) x [y1, y2)`` and its part inside the window has a positive
    width and height.
    """
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    centre_inside = ((window[:2] <= centres) &
                     (centres < window[2:])).all(axis=1)
    inner_lt = np.maximum(boxes[:, :2], window[:2])
    inner_rb = np.minimum(boxes[:, 2:], window[2:])
    non_empty = (inner_lt < inner_rb).all(axis=1)
    return np.flatnonzero(centre_inside & non_empty)


@TRANSFORMS.register_module()
class PPYOLOERandomCrop(BaseTransform):
    """Random crop of PP-YOLOE (rules in the module docstring).

    Differs from MMDetection's ``RandomCrop``: the window is accepted by IoU
    thresholds and box centres, as in PaddleDetection's ``RandomCrop``.
    Random numbers come from ``np.random`` in MMYOLO 0.6.0's order (shuffle
    of the candidates, then per attempt the scale, the aspect ratio, the y
    and the x offset), so a seeded run crops as MMYOLO does.

    Required keys: ``img``; optional ``gt_bboxes`` (``HorizontalBoxes`` or
    an ``(N, 4)`` array), ``gt_bboxes_labels``, ``gt_ignore_flags``,
    ``gt_masks``, ``gt_seg_map``.

    Modified keys: ``img``, ``img_shape`` and the optional keys above.

    Args:
        aspect_ratio (list[float] | None): ``[min, max]`` of the window's
            aspect ratio (w / h relative to the image's). None draws the
            height and width scales separately from ``scaling``. Defaults to
            ``[.5, 2.]``.
        thresholds (list[float]): IoU thresholds, one tried per round.
            Defaults to ``[.0, .1, .3, .5, .7, .9]``.
        scaling (list[float]): ``[min, max]`` of the window side relative
            to the image side. Defaults to ``[.3, 1.]``.
        num_attempts (int): Windows drawn per threshold. Defaults to 50.
        allow_no_crop (bool): Add a "keep the image" candidate. Defaults to
            True.
        cover_all_box (bool): Every box, not just one, must reach the
            threshold. Defaults to False.
    """

    def __init__(self,
                 aspect_ratio: Optional[List[float]] = [.5, 2.],
                 thresholds: List[float] = [.0, .1, .3, .5, .7, .9],
                 scaling: List[float] = [.3, 1.],
                 num_attempts: int = 50,
                 allow_no_crop: bool = True,
                 cover_all_box: bool = False) -> None:
        if aspect_ratio is not None:
            check_ratio_range(
                aspect_ratio,
                'PPYOLOERandomCrop: aspect_ratio',
                allow_zero=False)
        check_ratio_range(
            scaling, 'PPYOLOERandomCrop: scaling', allow_zero=False)
        if not isinstance(thresholds, Sequence) or isinstance(
                thresholds, str) or not all(
                    isinstance(t, (int, float)) for t in thresholds):
            raise TransformArgumentError(
                'PPYOLOERandomCrop: thresholds must be a list of IoU values, '
                f'got {thresholds!r}')
        if not isinstance(num_attempts, int) or num_attempts < 1:
            raise TransformArgumentError(
                'PPYOLOERandomCrop: num_attempts must be an int >= 1, got '
                f'{num_attempts!r}')
        self.aspect_ratio = aspect_ratio
        self.thresholds = thresholds
        self.scaling = scaling
        self.num_attempts = num_attempts
        self.allow_no_crop = allow_no_crop
        self.cover_all_box = cover_all_box

    @autocast_box_type()
    def transform(self, results: dict) -> dict:
        """Crop ``results`` by the first accepted window, if any.

        Args:
            results (dict): Result dict.

        Returns:
            dict: The cropped (or unchanged) results.
        """
        gt_bboxes = results.get('gt_bboxes')
        if gt_bboxes is None or len(gt_bboxes) == 0:
            return results
        img_h, img_w = results['img'].shape[:2]
        boxes = gt_bboxes.tensor.numpy().astype(np.float32)

        candidates: list = list(self.thresholds)
        if self.allow_no_crop:
            candidates.append(None)  # None: keep the image
        np.random.shuffle(candidates)
        for thresh in candidates:
            if thresh is None:
                return results
            found = self._search_window(boxes, img_h, img_w, thresh)
            if found is not None:
                return self._crop(results, *found)
        return results

    def _search_window(
            self, boxes: np.ndarray, img_h: int, img_w: int,
            thresh: float) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """The first accepted window ``(4,)`` int and its kept indices."""
        for _ in range(self.num_attempts):
            crop_h, crop_w = self._draw_window_size(img_h, img_w)
            if self.aspect_ratio is None and (
                    crop_w == 0 or not (FREE_ASPECT_LIMITS[0] <= crop_h /
                                        crop_w <= FREE_ASPECT_LIMITS[1])):
                continue
            y1 = np.random.randint(0, max(img_h - crop_h, 0) + 1)
            x1 = np.random.randint(0, max(img_w - crop_w, 0) + 1)
            window = np.array([x1, y1, x1 + crop_w, y1 + crop_h])
            ious = window_overlaps(boxes, window.astype(np.float32))
            if ious.max() < thresh:
                continue
            if self.cover_all_box and ious.min() < thresh:
                continue
            kept = centre_kept_inds(boxes, window.astype(np.float32))
            if kept.size > 0:
                return window, kept
        return None

    def _draw_window_size(self, img_h: int, img_w: int) -> Tuple[int, int]:
        """``(crop_h, crop_w)`` px, truncated to ints."""
        scale = np.random.uniform(*self.scaling)
        if self.aspect_ratio is not None:
            low, high = self.aspect_ratio
            ratio = np.random.uniform(max(low, scale**2), min(high, scale**-2))
            h_scale, w_scale = scale / np.sqrt(ratio), scale * np.sqrt(ratio)
        else:
            h_scale = np.random.uniform(*self.scaling)
            w_scale = np.random.uniform(*self.scaling)
        return int(img_h * h_scale), int(img_w * w_scale)

    @staticmethod
    def _crop(results: dict, window: np.ndarray, kept: np.ndarray) -> dict:
        """Cut the image, the kept instances and the seg map to ``window``."""
        x1, y1, x2, y2 = (int(v) for v in window)
        img = results['img'][y1:y2, x1:x2, ...]
        results['img'] = img
        results['img_shape'] = img.shape[:2]

        boxes = results['gt_bboxes'][kept]
        boxes.translate_([-x1, -y1])
        boxes.clip_(img.shape[:2])
        results['gt_bboxes'] = boxes
        for key in ('gt_bboxes_labels', 'gt_ignore_flags'):
            if results.get(key) is not None:
                results[key] = results[key][kept]
        if results.get('gt_masks') is not None:
            results['gt_masks'] = results['gt_masks'][kept].crop(
                np.asarray([x1, y1, x2, y2]))
        if results.get('gt_seg_map') is not None:
            results['gt_seg_map'] = results['gt_seg_map'][y1:y2, x1:x2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(aspect_ratio={self.aspect_ratio}'
                f', thresholds={self.thresholds}, scaling={self.scaling}, '
                f'num_attempts={self.num_attempts}, '
                f'allow_no_crop={self.allow_no_crop}, '
                f'cover_all_box={self.cover_all_box})')
