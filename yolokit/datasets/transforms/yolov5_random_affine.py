"""YOLOv5/YOLOv8 random affine (perspective) warp with box filtering."""
import math
from typing import Tuple

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmdet.structures.bbox import HorizontalBoxes, autocast_box_type
from mmdet.structures.mask import PolygonMasks

from yolokit.registry import TRANSFORMS
from .errors import (TransformArgumentError, check_polygon_masks,
                     check_ratio_range)

__all__ = ['YOLOv5RandomAffine']


def _translation_matrix(x: float, y: float) -> np.ndarray:
    return np.array([[1., 0., x], [0., 1., y], [0., 0., 1.]], dtype=np.float32)


def _scaling_matrix(ratio: float) -> np.ndarray:
    return np.array([[ratio, 0., 0.], [0., ratio, 0.], [0., 0., 1.]],
                    dtype=np.float32)


def _rotation_matrix(degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array([[c, -s, 0.], [s, c, 0.], [0., 0., 1.]], dtype=np.float32)


def _shear_matrix(x_degrees: float, y_degrees: float) -> np.ndarray:
    return np.array(
        [[1., math.tan(math.radians(x_degrees)), 0.],
         [math.tan(math.radians(y_degrees)), 1., 0.], [0., 0., 1.]],
        dtype=np.float32)


@TRANSFORMS.register_module()
class YOLOv5RandomAffine(BaseTransform):
    """Warp the image by a random rotation, scale, shear and translation,
    the way YOLOv5 and YOLOv8 do it (YOLOX's ``RandomAffine`` differs).

    The warp is ``M = T @ Sh @ R @ S @ C``: ``C`` moves the input's centre
    to the origin, ``S`` scales by ``s ~ U(scaling_ratio_range)``, ``R``
    rotates by ``U(+-max_rotate_degree)``, ``Sh`` shears by the tangents of
    two ``U(+-max_shear_degree)`` angles and ``T`` moves the origin to
    ``U(0.5 +- max_translate_ratio) * (width, height)`` of the output, which
    is ``border`` larger than the input on every side (``border=(-320,
    -320)`` shrinks a 1280 Mosaic back to 640).

    With ``gt_masks`` the boxes are rebuilt from the warped polygons, which
    fit a rotated object far better than the warped corners of its old box,
    and all polygons of an object count (COCO splits occluded objects into
    several). Without masks the box corners are warped. Boxes are then
    clipped and kept only if wider and taller than ``min_bbox_size``, with
    an area above ``min_area_ratio`` of the ``s``-scaled original and an
    aspect ratio below ``max_aspect_ratio``.

    Required Keys:

    - img
    - gt_bboxes (BaseBoxes[torch.float32]) (optional)
    - gt_bboxes_labels (np.int64) (optional)
    - gt_ignore_flags (bool) (optional)
    - gt_masks (PolygonMasks) (optional)
    - gt_keypoints (Keypoints) (optional)

    Modified Keys:

    - img
    - img_shape
    - gt_bboxes (optional)
    - gt_bboxes_labels (optional)
    - gt_ignore_flags (optional)
    - gt_masks (optional)
    - gt_keypoints (optional)

    Args:
        max_rotate_degree (float): Maximum rotation, in degrees.
            Defaults to 10.0.
        max_translate_ratio (float): Maximum translation ratio.
            Defaults to 0.1.
        scaling_ratio_range (Tuple[float, float]): Range of the scale.
            Defaults to (0.5, 1.5).
        max_shear_degree (float): Maximum shear, in degrees.
            Defaults to 2.0.
        border (Tuple[int, int]): ``(width, height)`` added on each side of
            the input to get the output size. Defaults to (0, 0).
        border_val (Tuple[int, int, int]): Fill value of the border.
            Defaults to (114, 114, 114).
        bbox_clip_border (bool): Clip boxes (and polygons, keypoints) to the
            output. Defaults to True.
        min_bbox_size (int): Boxes must be wider and taller than this.
            Defaults to 2.
        min_area_ratio (float): Warped box area over the scaled original
            area must exceed this. Defaults to 0.1.
        use_mask_refine (bool): Deprecated; masks are used whenever present.
            Defaults to False.
        max_aspect_ratio (float): ``max(w/h, h/w)`` must be below this.
            Defaults to 20.0.
        resample_num (int): Number of points each polygon is resampled to
            before warping. Defaults to 1000.
    """

    def __init__(self,
                 max_rotate_degree: float = 10.0,
                 max_translate_ratio: float = 0.1,
                 scaling_ratio_range: Tuple[float, float] = (0.5, 1.5),
                 max_shear_degree: float = 2.0,
                 border: Tuple[int, int] = (0, 0),
                 border_val: Tuple[int, int, int] = (114, 114, 114),
                 bbox_clip_border: bool = True,
                 min_bbox_size: int = 2,
                 min_area_ratio: float = 0.1,
                 use_mask_refine: bool = False,
                 max_aspect_ratio: float = 20.,
                 resample_num: int = 1000):
        if not 0 <= max_translate_ratio <= 1:
            raise TransformArgumentError(
                'YOLOv5RandomAffine: max_translate_ratio must be in [0, 1], '
                f'got {max_translate_ratio!r}')
        check_ratio_range(
            scaling_ratio_range, 'scaling_ratio_range', allow_zero=False)
        self.max_rotate_degree = max_rotate_degree
        self.max_translate_ratio = max_translate_ratio
        self.scaling_ratio_range = scaling_ratio_range
        self.max_shear_degree = max_shear_degree
        self.border = border
        self.border_val = border_val
        self.bbox_clip_border = bbox_clip_border
        self.min_bbox_size = min_bbox_size
        self.min_area_ratio = min_area_ratio
        # Kept for config compatibility only: masks always refine boxes.
        self.use_mask_refine = use_mask_refine
        self.max_aspect_ratio = max_aspect_ratio
        self.resample_num = resample_num

    @cache_randomness
    def _get_random_homography_matrix(self, height: int,
                                      width: int) -> Tuple[np.ndarray, float]:
        """Draw ``T @ Sh @ R @ S`` for an output of ``(height, width)``.

        Returns:
            Tuple[np.ndarray, float]: The matrix and the scaling ratio.
        """
        rotation = np.random.uniform(-self.max_rotate_degree,
                                     self.max_rotate_degree)
        scaling_ratio = np.random.uniform(*self.scaling_ratio_range)
        shear_x = np.random.uniform(-self.max_shear_degree,
                                    self.max_shear_degree)
        shear_y = np.random.uniform(-self.max_shear_degree,
                                    self.max_shear_degree)
        trans_x = np.random.uniform(0.5 - self.max_translate_ratio,
                                    0.5 + self.max_translate_ratio) * width
        trans_y = np.random.uniform(0.5 - self.max_translate_ratio,
                                    0.5 + self.max_translate_ratio) * height
        warp_matrix = (
            _translation_matrix(trans_x, trans_y) @ _shear_matrix(
                shear_x, shear_y) @ _rotation_matrix(rotation)
            @ _scaling_matrix(scaling_ratio))
        return warp_matrix, scaling_ratio

    @autocast_box_type()
    def transform(self, results: dict) -> dict:
        """Warp the image and its annotations.

        Args:
            results (dict): The result dict.

        Returns:
            dict: The result dict.
        """
        img = results['img']
        in_h, in_w = img.shape[:2]
        height = in_h + 2 * self.border[1]
        width = in_w + 2 * self.border[0]
        if height <= 0 or width <= 0:
            raise TransformArgumentError(
                f'YOLOv5RandomAffine: border={self.border} leaves no output '
                f'for an input of (h, w)=({in_h}, {in_w}).')

        warp_matrix, scaling_ratio = self._get_random_homography_matrix(
            height, width)
        warp_matrix = warp_matrix @ _translation_matrix(-in_w / 2, -in_h / 2)

        img = cv2.warpPerspective(
            img,
            warp_matrix,
            dsize=(width, height),
            borderValue=self.border_val)
        results['img'] = img
        results['img_shape'] = img.shape[:2]

        bboxes = results.get('gt_bboxes', None)
        if bboxes is None:
            return results
        if len(bboxes) == 0:
            if 'gt_masks' in results:
                results['gt_masks'] = PolygonMasks([], height, width)
            return results

        orig_bboxes = bboxes.clone()
        orig_bboxes.rescale_([scaling_ratio, scaling_ratio])
        if 'gt_masks' in results:
            gt_masks = results['gt_masks']
            check_polygon_masks(gt_masks, 'YOLOv5RandomAffine')
            gt_masks = self.warp_mask(
                self.resample_masks(gt_masks), warp_matrix, width, height)
            # The boxes of the warped outlines fit the objects far better
            # than the warped corners of the old boxes.
            bboxes = self.segment2box(gt_masks, height, width)
            valid = self.filter_gt_bboxes(orig_bboxes, bboxes).numpy()
            if self.bbox_clip_border:
                bboxes.clip_([height - 1e-3, width - 1e-3])
                gt_masks = self.clip_polygons(gt_masks, height, width)
            results['gt_masks'] = gt_masks[valid]
        else:
            bboxes.project_(warp_matrix)
            if self.bbox_clip_border:
                bboxes.clip_([height, width])
            # numpy, not a tensor: a 1-element bool tensor would index as 0/1
            valid = self.filter_gt_bboxes(orig_bboxes, bboxes).numpy()

        results['gt_bboxes'] = bboxes[valid]
        for key in ('gt_bboxes_labels', 'gt_ignore_flags'):
            if key in results:
                results[key] = results[key][valid]
        if 'gt_keypoints' in results:
            kps = results['gt_keypoints']
            kps.project_(warp_matrix)
            if self.bbox_clip_border:
                kps.clip_([height, width])
            results['gt_keypoints'] = kps[valid]
        return results

    def filter_gt_bboxes(self, origin_bboxes: HorizontalBoxes,
                         wrapped_bboxes: HorizontalBoxes) -> torch.Tensor:
        """Keep mask of the warped boxes.

        Args:
            origin_bboxes (HorizontalBoxes): The original boxes, already
                scaled by the warp's scaling ratio.
            wrapped_bboxes (HorizontalBoxes): The warped boxes.

        Returns:
            torch.Tensor: Bool keep mask: width and height above
            ``min_bbox_size``, area ratio above ``min_area_ratio`` and
            aspect ratio below ``max_aspect_ratio``.
        """
        origin_w, origin_h = origin_bboxes.widths, origin_bboxes.heights
        w, h = wrapped_bboxes.widths, wrapped_bboxes.heights
        aspect_ratio = torch.maximum(w / (h + 1e-16), h / (w + 1e-16))
        wh_valid = (w > self.min_bbox_size) & (h > self.min_bbox_size)
        area_valid = w * h / (origin_w * origin_h +
                              1e-16) > self.min_area_ratio
        aspect_valid = aspect_ratio < self.max_aspect_ratio
        return wh_valid & area_valid & aspect_valid

    def resample_masks(self, gt_masks: PolygonMasks) -> PolygonMasks:
        """Resample every polygon to ``resample_num`` points.

        The polygon is closed (its first point appended) and linearly
        interpolated at ``resample_num`` evenly spaced positions along its
        vertex sequence.

        Args:
            gt_masks (PolygonMasks): Polygons of shape ``(2n,)``.

        Returns:
            PolygonMasks: Polygons of shape ``(2 * resample_num,)``.
        """
        new_masks = []
        for poly_per_obj in gt_masks.masks:
            new_polys = []
            for poly in poly_per_obj:
                xy = poly.reshape(-1, 2)
                xy = np.concatenate([xy, xy[:1]], axis=0)
                at = np.linspace(0, len(xy) - 1, self.resample_num)
                vertex = np.arange(len(xy))
                resampled = np.stack(
                    [np.interp(at, vertex, xy[:, i]) for i in range(2)],
                    axis=1)
                new_polys.append(resampled.reshape(-1))
            new_masks.append(new_polys)
        return PolygonMasks(new_masks, gt_masks.height, gt_masks.width)

    @staticmethod
    def warp_poly(poly: np.ndarray, warp_matrix: np.ndarray, img_w: int,
                  img_h: int) -> np.ndarray:
        """Warp one flat ``(x1, y1, x2, y2, ...)`` polygon.

        Args:
            poly (np.ndarray): Polygon of shape ``(2n,)``.
            warp_matrix (np.ndarray): 3x3 homography.
            img_w (int): Output width (unused; points outside are dealt
                with later by :meth:`segment2box` and clipping).
            img_h (int): Output height (unused, as ``img_w``).

        Returns:
            np.ndarray: The warped polygon, shape ``(2n,)``.
        """
        xy = poly.reshape(-1, 2)
        xyz = np.concatenate([xy, np.ones((len(xy), 1), dtype=xy.dtype)],
                             axis=1) @ warp_matrix.T
        return (xyz[:, :2] / xyz[:, 2:3]).reshape(-1)

    def warp_mask(self, gt_masks: PolygonMasks, warp_matrix: np.ndarray,
                  img_w: int, img_h: int) -> PolygonMasks:
        """Warp all polygons into an ``(img_h, img_w)`` output.

        Args:
            gt_masks (PolygonMasks): The polygons.
            warp_matrix (np.ndarray): 3x3 homography.
            img_w (int): Output width.
            img_h (int): Output height.

        Returns:
            PolygonMasks: The warped polygons. An object left without any
            polygon gets a 6-zero one, whose empty box is filtered later.
        """
        new_masks = []
        for poly_per_obj in gt_masks.masks:
            warped = [
                p for p in (self.warp_poly(poly, warp_matrix, img_w, img_h)
                            for poly in poly_per_obj) if len(p)
            ]
            if not warped:
                dtype = poly_per_obj[0].dtype if len(
                    poly_per_obj) else np.float64
                warped = [np.zeros(6, dtype=dtype)]
            new_masks.append(warped)
        return PolygonMasks(new_masks, img_h, img_w)

    def segment2box(self, gt_masks: PolygonMasks, height: int,
                    width: int) -> HorizontalBoxes:
        """One box per object from its polygon points inside the image.

        Args:
            gt_masks (PolygonMasks): The (warped) polygons.
            height (int): Image height.
            width (int): Image width.

        Returns:
            HorizontalBoxes: float32 boxes; ``[0, 0, 0, 0]`` for an object
            without any point inside the image.
        """
        boxes = np.zeros((len(gt_masks), 4), dtype=np.float32)
        for i, poly_per_obj in enumerate(gt_masks.masks):
            points = [
                np.asarray(p, dtype=np.float32).reshape(-1, 2)
                for p in poly_per_obj
            ]
            if not points:
                continue
            xy = np.concatenate(points, axis=0)
            inside = ((xy[:, 0] >= 0) & (xy[:, 1] >= 0) & (xy[:, 0] <= width) &
                      (xy[:, 1] <= height))
            xy = xy[inside]
            if len(xy):
                boxes[i, :2] = xy.min(axis=0)
                boxes[i, 2:] = xy.max(axis=0)
        return HorizontalBoxes(boxes)

    def clip_polygons(self, gt_masks: PolygonMasks, height: int,
                      width: int) -> PolygonMasks:
        """Clip polygon points to ``[0, width] x [0, height]``.

        Args:
            gt_masks (PolygonMasks): The polygons.
            height (int): Clip height.
            width (int): Clip width.

        Returns:
            PolygonMasks: The clipped polygons (empty if the input is).
        """
        clipped = []
        for poly_per_obj in gt_masks.masks:
            polys = []
            for p in poly_per_obj:
                p = p.copy()
                p[0::2] = p[0::2].clip(0, width)
                p[1::2] = p[1::2].clip(0, height)
                polys.append(p)
            clipped.append(polys)
        return PolygonMasks(clipped, height, width)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}('
                f'max_rotate_degree={self.max_rotate_degree}, '
                f'max_translate_ratio={self.max_translate_ratio}, '
                f'scaling_ratio_range={self.scaling_ratio_range}, '
                f'max_shear_degree={self.max_shear_degree}, '
                f'border={self.border}, border_val={self.border_val}, '
                f'bbox_clip_border={self.bbox_clip_border})')
