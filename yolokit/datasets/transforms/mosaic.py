"""Mosaic: four images stitched around a random centre."""
from typing import List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmengine.dataset import BaseDataset

from yolokit.registry import TRANSFORMS
from .base_mix_image_transform import (BaseMixImageTransform, check_img_scale,
                                       paste_region)

__all__ = ['Mosaic']


@TRANSFORMS.register_module()
class Mosaic(BaseMixImageTransform):
    """Mosaic augmentation: combine 4 images into one.

    .. code:: text

                        mosaic transform
                           center_x
                +------------------------------+
                |       pad        |           |
                |      +-----------+    pad    |
                |      |           |           |
                |      |  image1   +-----------+
                |      |           |           |
                |      |           |   image2  |
     center_y   |----+-+-----------+-----------+
                |    |   cropped   |           |
                |pad |   image3    |   image4  |
                |    |             |           |
                +----|-------------+-----------+
                     |             |
                     +-------------+

    The current image goes top-left, 3 images drawn from the dataset (or
    the cache) go top-right, bottom-left and bottom-right. Each is resized,
    keeping its aspect ratio, to fit ``img_scale``, then placed against the
    random centre and cropped where it leaves the ``2h x 2w`` canvas; the
    rest of the canvas is ``pad_val``.

    Required Keys:

    - img
    - gt_bboxes (BaseBoxes[torch.float32]) (optional)
    - gt_bboxes_labels (np.int64) (optional)
    - gt_ignore_flags (bool) (optional)
    - gt_masks (PolygonMasks | BitmapMasks) (optional)
    - gt_keypoints (Keypoints) (optional)
    - mix_results (List[dict])

    Modified Keys:

    - img
    - img_shape
    - gt_bboxes (optional)
    - gt_bboxes_labels (optional)
    - gt_ignore_flags (optional)
    - gt_masks (optional)
    - gt_keypoints (optional)

    Args:
        img_scale (Tuple[int, int]): Size of one mosaic tile, in
            ``(width, height)``; the output is twice as large.
            Defaults to (640, 640).
        center_ratio_range (Tuple[float, float]): Range of the centre
            position, as a ratio of ``img_scale``. Defaults to (0.5, 1.5).
        bbox_clip_border (bool): Clip boxes (and keypoints) to the output;
            if False, boxes not inside it are removed instead (some datasets,
            e.g. MOT17, allow boxes across the border). Defaults to True.
        pad_val (float): Fill value of the canvas. Defaults to 114.0.
        pre_transform (Sequence[dict], optional): Transforms run on the
            loaded images to mix with. Defaults to None.
        prob (float): Probability of applying the transform.
            Defaults to 1.0.
        use_cached (bool): Draw the other images from a cache.
            Defaults to False.
        max_cached_images (int): Maximum cache length (about 10 per mixed
            image suffices). Defaults to 40.
        random_pop (bool): Pop a random cache entry when full; FIFO if
            False. Defaults to True.
        max_refetch (int): Retries when the pre_transform returns None.
            Defaults to 15.
    """

    min_cached_images = 4

    def __init__(self,
                 img_scale: Tuple[int, int] = (640, 640),
                 center_ratio_range: Tuple[float, float] = (0.5, 1.5),
                 bbox_clip_border: bool = True,
                 pad_val: float = 114.0,
                 pre_transform: Optional[Sequence[dict]] = None,
                 prob: float = 1.0,
                 use_cached: bool = False,
                 max_cached_images: int = 40,
                 random_pop: bool = True,
                 max_refetch: int = 15):
        img_scale = check_img_scale(img_scale)
        if not (len(center_ratio_range) == 2
                and 0 <= center_ratio_range[0] <= center_ratio_range[1]):
            raise ValueError('center_ratio_range must be (low, high) with '
                             f'0 <= low <= high, got {center_ratio_range}')
        super().__init__(
            pre_transform=pre_transform,
            prob=prob,
            use_cached=use_cached,
            max_cached_images=max_cached_images,
            random_pop=random_pop,
            max_refetch=max_refetch)
        self.img_scale = img_scale
        self.center_ratio_range = center_ratio_range
        self.bbox_clip_border = bbox_clip_border
        self.pad_val = pad_val

    def get_indexes(self, dataset: Union[BaseDataset, list]) -> list:
        """Three random indexes (repeats allowed) in ``[0, len(dataset))``.

        Args:
            dataset (BaseDataset | list): The dataset or the cache.

        Returns:
            list: Indexes.
        """
        return [np.random.randint(0, len(dataset)) for _ in range(3)]

    def mix_img_transform(self, results: dict) -> dict:
        """Stitch ``results`` and its 3 ``mix_results`` into one image.

        Args:
            results (dict): Result dict holding 3 ``mix_results``.

        Returns:
            dict: The updated result dict.
        """
        if len(results.get('mix_results', [])) != 3:
            raise ValueError('Mosaic needs 3 mix_results, got '
                             f"{len(results.get('mix_results', []))}")
        patches = [results, *results['mix_results']]
        tile_w, tile_h = self.img_scale
        out_w, out_h = 2 * tile_w, 2 * tile_h
        img = results['img']
        mosaic_img = np.full((out_h, out_w, *img.shape[2:]),
                             self.pad_val,
                             dtype=img.dtype)

        center_x = int(np.random.uniform(*self.center_ratio_range) * tile_w)
        center_y = int(np.random.uniform(*self.center_ratio_range) * tile_h)

        # Where each tile's top-left corner goes: the tiles meet at the
        # centre, the first one above-left of it, the last below-right.
        corners = (
            lambda w, h: (center_x - w, center_y - h),  # top_left
            lambda w, h: (center_x, center_y - h),  # top_right
            lambda w, h: (center_x - w, center_y),  # bottom_left
            lambda w, h: (center_x, center_y),  # bottom_right
        )
        offsets: List[Tuple[int, int]] = []
        scales: List[float] = []
        for patch, corner in zip(patches, corners):
            img_i = patch['img']
            h_i, w_i = img_i.shape[:2]
            scale = min(tile_h / h_i, tile_w / w_i)
            img_i = mmcv.imresize(img_i, (int(w_i * scale), int(h_i * scale)))
            origin = corner(img_i.shape[1], img_i.shape[0])
            (x1, y1, x2, y2), (cx1, cy1, cx2,
                               cy2) = paste_region(origin, img_i.shape[1::-1],
                                                   (out_w, out_h))
            mosaic_img[y1:y2, x1:x2] = img_i[cy1:cy2, cx1:cx2]
            offsets.append(origin)
            scales.append(scale)

        self._mix_annotations(results, patches, scales, offsets,
                              (out_h, out_w))
        results['img'] = mosaic_img
        results['img_shape'] = mosaic_img.shape[:2]
        return results

    def _mix_annotations(self, results: dict, patches: List[dict],
                         scales: List[float], offsets: List[Tuple[int, int]],
                         out_shape: Tuple[int, int]) -> None:
        """Move every patch's instances into the mosaic, then clip or drop
        those leaving it."""
        if 'gt_bboxes' not in results:
            return
        name = type(self).__name__
        out_h, out_w = out_shape
        boxes, masks, kps = [], [], []
        for i, (patch, scale,
                (ox, oy)) in enumerate(zip(patches, scales, offsets)):
            b = self._require(patch, 'gt_bboxes', name, i)
            b.rescale_([scale, scale])
            b.translate_([ox, oy])
            boxes.append(b)
            if 'gt_masks' in results:
                m = self._require(patch, 'gt_masks', name,
                                  i).rescale(float(scale))
                m = m.translate(out_shape, ox, direction='horizontal')
                m = m.translate(out_shape, oy, direction='vertical')
                masks.append(m)
            if 'gt_keypoints' in results:
                k = self._require(patch, 'gt_keypoints', name, i)
                k.rescale_([scale, scale])
                k.translate_([ox, oy])
                kps.append(k)
        new = {'gt_bboxes': type(boxes[0]).cat(boxes, 0)}
        for key in ('gt_bboxes_labels', 'gt_ignore_flags'):
            if key in results:
                new[key] = np.concatenate([
                    self._require(p, key, name, i)
                    for i, p in enumerate(patches)
                ], 0)
        if masks:
            new['gt_masks'] = type(masks[0]).cat(masks)
        if kps:
            new['gt_keypoints'] = type(kps[0]).cat(kps, 0)

        if self.bbox_clip_border:
            new['gt_bboxes'].clip_([out_h, out_w])
            if kps:
                new['gt_keypoints'].clip_([out_h, out_w])
        else:
            inside = new['gt_bboxes'].is_inside([out_h, out_w]).numpy()
            new = {key: value[inside] for key, value in new.items()}
        results.update(new)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(img_scale={self.img_scale}, '
                f'center_ratio_range={self.center_ratio_range}, '
                f'pad_val={self.pad_val}, prob={self.prob})')
