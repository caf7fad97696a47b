"""Annotation loading of the YOLO series: ignored instances are dropped."""
from typing import List, Tuple

import numpy as np
import torch
from mmdet.datasets.transforms import LoadAnnotations as MMDET_LoadAnnotations
from mmdet.structures.bbox import get_box_type
from mmdet.structures.mask import PolygonMasks

from yolokit.registry import TRANSFORMS

__all__ = ['LoadAnnotations']


@TRANSFORMS.register_module()
class LoadAnnotations(MMDET_LoadAnnotations):
    """Load boxes, labels, polygon masks, seg maps or keypoints.

    Unlike MMDetection's loader, instances with ``ignore_flag == 1`` are not
    loaded at all (YOLO models do not use ignored boxes, and dropping them
    early speeds up the pipeline), so ``gt_ignore_flags`` is all False.

    With ``with_mask=True`` only polygon masks are supported (bitmaps would
    cost too much memory). Polygons with an odd number of coordinates or
    fewer than 3 points are discarded; an instance left without polygons,
    or without a mask, is dropped with its box and label. The polygons of one
    instance are merged into one when ``merge_polygons`` is set.

    Args:
        mask2bbox (bool): Derive ``gt_bboxes`` from the polygon masks instead
            of the box annotations. Requires ``with_mask=True``.
            Defaults to False.
        poly2mask (bool): Convert polygons to bitmaps. Not supported; must be
            False. Defaults to False.
        merge_polygons (bool): Merge the polygons of an instance into one
            polygon, joined by thin lines between their closest points. This
            gives a simpler structure and faster training. Defaults to True.
        **kwargs: Arguments of MMDetection's ``LoadAnnotations``
            (``with_bbox``, ``with_label``, ``with_mask``, ``with_seg``,
            ``with_keypoints``, ``box_type``, ...).
    """

    def __init__(self,
                 mask2bbox: bool = False,
                 poly2mask: bool = False,
                 merge_polygons: bool = True,
                 **kwargs):
        assert not poly2mask, (
            'LoadAnnotations: poly2mask=True is not supported, because '
            'bitmap masks consume far more memory than polygons.')
        super().__init__(poly2mask=poly2mask, **kwargs)
        self.mask2bbox = mask2bbox
        self.merge_polygons = merge_polygons
        if self.mask2bbox:
            assert self.with_mask, (
                'LoadAnnotations: mask2bbox=True requires with_mask=True.')

    def transform(self, results: dict) -> dict:
        """Load the annotations of the non-ignored instances.

        Args:
            results (dict): Data info from the dataset.

        Returns:
            dict: ``results`` with ``gt_bboxes``, ``gt_bboxes_labels``,
            ``gt_ignore_flags`` and, as configured, ``gt_masks``,
            ``gt_seg_map`` or ``gt_keypoints``.
        """
        if self.with_keypoints and not self.mask2bbox:
            self._load_kps(results)
            _, box_type_cls = get_box_type(self.box_type or 'hbox')
            results['gt_bboxes'] = box_type_cls(
                results.get('bbox', []), dtype=torch.float32)
            return results

        instances = [
            instance for instance in results.get('instances', [])
            if instance['ignore_flag'] == 0
        ]
        if self.with_mask:
            instances, polygons = self._instances_with_polygons(instances)
            h, w = results['ori_shape'][:2]
            results['gt_masks'] = PolygonMasks(polygons, h, w)

        if self.mask2bbox:
            bboxes = results['gt_masks'].get_bboxes(dst_type='hbox')
            if self.box_type is None:
                bboxes = bboxes.numpy()
            results['gt_bboxes'] = bboxes
        elif self.with_bbox:
            results['gt_bboxes'] = self._boxes_of(instances)
        if self.with_bbox or self.with_mask:
            results['gt_ignore_flags'] = np.zeros(len(instances), dtype=bool)
        if self.with_label:
            results['gt_bboxes_labels'] = np.array(
                [instance['bbox_label'] for instance in instances],
                dtype=np.int64)
        if self.with_seg:
            self._load_seg_map(results)
        return results

    def _boxes_of(self, instances: List[dict]):
        boxes = [instance['bbox'] for instance in instances]
        if self.box_type is None:
            return np.array(boxes, dtype=np.float32).reshape((-1, 4))
        _, box_type_cls = get_box_type(self.box_type)
        return box_type_cls(boxes, dtype=torch.float32)

    def _instances_with_polygons(
            self, instances: List[dict]
    ) -> Tuple[List[dict], List[List[np.ndarray]]]:
        """Keep the instances that have at least one valid polygon."""
        kept, polygons = [], []
        for instance in instances:
            mask = instance.get('mask', None)
            if mask is None:
                continue
            if not isinstance(mask, list):
                raise NotImplementedError(
                    'LoadAnnotations only supports masks in polygon format '
                    f'(a list of coordinate lists), got {type(mask).__name__}'
                    ' (RLE masks are not supported).')
            valid = [
                np.array(polygon) for polygon in mask
                if len(polygon) % 2 == 0 and len(polygon) >= 6
            ]
            if not valid:
                continue
            if len(valid) > 1 and self.merge_polygons:
                valid = self.merge_multi_segment(valid)
            kept.append(instance)
            polygons.append(valid)
        return kept, polygons

    def merge_multi_segment(self,
                            gt_masks: List[np.ndarray]) -> List[np.ndarray]:
        """Merge the polygons of one instance into a single polygon.

        Consecutive polygons are joined at their closest pair of points by a
        zero-width "bridge" that is walked once in each direction: the outline
        goes forward through the first polygon and the first part of every
        middle polygon, around the last polygon, then back through the rest
        of every middle polygon.

        Args:
            gt_masks (list[np.ndarray]): Flat ``[x0, y0, x1, y1, ...]``
                coordinate arrays, as in COCO ``segmentation``.

        Returns:
            list[np.ndarray]: One flat coordinate array.
        """
        segments = [
            np.asarray(m, dtype=np.float64).reshape(-1, 2) for m in gt_masks
        ]
        n = len(segments)
        if n == 1:
            return [segments[0].reshape(-1)]
        # links[i] = [point joined to segment i - 1, point joined to i + 1]
        # (only one entry for the first and the last segment).
        links: List[List[int]] = [[] for _ in range(n)]
        for i in range(1, n):
            a, b = self.min_index(segments[i - 1], segments[i])
            links[i - 1].append(int(a))
            links[i].append(int(b))

        # Rotate every segment so it starts at its first link point (and
        # close it), making middle segments run forward from the "previous"
        # link to the "next" link.
        spans = [0] * n  # index of the "next" link in a middle segment
        for i in range(n):
            seg = segments[i]
            start = links[i][0]
            if 0 < i < n - 1:
                prev_link, next_link = links[i]
                if prev_link > next_link:
                    seg = seg[::-1]
                    prev_link = len(seg) - 1 - prev_link
                    next_link = len(seg) - 1 - next_link
                start = prev_link
                spans[i] = next_link - prev_link
            seg = np.roll(seg, -start, axis=0)
            segments[i] = np.concatenate([seg, seg[:1]])

        outline = [segments[0]]
        for i in range(1, n - 1):  # forward: previous link -> next link
            outline.append(segments[i][:spans[i] + 1])
        outline.append(segments[n - 1])
        for i in range(n - 2, 0, -1):  # back: next link -> around -> previous
            outline.append(segments[i][spans[i]:])
        return [np.concatenate(outline).reshape(-1)]

    @staticmethod
    def min_index(arr1: np.ndarray, arr2: np.ndarray) -> Tuple[int, int]:
        """Indices of the closest pair of points of two point sets.

        Args:
            arr1 (np.ndarray): Points, shape (N, 2).
            arr2 (np.ndarray): Points, shape (M, 2).

        Returns:
            tuple[int, int]: ``(i, j)`` minimising ``|arr1[i] - arr2[j]|``.
        """
        dist = ((arr1[:, None, :] - arr2[None, :, :])**2).sum(-1)
        i, j = np.unravel_index(np.argmin(dist, axis=None), dist.shape)
        return int(i), int(j)

    def _load_kps(self, results: dict) -> None:
        """Build ``gt_keypoints`` from MMPose-style data infos."""
        try:
            from .keypoint_structure import Keypoints
        except ImportError as e:
            raise ImportError(
                'LoadAnnotations(with_keypoints=True) needs '
                'yolokit.datasets.transforms.keypoint_structure.Keypoints'
            ) from e
        if 'flip_indices' not in results:
            raise KeyError(
                'LoadAnnotations(with_keypoints=True) needs "flip_indices" '
                f'in the data info; got keys {sorted(results)}')
        results['height'] = results['img_shape'][0]
        results['width'] = results['img_shape'][1]
        num_instances = len(results.get('bbox', []))
        if num_instances == 0:
            num_keypoints = len(results['flip_indices'])
            results['keypoints'] = np.empty((0, num_keypoints, 2),
                                            dtype=np.float32)
            results['keypoints_visible'] = np.empty((0, num_keypoints),
                                                    dtype=np.int32)
            results['category_id'] = []
        results['gt_keypoints'] = Keypoints(
            keypoints=results['keypoints'],
            keypoints_visible=results['keypoints_visible'],
            flip_indices=results['flip_indices'])
        results['gt_ignore_flags'] = np.zeros(num_instances, dtype=bool)
        results['gt_bboxes_labels'] = (
            np.array(results['category_id'], dtype=np.int64) - 1)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(with_bbox={self.with_bbox}, '
                f'with_label={self.with_label}, with_mask={self.with_mask}, '
                f'with_seg={self.with_seg}, '
                f'with_keypoints={self.with_keypoints}, '
                f'mask2bbox={self.mask2bbox}, poly2mask={self.poly2mask}, '
                f'merge_polygons={self.merge_polygons}, '
                f"imdecode_backend='{self.imdecode_backend}', "
                f'backend_args={self.backend_args})')
