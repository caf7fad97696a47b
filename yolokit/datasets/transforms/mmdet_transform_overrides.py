"""MMDetection's RandomAffine, RandomFlip and Resize, with keypoint support.

Registered under the same names in yolokit's ``TRANSFORMS``, so with the
``yolokit`` default scope ``type='RandomFlip'`` (etc.) gets these, while
``type='mmdet.RandomFlip'`` still gets MMDetection's. Keypoints are yolokit's
``Keypoints`` structure (``flip_``, ``rescale_``, ``clip_``, ``project_``,
indexing); plain ``(N, K, >=2)`` arrays are handled for the flip and resize.
"""
import cv2
import mmcv
import numpy as np
from mmcv.image.geometric import _scale_size
from mmdet.datasets.transforms import RandomAffine as MMDET_RandomAffine
from mmdet.datasets.transforms import RandomFlip as MMDET_RandomFlip
from mmdet.datasets.transforms import Resize as MMDET_Resize
from mmdet.structures.bbox import autocast_box_type

from yolokit.registry import TRANSFORMS

__all__ = ['RandomAffine', 'RandomFlip', 'Resize']


@TRANSFORMS.register_module()
class RandomAffine(MMDET_RandomAffine):
    """MMDetection's ``RandomAffine`` that also warps ``gt_keypoints``.

    The image is warped by a random homography to ``img + 2 * border``
    (border in ``(w, h)``); boxes are projected, clipped when
    ``bbox_clip_border`` and dropped when outside the image; keypoints are
    projected, clipped alike and indexed with the boxes. Masks are not
    supported (``NotImplementedError``). ``img_shape`` is set to the full
    ``img.shape``.

    Args:
        **kwargs: MMDetection's ``RandomAffine`` arguments.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)

    @autocast_box_type()
    def transform(self, results: dict) -> dict:
        """Warp the image and its annotations.

        Args:
            results (dict): The result dict.

        Returns:
            dict: The result dict.
        """
        if 'gt_masks' in results:
            raise NotImplementedError(
                'RandomAffine only supports boxes (and keypoints), but the '
                'results have gt_masks; use YOLOv5RandomAffine for masks.')
        img = results['img']
        height = img.shape[0] + self.border[1] * 2
        width = img.shape[1] + self.border[0] * 2
        warp_matrix = self._get_random_homography_matrix(height, width)

        img = cv2.warpPerspective(
            img,
            warp_matrix,
            dsize=(width, height),
            borderValue=self.border_val)
        results['img'] = img
        results['img_shape'] = img.shape

        bboxes = results['gt_bboxes']
        if len(bboxes) == 0:
            return results
        bboxes.project_(warp_matrix)
        if self.bbox_clip_border:
            bboxes.clip_([height, width])
        valid = bboxes.is_inside([height, width]).numpy()
        results['gt_bboxes'] = bboxes[valid]
        for key in ('gt_bboxes_labels', 'gt_ignore_flags'):
            if key in results:
                results[key] = results[key][valid]

        keypoints = results.get('gt_keypoints', None)
        if keypoints is not None:
            keypoints.project_(warp_matrix)
            if self.bbox_clip_border:
                keypoints.clip_([height, width])
            results['gt_keypoints'] = keypoints[valid]
        return results


@TRANSFORMS.register_module()
class RandomFlip(MMDET_RandomFlip):
    """MMDetection's ``RandomFlip`` that also flips ``gt_keypoints``.

    A ``Keypoints`` structure swaps left/right points by its
    ``flip_indices``; a plain array only has its coordinates mirrored.

    Args:
        prob (float | list[float], optional): Flip probability.
        direction (str | list[str]): Flip direction(s): ``'horizontal'``,
            ``'vertical'`` or ``'diagonal'``. Defaults to ``'horizontal'``.
        swap_seg_labels (list, optional): Label pairs to swap in the seg
            map. Defaults to None.
    """

    @autocast_box_type()
    def _flip(self, results: dict) -> None:
        """Flip the image, boxes, keypoints, masks and seg map."""
        direction = results['flip_direction']
        results['img'] = mmcv.imflip(results['img'], direction=direction)
        img_shape = results['img'].shape[:2]

        if results.get('gt_bboxes', None) is not None:
            results['gt_bboxes'].flip_(img_shape, direction)

        keypoints = results.get('gt_keypoints', None)
        if keypoints is not None:
            if isinstance(keypoints, np.ndarray):
                results['gt_keypoints'] = self._flip_keypoints(
                    keypoints, img_shape, direction)
            else:
                keypoints.flip_(img_shape, direction)

        if results.get('gt_masks', None) is not None:
            results['gt_masks'] = results['gt_masks'].flip(direction)

        if results.get('gt_seg_map', None) is not None:
            results['gt_seg_map'] = mmcv.imflip(
                results['gt_seg_map'], direction=direction)

        self._record_homography_matrix(results)


@TRANSFORMS.register_module()
class Resize(MMDET_Resize):
    """MMDetection's ``Resize`` that also rescales ``gt_keypoints``.

    Keypoints are multiplied by ``scale_factor`` and clipped to the image
    when ``clip_object_border``.

    Args:
        scale (int | tuple[int, int], optional): Target size ``(w, h)``.
        scale_factor (float | tuple[float, float], optional): Scale factors.
        keep_ratio (bool): Keep the aspect ratio. Defaults to False.
        clip_object_border (bool): Clip objects to the image.
            Defaults to True.
        backend (str): ``'cv2'`` or ``'pillow'``. Defaults to ``'cv2'``.
        interpolation (str): Interpolation method. Defaults to
            ``'bilinear'``.
    """

    def _resize_keypoints(self, results: dict) -> None:
        keypoints = results.get('gt_keypoints', None)
        if keypoints is None:
            return
        if isinstance(keypoints, np.ndarray):
            super()._resize_keypoints(results)  # MMCV's array version
            return
        keypoints.rescale_(results['scale_factor'])
        if self.clip_object_border:
            keypoints.clip_(results['img_shape'][:2])

    @autocast_box_type()
    def transform(self, results: dict) -> dict:
        """Resize the image, boxes, keypoints, masks and seg map.

        Args:
            results (dict): The result dict.

        Returns:
            dict: The result dict with ``scale``, ``scale_factor``,
            ``img_shape``, ``keep_ratio`` and ``homography_matrix`` set.
        """
        if self.scale:
            results['scale'] = self.scale
        else:
            img_shape = results['img'].shape[:2]
            results['scale'] = _scale_size(img_shape[::-1], self.scale_factor)
        self._resize_img(results)
        self._resize_bboxes(results)
        self._resize_keypoints(results)
        self._resize_masks(results)
        self._resize_seg(results)
        self._record_homography_matrix(results)
        return results
