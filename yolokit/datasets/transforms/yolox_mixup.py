"""YOLOX's MixUp: a jittered, maybe flipped partner image averaged in."""
from typing import Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmengine.dataset import BaseDataset

from yolokit.registry import TRANSFORMS
from .base_mix_image_transform import BaseMixImageTransform, check_img_scale

__all__ = ['YOLOXMixUp']


@TRANSFORMS.register_module()
class YOLOXMixUp(BaseMixImageTransform):
    """MixUp data augmentation for YOLOX.

    .. code:: text

                         mixup transform
                +---------------+--------------+
                | mixup image   |              |
                |      +--------|--------+     |
                |      |        |        |     |
                +---------------+        |     |
                |      |                 |     |
                |      |      image      |     |
                |      |                 |     |
                |      |                 |     |
                |      +-----------------+     |
                |             pad              |
                +------------------------------+

    The partner image is resized, keeping its ratio, into the top-left of
    an ``img_scale`` canvas filled with ``pad_val``; the canvas is scaled by
    ``jit ~ U(ratio_range)``, flipped horizontally when ``U(0, 1) >
    flip_ratio``, padded to at least the current image's size and randomly
    cropped to it. The output is the 0.5/0.5 average of the two images; the
    partner's boxes (moved the same way) are appended to the current ones.

    Required Keys:

    - img
    - gt_bboxes (BaseBoxes[torch.float32]) (optional)
    - gt_bboxes_labels (np.int64) (optional)
    - gt_ignore_flags (bool) (optional)
    - gt_keypoints (Keypoints) (optional)
    - mix_results (List[dict])

    Modified Keys:

    - img
    - img_shape
    - gt_bboxes (optional)
    - gt_bboxes_labels (optional)
    - gt_ignore_flags (optional)
    - gt_keypoints (optional)

    Args:
        img_scale (Tuple[int, int]): Canvas size for the partner image, in
            ``(width, height)``. Defaults to (640, 640).
        ratio_range (Tuple[float, float]): Range of the scale jitter of the
            partner image. Defaults to (0.5, 1.5).
        flip_ratio (float): Horizontal-flip threshold of the partner image.
            Defaults to 0.5.
        pad_val (float): Fill value. Defaults to 114.0.
        bbox_clip_border (bool): Clip the partner's boxes (and keypoints) to
            the output; if False, boxes not inside it are removed instead.
            Defaults to True.
        pre_transform (Sequence[dict], optional): Transforms run on the
            loaded partner image. Defaults to None.
        prob (float): Probability of applying the transform.
            Defaults to 1.0.
        use_cached (bool): Draw the partner from a cache. Defaults to False.
        max_cached_images (int): Maximum cache length. Defaults to 20.
        random_pop (bool): Pop a random cache entry when full; FIFO if
            False. Defaults to True.
        max_refetch (int): Retries when the pre_transform returns None.
            Defaults to 15.
    """

    min_cached_images = 2

    def __init__(self,
                 img_scale: Tuple[int, int] = (640, 640),
                 ratio_range: Tuple[float, float] = (0.5, 1.5),
                 flip_ratio: float = 0.5,
                 pad_val: float = 114.0,
                 bbox_clip_border: bool = True,
                 pre_transform: Optional[Sequence[dict]] = None,
                 prob: float = 1.0,
                 use_cached: bool = False,
                 max_cached_images: int = 20,
                 random_pop: bool = True,
                 max_refetch: int = 15):
        img_scale = check_img_scale(img_scale)
        if not (len(ratio_range) == 2
                and 0 < ratio_range[0] <= ratio_range[1]):
            raise ValueError('ratio_range must be (low, high) with '
                             f'0 < low <= high, got {ratio_range}')
        super().__init__(
            pre_transform=pre_transform,
            prob=prob,
            use_cached=use_cached,
            max_cached_images=max_cached_images,
            random_pop=random_pop,
            max_refetch=max_refetch)
        self.img_scale = img_scale
        self.ratio_range = ratio_range
        self.flip_ratio = flip_ratio
        self.pad_val = pad_val
        self.bbox_clip_border = bbox_clip_border

    def get_indexes(self, dataset: Union[BaseDataset, list]) -> int:
        """One random index in ``[0, len(dataset))``.

        Args:
            dataset (BaseDataset | list): The dataset or the cache.

        Returns:
            int: The index.
        """
        return np.random.randint(0, len(dataset))

    def mix_img_transform(self, results: dict) -> dict:
        """Mix ``results`` with its single ``mix_results`` entry.

        Args:
            results (dict): Result dict holding one ``mix_results`` entry.

        Returns:
            dict: The updated result dict (unchanged if the partner has no
            boxes).
        """
        if len(results.get('mix_results', [])) != 1:
            raise AssertionError('MixUp only support 2 images now! Got '
                                 f"{len(results.get('mix_results', []))} "
                                 'mix_results.')
        other = results['mix_results'][0]
        name = type(self).__name__
        other_boxes = self._require(other, 'gt_bboxes', name, 1)
        if other_boxes.shape[0] == 0:
            return results
        other_img = other['img']

        jit_factor = np.random.uniform(*self.ratio_range)
        is_flip = np.random.uniform(0, 1) > self.flip_ratio

        # 1. keep-ratio resize into the top-left of an img_scale canvas
        canvas_w, canvas_h = self.img_scale
        canvas = np.full((canvas_h, canvas_w, *other_img.shape[2:]),
                         self.pad_val,
                         dtype=other_img.dtype)
        scale_ratio = min(canvas_h / other_img.shape[0],
                          canvas_w / other_img.shape[1])
        other_img = mmcv.imresize(other_img,
                                  (int(other_img.shape[1] * scale_ratio),
                                   int(other_img.shape[0] * scale_ratio)))
        canvas[:other_img.shape[0], :other_img.shape[1]] = other_img

        # 2. scale jitter and flip of the whole canvas
        scale_ratio *= jit_factor
        canvas = mmcv.imresize(canvas, (int(
            canvas.shape[1] * jit_factor), int(canvas.shape[0] * jit_factor)))
        if is_flip:
            canvas = canvas[:, ::-1]

        # 3. pad to at least the current image's size, then random crop
        ori_img = results['img']
        origin_h, origin_w = canvas.shape[:2]
        target_h, target_w = ori_img.shape[:2]
        padded = np.full((max(origin_h, target_h), max(
            origin_w, target_w), *canvas.shape[2:]),
                         self.pad_val,
                         dtype=canvas.dtype)
        padded[:origin_h, :origin_w] = canvas
        x_offset = y_offset = 0
        if padded.shape[0] > target_h:
            y_offset = np.random.randint(0, padded.shape[0] - target_h)
        if padded.shape[1] > target_w:
            x_offset = np.random.randint(0, padded.shape[1] - target_w)
        cropped = padded[y_offset:y_offset + target_h,
                         x_offset:x_offset + target_w]

        # 4. move the partner's boxes the same way
        other_boxes.rescale_([scale_ratio, scale_ratio])
        if self.bbox_clip_border:
            other_boxes.clip_([origin_h, origin_w])
        if is_flip:
            other_boxes.flip_([origin_h, origin_w], direction='horizontal')
        other_boxes.translate_([-x_offset, -y_offset])
        if self.bbox_clip_border:
            other_boxes.clip_([target_h, target_w])

        mixup_img = 0.5 * ori_img + 0.5 * cropped

        new = {}
        if 'gt_bboxes' in results:
            new['gt_bboxes'] = type(other_boxes).cat(
                [results['gt_bboxes'], other_boxes], dim=0)
        for key in ('gt_bboxes_labels', 'gt_ignore_flags'):
            if key in results:
                new[key] = np.concatenate(
                    [results[key],
                     self._require(other, key, name, 1)], axis=0)
        if 'gt_keypoints' in results:
            kps = self._require(other, 'gt_keypoints', name, 1)
            kps.rescale_([scale_ratio, scale_ratio])
            if self.bbox_clip_border:
                kps.clip_([origin_h, origin_w])
            if is_flip:
                kps.flip_([origin_h, origin_w], direction='horizontal')
            kps.translate_([-x_offset, -y_offset])
            if self.bbox_clip_border:
                kps.clip_([target_h, target_w])
            new['gt_keypoints'] = type(kps).cat([results['gt_keypoints'], kps],
                                                0)

        if not self.bbox_clip_border and 'gt_bboxes' in new:
            inside = new['gt_bboxes'].is_inside([target_h, target_w]).numpy()
            new = {key: value[inside] for key, value in new.items()}

        results.update(new)
        results['img'] = mixup_img.astype(np.uint8)
        results['img_shape'] = mixup_img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(img_scale={self.img_scale}, '
                f'ratio_range={self.ratio_range}, '
                f'flip_ratio={self.flip_ratio}, pad_val={self.pad_val}, '
                f'prob={self.prob})')
