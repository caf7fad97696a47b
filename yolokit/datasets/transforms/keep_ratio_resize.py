"""YOLOv5's aspect-ratio-keeping resize of the test pipeline."""
import numbers
from typing import Sequence, Tuple, Union

import mmcv
from mmdet.datasets.transforms import Resize as MMDET_Resize

from yolokit.registry import TRANSFORMS
from .errors import TransformArgumentError

__all__ = ['YOLOv5KeepRatioResize']


def _check_keep_ratio(keep_ratio: object) -> None:
    if keep_ratio is not True:
        raise TransformArgumentError(
            'YOLOv5KeepRatioResize only supports keep_ratio=True, got '
            f'{keep_ratio!r}')


@TRANSFORMS.register_module()
class YOLOv5KeepRatioResize(MMDET_Resize):
    """Keep-ratio resize of YOLOv5's test pipeline, with its
    interpolation choice.

    The ratio is ``min(max(scale) / max(h, w), min(scale) / min(h, w))``;
    the new size is ``(int(w * ratio), int(h * ratio))``. Shrinking uses
    ``'area'`` interpolation and enlarging ``'bilinear'``, as in YOLOv5, so
    the configured ``interpolation`` is not used for the image. Boxes, masks
    and the seg map follow the image.

    Required Keys:

    - img (np.uint8)
    - gt_bboxes (BaseBoxes[torch.float32]) (optional)

    Modified Keys:

    - img (np.uint8)
    - img_shape (tuple): ``(h, w)``
    - gt_bboxes, gt_masks, gt_seg_map (optional)
    - scale

    Added Keys:

    - scale_factor: ``(w_scale, h_scale)``
    - keep_ratio, homography_matrix

    Args:
        scale (int | tuple[int, int]): Target size ``(w, h)``; the image
            fits into it.
        keep_ratio (bool): Must be True. Defaults to True.
        **kwargs: Other arguments of MMDetection's ``Resize``.
    """

    def __init__(self,
                 scale: Union[int, Tuple[int, int]],
                 keep_ratio: bool = True,
                 **kwargs):
        _check_keep_ratio(keep_ratio)
        super().__init__(scale=scale, keep_ratio=True, **kwargs)

    @staticmethod
    def _get_rescale_ratio(old_size: Tuple[int, int],
                           scale: Union[float, Sequence[int]]) -> float:
        """The resize ratio of an image of size ``old_size``.

        Args:
            old_size (tuple[int, int]): Size of the image; the order does not
                matter.
            scale (float | Sequence[int]): A number is the ratio itself; a
                pair is the size to fit into.

        Returns:
            float: The ratio.
        """
        if isinstance(scale, numbers.Number):
            if scale <= 0:
                raise TransformArgumentError(
                    f'Invalid scale {scale}, it must be positive.')
            return scale
        if isinstance(scale, (tuple, list)) and len(scale) == 2:
            long_edge, short_edge = max(old_size), min(old_size)
            return min(max(scale) / long_edge, min(scale) / short_edge)
        raise TypeError('scale must be a number or a tuple of 2 ints, got '
                        f'{type(scale).__name__}: {scale!r}')

    def _resize_img(self, results: dict) -> None:
        _check_keep_ratio(self.keep_ratio)  # the attribute may be reset
        img = results.get('img', None)
        if img is None:
            return
        h, w = img.shape[:2]
        ratio = self._get_rescale_ratio((h, w), self.scale)
        if ratio != 1:
            img = mmcv.imresize(
                img, (int(w * ratio), int(h * ratio)),
                interpolation='area' if ratio < 1 else 'bilinear',
                backend=self.backend)
        new_h, new_w = img.shape[:2]
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['scale_factor'] = (new_w / w, new_h / h)
        results['keep_ratio'] = True

    def _resize_masks(self, results: dict) -> None:
        # To the exact image size: rescaling by ``scale`` again could round
        # differently from ``int(w * ratio)`` and be one pixel off.
        if results.get('gt_masks', None) is not None:
            results['gt_masks'] = results['gt_masks'].resize(
                results['img_shape'][:2])

    def _resize_seg(self, results: dict) -> None:
        seg = results.get('gt_seg_map', None)
        if seg is not None:
            h, w = results['img_shape'][:2]
            results['gt_seg_map'] = mmcv.imresize(
                seg, (w, h), interpolation='nearest', backend=self.backend)
