"""YOLOv5/YOLOv8 Copy-Paste: objects copied to their mirror position."""
from typing import Union

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet.structures.bbox import BaseBoxes, autocast_box_type
from mmdet.structures.mask import PolygonMasks

from yolokit.registry import TRANSFORMS
from .errors import TransformArgumentError, check_polygon_masks

__all__ = ['YOLOv5CopyPaste']


def _as_box_array(
        boxes: Union[BaseBoxes, torch.Tensor, np.ndarray]) -> np.ndarray:
    if isinstance(boxes, BaseBoxes):
        boxes = boxes.tensor
    if isinstance(boxes, torch.Tensor):
        boxes = boxes.detach().cpu().numpy()
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4)


@TRANSFORMS.register_module()
class YOLOv5CopyPaste(BaseTransform):
    """Paste left-right mirrored copies of some objects into their own
    image (YOLOv5/YOLOv8 style; MMDetection's ``CopyPaste`` takes objects
    from another image instead).

    The mirror of object ``i`` is its box (and polygons) flipped about the
    vertical centre line of the image. Object ``i`` can be copied when the
    IoA of its mirrored box with every original box (its own included) is
    below ``ioa_thresh``; ``round(prob * n)`` of the ``n`` such objects are
    picked at random, and the pixels under their mirrored masks are taken
    from the mirrored image. Polygon masks are needed; without any masks
    the results are returned as they are.

    Required Keys:

    - img (np.uint8)
    - gt_bboxes (BaseBoxes[torch.float32])
    - gt_bboxes_labels (np.int64) (optional)
    - gt_ignore_flags (bool) (optional)
    - gt_masks (PolygonMasks) (optional)

    Modified Keys:

    - img
    - gt_bboxes
    - gt_bboxes_labels (np.int64) (optional)
    - gt_ignore_flags (optional)
    - gt_masks (optional)

    Args:
        ioa_thresh (float): IoA threshold of a valid mirrored box.
            Defaults to 0.3.
        prob (float): Probability of choosing each candidate object.
            Defaults to 0.5.
    """

    def __init__(self, ioa_thresh: float = 0.3, prob: float = 0.5):
        if not 0 <= prob <= 1:
            raise TransformArgumentError(
                f'YOLOv5CopyPaste: prob must be in [0, 1], got {prob!r}')
        self.ioa_thresh = ioa_thresh
        self.prob = prob

    @autocast_box_type()
    def transform(self, results: dict) -> dict:
        """Paste mirrored copies of some objects.

        Args:
            results (dict): The result dict.

        Returns:
            dict: The result dict.
        """
        gt_masks = results.get('gt_masks', None)
        if gt_masks is None or len(gt_masks) == 0:
            return results
        check_polygon_masks(gt_masks, 'YOLOv5CopyPaste')
        gt_bboxes = results['gt_bboxes']
        img = results['img']
        img_h, img_w = img.shape[:2]

        flipped_bboxes = gt_bboxes.clone()
        flipped_bboxes.flip_((img_h, img_w), direction='horizontal')
        ioa = self.bbox_ioa(flipped_bboxes, gt_bboxes)
        candidates = np.nonzero((ioa < self.ioa_thresh).all(axis=1))[0]
        # Python's round (half to even), as upstream: 1 candidate at 0.5 -> 0
        num_chosen = round(self.prob * len(candidates))
        if num_chosen == 0:
            return results
        chosen = np.random.choice(candidates, size=num_chosen, replace=False)

        chosen_masks = gt_masks[chosen]
        # Rasterise the chosen objects, mirror the raster, and take the
        # mirrored image's pixels there: the objects reappear mirrored.
        object_mask = np.zeros((img_h, img_w), dtype=np.uint8)
        for polys in chosen_masks.masks:
            contours = [p.reshape(-1, 1, 2).astype(np.int32) for p in polys]
            cv2.drawContours(object_mask, contours, -1, (1, ), cv2.FILLED)
        paste_at = object_mask[:, ::-1].astype(bool)
        img[paste_at] = img[:, ::-1][paste_at]
        results['img'] = img

        results['gt_bboxes'] = type(gt_bboxes).cat(
            [gt_bboxes, flipped_bboxes[chosen]])
        results['gt_masks'] = PolygonMasks.cat(
            [gt_masks, chosen_masks.flip('horizontal')])
        for key in ('gt_bboxes_labels', 'gt_ignore_flags'):
            if results.get(key, None) is not None:
                results[key] = np.concatenate(
                    [results[key], results[key][chosen]], axis=0)
        if results.get('gt_keypoints', None) is not None:
            kps = results['gt_keypoints']
            copies = kps[chosen].clone()
            copies.flip_((img_h, img_w), direction='horizontal')
            results['gt_keypoints'] = type(kps).cat([kps, copies], 0)
        return results

    @staticmethod
    def bbox_ioa(gt_bboxes_flip: Union[BaseBoxes, torch.Tensor, np.ndarray],
                 gt_bboxes: Union[BaseBoxes, torch.Tensor, np.ndarray],
                 eps: float = 1e-7) -> np.ndarray:
        """Intersection of each box of the first set with each of the
        second, over the area of the second-set box (plus ``eps``).

        Args:
            gt_bboxes_flip (HorizontalBoxes): ``(N, 4)`` flipped boxes.
            gt_bboxes (HorizontalBoxes): ``(M, 4)`` boxes.
            eps (float): Added to the area. Defaults to 1e-7.

        Returns:
            np.ndarray: ``(N, M)`` IoA, float32.
        """
        b1 = _as_box_array(gt_bboxes_flip)
        b2 = _as_box_array(gt_bboxes)
        inter_w = (np.minimum(b1[:, None, 2], b2[None, :, 2]) -
                   np.maximum(b1[:, None, 0], b2[None, :, 0])).clip(0)
        inter_h = (np.minimum(b1[:, None, 3], b2[None, :, 3]) -
                   np.maximum(b1[:, None, 1], b2[None, :, 1])).clip(0)
        area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1]) + eps
        return (inter_w * inter_h / area2[None, :]).astype(np.float32)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(ioa_thresh={self.ioa_thresh}, '
                f'prob={self.prob})')
