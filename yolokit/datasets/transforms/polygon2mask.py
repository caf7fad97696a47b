"""Rasterize polygon masks into (downsampled) bitmaps, YOLOv5-seg style."""
from typing import List, Sequence, Tuple

import cv2
import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet.structures.mask import polygon_to_bitmap

from yolokit.registry import TRANSFORMS
from .errors import TransformArgumentError, check_polygon_masks

__all__ = ['Polygon2Mask']


@TRANSFORMS.register_module()
class Polygon2Mask(BaseTransform):
    """Turn ``gt_masks`` polygons into bitmaps at ``1 / downsample_ratio``
    of the image size, as YOLOv5 instance segmentation does.

    Required keys: ``gt_masks`` (:class:`PolygonMasks`), ``gt_bboxes``,
    ``gt_bboxes_labels`` (and ``gt_ignore_flags`` if present).

    With ``mask_overlap=True`` every instance goes into one map whose pixels
    hold the 1-based index of the instance drawn last there. Instances are
    drawn from the largest mask area to the smallest (so small objects stay
    visible), the box, label and ignore-flag arrays are reordered the same way,
    ``gt_masks`` is removed and the map is stored as ``gt_panoptic_seg``, a
    ``(1, H / r, W / r)`` tensor (uint8, int32 beyond 255 instances).
    Otherwise ``gt_masks`` becomes an ``(N, H / r, W / r)`` uint8 tensor of
    binary masks.

    Args:
        downsample_ratio (int): Ratio ``r`` between image and mask size.
            Defaults to 4.
        mask_overlap (bool): Build the single overlap map described above
            (faster training, as the official implementation).
            Defaults to True.
        coco_style (bool): Rasterize with the COCO API
            (``polygon_to_bitmap``) instead of ``cv2.fillPoly``; only meant
            for speed comparisons. Defaults to False.
    """

    def __init__(self,
                 downsample_ratio: int = 4,
                 mask_overlap: bool = True,
                 coco_style: bool = False) -> None:
        if not isinstance(downsample_ratio, int) or downsample_ratio < 1:
            raise TransformArgumentError(
                'Polygon2Mask: `downsample_ratio` must be a positive int, '
                f'but got {downsample_ratio!r}')
        self.downsample_ratio = downsample_ratio
        self.mask_overlap = mask_overlap
        self.coco_style = coco_style

    def polygon2mask(self,
                     img_shape: Tuple[int, int],
                     polygons: Sequence[np.ndarray],
                     color: int = 1) -> np.ndarray:
        """Rasterize the polygons of one instance.

        The polygons are filled at full resolution and the bitmap is then
        resized (bilinear) to ``(h // r, w // r)``.

        Args:
            img_shape (tuple[int, int]): ``(h, w)`` of the image.
            polygons (Sequence[np.ndarray]): Flat ``[x0, y0, x1, y1, ...]``
                polygons of the instance.
            color (int): Fill value. Defaults to 1.

        Returns:
            np.ndarray: ``(h // r, w // r)`` uint8 mask.
        """
        h, w = img_shape[:2]
        new_h, new_w = h // self.downsample_ratio, w // self.downsample_ratio
        if self.coco_style:
            flat = [
                np.asarray(p, dtype=np.float64).reshape(-1) for p in polygons
            ]
            mask = polygon_to_bitmap(flat, h, w).astype(np.uint8) * color
        else:
            mask = np.zeros((h, w), dtype=np.uint8)
            # fillPoly wants int32 vertices; truncation as in the original
            points = [
                np.asarray(p, dtype=np.float64).reshape(-1, 2).astype(np.int32)
                for p in polygons
            ]
            cv2.fillPoly(mask, points, color=color)
        # Resizing the full-resolution fill keeps the loss identical to the
        # unscaled case when the ratio is 1.
        return mmcv.imresize(mask, (new_w, new_h))

    def polygons2masks(self,
                       img_shape: Tuple[int, int],
                       polygons: List[List[np.ndarray]],
                       color: int = 1) -> np.ndarray:
        """Rasterize every instance into its own mask.

        Returns:
            np.ndarray: ``(N, h // r, w // r)`` uint8 masks.
        """
        h, w = img_shape[:2]
        masks = [self.polygon2mask(img_shape, p, color) for p in polygons]
        if not masks:
            return np.zeros(
                (0, h // self.downsample_ratio, w // self.downsample_ratio),
                dtype=np.uint8)
        return np.stack(masks)

    def polygons2masks_overlap(
            self, img_shape: Tuple[int, int],
            polygons: List[List[np.ndarray]]) -> Tuple[np.ndarray, np.ndarray]:
        """Rasterize every instance into one overlap map.

        Returns:
            tuple[np.ndarray, np.ndarray]: The ``(h // r, w // r)`` map
            (uint8, or int32 for more than 255 instances) and the instance
            order used (by descending mask area).
        """
        h, w = img_shape[:2]
        out_shape = (h // self.downsample_ratio, w // self.downsample_ratio)
        masks = [self.polygon2mask(img_shape, p, color=1) for p in polygons]
        areas = np.asarray([m.sum() for m in masks])
        order = np.argsort(-areas)
        overlap = np.zeros(out_shape, dtype=np.int32)
        for i, idx in enumerate(order):
            # Value i + 1 replaces whatever was drawn before (clipping the
            # sum to i + 1): later, smaller objects win.
            overlap = np.clip(overlap + masks[idx].astype(np.int32) * (i + 1),
                              0, i + 1)
        dtype = np.int32 if len(polygons) > 255 else np.uint8
        return overlap.astype(dtype), order

    def transform(self, results: dict) -> dict:
        """Rasterize ``results['gt_masks']``; see the class docstring."""
        gt_masks = results.get('gt_masks')
        check_polygon_masks(gt_masks, 'Polygon2Mask')
        img_shape = (gt_masks.height, gt_masks.width)
        if self.mask_overlap:
            overlap, order = self.polygons2masks_overlap(
                img_shape, gt_masks.masks)
            results['gt_bboxes'] = results['gt_bboxes'][order]
            results['gt_bboxes_labels'] = results['gt_bboxes_labels'][order]
            if 'gt_ignore_flags' in results:
                results['gt_ignore_flags'] = results['gt_ignore_flags'][order]
            results.pop('gt_masks')
            results['gt_panoptic_seg'] = torch.from_numpy(overlap[None])
        else:
            results['gt_masks'] = torch.from_numpy(
                self.polygons2masks(img_shape, gt_masks.masks, color=1))
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}('
                f'downsample_ratio={self.downsample_ratio}, '
                f'mask_overlap={self.mask_overlap}, '
                f'coco_style={self.coco_style})')
