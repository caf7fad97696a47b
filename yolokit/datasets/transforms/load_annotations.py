"""Annotation loading of the YOLO series: ignored instances are dropped."""
from typing import List, Tuple

import numpy as np
import torch
from mmdet.datasets.transforms import LoadAnnotations as MMDET_LoadAnnotations
from mmdet.structures.bbox import get_box_type
from mmdet.structures.mask import PolygonMasks

from yolokit.registry import TRANSFORMS
from .errors import TransformArgumentError
from .keypoint_structure import Keypoints

__all__ = ['LoadAnnotations']


@TRANSFORMS.register_module()
class LoadAnnotations(MMDET_LoadAnnotations):
    """Load boxes, labels, polygon masks, seg maps or keypoints.

    Instances flagged ``ignore_flag == 1`` are skipped altogether rather
    than loaded with a flag as MMDetection does: no YOLO head uses ignored
    boxes, and not carrying them through the pipeline saves time. So
    ``gt_ignore_flags`` comes out all False.

    With ``with_mask=True`` masks stay polygons (bitmaps of every instance
    would take far more memory). A polygon with an odd number of
    coordinates or fewer than 3 points is discarded, and an instance left
    with no polygon (or given no mask) is skipped with its box and label.

    With ``with_keypoints=True`` the data info is read in one of two forms:

    * MMPose style, as YOLOX-Pose's datasets give it: top-level ``bbox``
      ``(N, 4)``, ``keypoints`` ``(N, K, 2)``, ``keypoints_visible``
      ``(N, K)``, ``category_id`` (1-based) and ``img_shape``;
    * an ``instances`` list in COCO keypoint style: each instance has
      ``bbox``, ``bbox_label``, ``ignore_flag`` and ``keypoints``, either
      COCO's flat ``[x1, y1, v1, x2, y2, v2, ...]`` (``v`` 0: not
      labelled, 1: labelled but hidden, 2: visible; both 1 and 2 count as
      visible, as in MMPose) or ``K`` ``(x, y)`` pairs plus a
      ``keypoints_visible`` list of ``K``.

    Both need ``flip_indices`` (``K`` entries) in the data info, and give
    ``gt_keypoints`` (:class:`Keypoints`), ``gt_bboxes``,
    ``gt_bboxes_labels`` (0-based) and ``gt_ignore_flags``.

    Args:
        mask2bbox (bool): Derive ``gt_bboxes`` from the polygon masks instead
            of the box annotations. Requires ``with_mask=True``.
            Defaults to False.
        poly2mask (bool): Convert polygons to bitmaps. Not supported; must be
            False. Defaults to False.
        merge_polygons (bool): Join the polygons of an instance into a
            single outline (:meth:`merge_multi_segment`), which is lighter
            to carry and faster to train on. Defaults to True.
        **kwargs: Arguments of MMDetection's ``LoadAnnotations``
            (``with_bbox``, ``with_label``, ``with_mask``, ``with_seg``,
            ``with_keypoints``, ``box_type``, ...).
    """

    def __init__(self,
                 mask2bbox: bool = False,
                 poly2mask: bool = False,
                 merge_polygons: bool = True,
                 **kwargs):
        if poly2mask:
            raise TransformArgumentError(
                'LoadAnnotations: poly2mask=True is not supported, because '
                'bitmap masks consume far more memory than polygons.')
        super().__init__(poly2mask=poly2mask, **kwargs)
        self.mask2bbox = mask2bbox
        self.merge_polygons = merge_polygons
        if self.mask2bbox and not self.with_mask:
            raise TransformArgumentError(
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
            if 'instances' in results and 'keypoints' not in results:
                self._load_instance_kps(results)
            else:
                self._load_kps(results)
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
        """Keypoint annotations of an MMPose-style data info."""
        num_keypoints = len(self._flip_indices(results))
        results['height'] = results['img_shape'][0]
        results['width'] = results['img_shape'][1]
        num_instances = len(results.get('bbox', []))
        if num_instances == 0:
            results['keypoints'] = np.empty((0, num_keypoints, 2),
                                            dtype=np.float32)
            results['keypoints_visible'] = np.empty((0, num_keypoints),
                                                    dtype=np.int32)
            results['category_id'] = []
        results['gt_keypoints'] = Keypoints(
            keypoints=results['keypoints'],
            keypoints_visible=results['keypoints_visible'],
            flip_indices=results['flip_indices'])
        _, box_type_cls = get_box_type(self.box_type or 'hbox')
        results['gt_bboxes'] = box_type_cls(
            results.get('bbox', []), dtype=torch.float32)
        results['gt_ignore_flags'] = np.zeros(num_instances, dtype=bool)
        # MMPose's category ids start at 1
        results['gt_bboxes_labels'] = (
            np.array(results['category_id'], dtype=np.int64) - 1)

    def _load_instance_kps(self, results: dict) -> None:
        """Keypoint annotations of a COCO-keypoint-style instance list."""
        num_keypoints = len(self._flip_indices(results))
        kept = [(i, instance)
                for i, instance in enumerate(results['instances'])
                if instance['ignore_flag'] == 0]
        instances = [instance for _, instance in kept]
        xy = np.zeros((len(kept), num_keypoints, 2), dtype=np.float32)
        visible = np.zeros((len(kept), num_keypoints), dtype=np.float32)
        for row, (i, instance) in enumerate(kept):
            xy[row], visible[row] = _instance_keypoints(
                instance, i, num_keypoints)
        results['gt_keypoints'] = Keypoints(
            xy, visible, flip_indices=results['flip_indices'])
        results['gt_bboxes'] = self._boxes_of(instances)
        results['gt_ignore_flags'] = np.zeros(len(instances), dtype=bool)
        results['gt_bboxes_labels'] = np.array(
            [instance['bbox_label'] for instance in instances], dtype=np.int64)

    @staticmethod
    def _flip_indices(results: dict) -> list:
        if 'flip_indices' not in results:
            raise KeyError(
                'LoadAnnotations(with_keypoints=True) needs "flip_indices" '
                f'in the data info; got keys {sorted(results)}')
        return results['flip_indices']

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(with_bbox={self.with_bbox}, '
                f'with_label={self.with_label}, with_mask={self.with_mask}, '
                f'with_seg={self.with_seg}, '
                f'with_keypoints={self.with_keypoints}, '
                f'mask2bbox={self.mask2bbox}, poly2mask={self.poly2mask}, '
                f'merge_polygons={self.merge_polygons}, '
                f"imdecode_backend='{self.imdecode_backend}', "
                f'backend_args={self.backend_args})')


def _instance_keypoints(instance: dict, index: int,
                        num_keypoints: int) -> Tuple[np.ndarray, np.ndarray]:
    """``(K, 2)`` px and ``(K,)`` 0/1 visibility of ``instances[index]``,
    a COCO-style instance (see :class:`LoadAnnotations`)."""
    if 'keypoints' not in instance:
        raise KeyError(
            f'LoadAnnotations(with_keypoints=True): instances[{index}] has '
            f'no "keypoints" (its keys: {sorted(instance)})')
    flat = np.asarray(instance['keypoints'], dtype=np.float32).reshape(-1)
    has_visible = 'keypoints_visible' in instance
    per_point = 2 if has_visible else 3
    if flat.size != per_point * num_keypoints:
        layout = ('K (x, y) pairs plus keypoints_visible'
                  if has_visible else 'COCO (x, y, v) triples')
        raise TransformArgumentError(
            f'LoadAnnotations: instances[{index}] has {flat.size} keypoint '
            f'values, expected {per_point * num_keypoints} ({layout}, K = '
            f'{num_keypoints} = len(flip_indices))')
    points = flat.reshape(num_keypoints, per_point)
    if has_visible:
        visible = np.asarray(
            instance['keypoints_visible'], dtype=np.float32).reshape(-1)
        if visible.size != num_keypoints:
            raise TransformArgumentError(
                f'LoadAnnotations: instances[{index}] has {visible.size} '
                f'keypoints_visible values, expected K = {num_keypoints}')
    else:
        visible = points[:, 2]
    # COCO's v = 1 (labelled, occluded) is as usable a target as v = 2
    return points[:, :2], np.minimum(visible, 1)
