"""Letterbox resize: keep the aspect ratio, pad to a stride-friendly shape."""
import numbers
from typing import Tuple, Union

import mmcv
import numpy as np
from mmdet.datasets.transforms import Resize as MMDET_Resize
from mmdet.structures.bbox import autocast_box_type

from yolokit.registry import TRANSFORMS
from .errors import check_polygon_masks

__all__ = ['LetterResize']


@TRANSFORMS.register_module()
class LetterResize(MMDET_Resize):
    """Letterbox: fit the image into a target shape and pad the rest.

    The target shape is ``results['batch_shape']`` (h, w) when a
    :class:`~yolokit.datasets.BatchShapePolicy` set it, else ``scale``. The
    image is resized with its aspect ratio kept to fit the target, then
    padded evenly on both sides (top/left get the smaller half).

    Required Keys:

    - img (np.uint8)
    - batch_shape (np.int64) (optional)
    - gt_bboxes (BaseBoxes[torch.float32]) (optional)
    - gt_masks (PolygonMasks) (optional)
    - gt_seg_map (np.uint8) (optional)
    - gt_keypoints (Keypoints) (optional)

    Modified Keys:

    - img (np.uint8)
    - img_shape (tuple): the full ``img.shape``, e.g. ``(h, w, 3)``
    - gt_bboxes, gt_masks, gt_seg_map, gt_keypoints (optional)
    - scale, scale_factor (``(w_scale, h_scale)``, multiplied into the one
      of an earlier resize), keep_ratio, homography_matrix

    Added Keys:

    - pad_param (np.float32): ``[top, bottom, left, right]``; an earlier
      ``pad_param`` is rescaled by this step's ratio and added.

    Args:
        scale (int | tuple[int, int]): Target size ``(w, h)``.
        pad_val (dict | int | float): Padding values for ``'img'``,
            ``'mask'`` and ``'seg'``. A number is used for the image.
            Defaults to ``dict(img=0, mask=0, seg=255)``.
        use_mini_pad (bool): Pad each side only up to the next multiple of
            32 (the smallest stride-aligned rectangle) instead of up to the
            target shape. Defaults to False.
        stretch_only (bool): Resize straight to the target shape, ignoring
            the aspect ratio; no padding. Defaults to False.
        allow_scale_up (bool): Whether a ratio above 1 may enlarge the
            image; test pipelines set False, for a better mAP.
            Defaults to True.
        half_pad_param (bool): Record ``pad_param`` as the exact halves
            ``[ph/2, ph/2, pw/2, pw/2]``, which suit instance segmentation,
            rather than the integer paddings applied, which suit
            detection. Defaults to False.
        **kwargs: Other arguments of MMDetection's ``Resize``
            (``clip_object_border``, ``backend``, ``interpolation``).
            ``keep_ratio`` is always True.
    """

    def __init__(self,
                 scale: Union[int, Tuple[int, int]],
                 pad_val: dict = dict(img=0, mask=0, seg=255),
                 use_mini_pad: bool = False,
                 stretch_only: bool = False,
                 allow_scale_up: bool = True,
                 half_pad_param: bool = False,
                 **kwargs):
        kwargs.pop('keep_ratio', None)
        super().__init__(scale=scale, keep_ratio=True, **kwargs)
        if isinstance(pad_val, numbers.Number):
            pad_val = dict(img=pad_val, mask=0, seg=255)
        if not isinstance(pad_val, dict):
            raise TypeError('LetterResize: pad_val must be a dict like '
                            f'dict(img=0, mask=0, seg=255) or a number, got '
                            f'{type(pad_val).__name__}: {pad_val!r}')
        self.pad_val = pad_val
        self.use_mini_pad = use_mini_pad
        self.stretch_only = stretch_only
        self.allow_scale_up = allow_scale_up
        self.half_pad_param = half_pad_param

    def _letterbox_geometry(self, img_hw: Tuple[int, int],
                            target_hw: Tuple[int, int]) -> tuple:
        """Resized size, per-axis ratios and paddings for one image.

        Returns:
            tuple: ``(new_hw, (ratio_h, ratio_w), (pad_h, pad_w))``.
        """
        h, w = img_hw
        th, tw = target_hw
        ratio = min(th / h, tw / w)
        if not self.allow_scale_up:
            ratio = min(ratio, 1.0)
        ratios = (ratio, ratio)
        new_hw = (int(round(h * ratio)), int(round(w * ratio)))
        pad_h, pad_w = th - new_hw[0], tw - new_hw[1]
        if self.use_mini_pad:
            pad_h, pad_w = pad_h % 32, pad_w % 32
        elif self.stretch_only:
            pad_h, pad_w = 0, 0
            new_hw = (th, tw)
            ratios = (th / h, tw / w)
        return new_hw, ratios, (pad_h, pad_w)

    def _pad_value(self, key: str, img: np.ndarray, default):
        value = self.pad_val.get(key, default)
        if isinstance(value, numbers.Number) and img.ndim == 3:
            value = tuple(value for _ in range(img.shape[2]))
        return value

    @autocast_box_type()
    def transform(self, results: dict) -> dict:
        """Letterbox the image and its annotations.

        Args:
            results (dict): Result dict with at least ``'img'``.

        Returns:
            dict: The updated result dict.
        """
        img = results.get('img', None)
        if img is None:
            return results
        if 'batch_shape' in results:
            target_hw = tuple(int(v) for v in results['batch_shape'])
        else:
            target_hw = (self.scale[1], self.scale[0])  # (w, h) -> (h, w)
        results['scale'] = self.scale

        img_hw = img.shape[:2]
        geometry = self._letterbox_geometry(img_hw, target_hw)
        new_hw, ratios, (pad_h, pad_w) = geometry
        if tuple(img_hw) != new_hw:
            img = mmcv.imresize(
                img, (new_hw[1], new_hw[0]),
                interpolation=self.interpolation,
                backend=self.backend)
        step_factor = (new_hw[1] / img_hw[1], new_hw[0] / img_hw[0])  # (w, h)

        top = int(pad_h // 2)
        left = int(pad_w // 2)
        bottom, right = int(pad_h - top), int(pad_w - left)
        if top or bottom or left or right:
            img = mmcv.impad(
                img,
                padding=(left, top, right, bottom),
                pad_val=self._pad_value('img', img, 0),
                padding_mode='constant')
        results['img'] = img
        results['img_shape'] = img.shape
        results['keep_ratio'] = True

        if self.half_pad_param:
            pad_param = np.array([pad_h / 2, pad_h / 2, pad_w / 2, pad_w / 2],
                                 dtype=np.float32)
        else:
            # Integer paddings give a higher detection mAP (MMYOLO's finding).
            pad_param = np.array([top, bottom, left, right], dtype=np.float32)
        if 'pad_param' in results:
            # Padding of an earlier letterbox, expressed in this step's scale.
            previous = np.asarray(results['pad_param'], dtype=np.float32)
            pad_param = pad_param + previous * np.repeat(
                np.asarray(ratios, dtype=np.float32), 2)
        results['pad_param'] = pad_param

        if 'scale_factor' in results:
            old = results['scale_factor']
            results['scale_factor'] = (step_factor[0] * old[0],
                                       step_factor[1] * old[1])
        else:
            results['scale_factor'] = step_factor

        self._letterbox_bboxes(results, step_factor, (left, top))
        self._letterbox_masks(results, new_hw, (left, top))
        self._letterbox_seg(results, new_hw, (left, top, right, bottom))
        self._letterbox_keypoints(results, step_factor, (left, top))
        self._record_letterbox_homography(results, step_factor, (left, top))
        return results

    def _letterbox_bboxes(self, results: dict, factor: Tuple[float, float],
                          offset: Tuple[int, int]) -> None:
        bboxes = results.get('gt_bboxes', None)
        if bboxes is None:
            return
        bboxes.rescale_(factor)
        bboxes.translate_(offset)
        if self.clip_object_border:
            bboxes.clip_(results['img_shape'][:2])

    def _letterbox_masks(self, results: dict, new_hw: Tuple[int, int],
                         offset: Tuple[int, int]) -> None:
        masks = results.get('gt_masks', None)
        if masks is None:
            return
        check_polygon_masks(masks, 'LetterResize')
        masks = masks.resize(new_hw)
        out_shape = results['img_shape'][:2]
        left, top = offset
        # translate() also sets the output canvas size, so always call it
        # once, even with zero offsets.
        masks = masks.translate(out_shape, left, direction='horizontal')
        if top:
            masks = masks.translate(out_shape, top, direction='vertical')
        results['gt_masks'] = masks

    def _letterbox_seg(self, results: dict, new_hw: Tuple[int, int],
                       padding: Tuple[int, int, int, int]) -> None:
        seg = results.get('gt_seg_map', None)
        if seg is None:
            return
        if tuple(seg.shape[:2]) != new_hw:
            seg = mmcv.imresize(
                seg, (new_hw[1], new_hw[0]),
                interpolation='nearest',
                backend=self.backend)
        if any(padding):
            seg = mmcv.impad(
                seg,
                padding=padding,
                pad_val=self._pad_value('seg', seg, 255),
                padding_mode='constant')
        results['gt_seg_map'] = seg

    def _letterbox_keypoints(self, results: dict, factor: Tuple[float, float],
                             offset: Tuple[int, int]) -> None:
        keypoints = results.get('gt_keypoints', None)
        if keypoints is None:
            return
        img_h, img_w = results['img_shape'][:2]
        if isinstance(keypoints, np.ndarray):  # MMCV layout (N, K, >=2)
            keypoints[..., 0] = keypoints[..., 0] * factor[0] + offset[0]
            keypoints[..., 1] = keypoints[..., 1] * factor[1] + offset[1]
            if self.clip_object_border:
                keypoints[..., 0] = np.clip(keypoints[..., 0], 0, img_w)
                keypoints[..., 1] = np.clip(keypoints[..., 1], 0, img_h)
            return
        keypoints.rescale_(factor)
        keypoints.translate_(offset)
        if self.clip_object_border:
            keypoints.clip_((img_h, img_w))

    @staticmethod
    def _record_letterbox_homography(results: dict, factor: Tuple[float,
                                                                  float],
                                     offset: Tuple[int, int]) -> None:
        matrix = np.array(
            [[factor[0], 0, offset[0]], [0, factor[1], offset[1]], [0, 0, 1]],
            dtype=np.float32)
        previous = results.get('homography_matrix', None)
        results['homography_matrix'] = (
            matrix if previous is None else matrix @ previous)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scale}, '
                f'pad_val={self.pad_val}, use_mini_pad={self.use_mini_pad}, '
                f'stretch_only={self.stretch_only}, '
                f'allow_scale_up={self.allow_scale_up}, '
                f'half_pad_param={self.half_pad_param}, '
                f'clip_object_border={self.clip_object_border}, '
                f'backend={self.backend}, '
                f'interpolation={self.interpolation})')
