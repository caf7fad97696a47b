"""Mosaic9: nine images tiled around a centre image, then randomly cropped."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmengine.dataset import BaseDataset

from yolokit.registry import TRANSFORMS
from .base_mix_image_transform import (BaseMixImageTransform, check_img_scale,
                                       paste_region)

__all__ = ['Mosaic9']

_LOCATIONS = ('center', 'top', 'top_right', 'right', 'bottom_right', 'bottom',
              'bottom_left', 'left', 'top_left')


@TRANSFORMS.register_module()
class Mosaic9(BaseMixImageTransform):
    """Mosaic augmentation with 9 images.

    .. code:: text

                +-------------------------------+------------+
                | pad           |      pad      |            |
                |    +----------+               |            |
                |    |          +---------------+  top_right |
                |    |          |      top      |   image2   |
                |    | top_left |     image1    |            |
                |    |  image8  o--------+------+--------+---+
                |    |          |        |               |   |
                +----+----------+        |     right     |pad|
                |               | center |     image3    |   |
                |     left      | image0 +---------------+---|
                |    image7     |        |               |   |
            +---+-----------+---+--------+               |   |
            |   |  cropped  |            |  bottom_right |pad|
            |   |bottom_left|            |    image4     |   |
            |   |  image6   |   bottom   |               |   |
            +---|-----------+   image5   +---------------+---|
                |    pad    |            |        pad        |
                +-----------+------------+-------------------+

    The current image is the centre of a ``3h x 3w`` canvas (its top-left
    corner at ``(w, h)``) and 8 images drawn from the dataset (or cache)
    are placed around it clockwise from the top, each against the centre
    image and the previous tile. Every tile is resized, keeping its aspect
    ratio, to fit ``img_scale``. A random ``2h x 2w`` window with offset
    ``(ox, oy)``, ``ox`` in ``[0, w)`` and ``oy`` in ``[0, h)``, is the
    output. Only boxes are handled.

    Required Keys:

    - img
    - gt_bboxes (BaseBoxes[torch.float32]) (optional)
    - gt_bboxes_labels (np.int64) (optional)
    - gt_ignore_flags (bool) (optional)
    - mix_results (List[dict])

    Modified Keys:

    - img
    - img_shape
    - gt_bboxes (optional)
    - gt_bboxes_labels (optional)
    - gt_ignore_flags (optional)

    Args:
        img_scale (Tuple[int, int]): Size of one tile, in
            ``(width, height)``; the output is twice as large.
            Defaults to (640, 640).
        bbox_clip_border (bool): Clip boxes to the output; if False, boxes
            not inside it are removed instead. Defaults to True.
        pad_val (float | int): Fill value of the canvas. Defaults to 114.0.
        pre_transform (Sequence[dict], optional): Transforms run on the
            loaded images to mix with. Defaults to None.
        prob (float): Probability of applying the transform.
            Defaults to 1.0.
        use_cached (bool): Draw the other images from a cache.
            Defaults to False.
        max_cached_images (int): Maximum cache length (about 5 per mixed
            image suffices). Defaults to 50.
        random_pop (bool): Pop a random cache entry when full; FIFO if
            False. Defaults to True.
        max_refetch (int): Retries when the pre_transform returns None.
            Defaults to 15.
    """

    min_cached_images = 9

    def __init__(self,
                 img_scale: Tuple[int, int] = (640, 640),
                 bbox_clip_border: bool = True,
                 pad_val: Union[float, int] = 114.0,
                 pre_transform: Optional[Sequence[dict]] = None,
                 prob: float = 1.0,
                 use_cached: bool = False,
                 max_cached_images: int = 50,
                 random_pop: bool = True,
                 max_refetch: int = 15):
        img_scale = check_img_scale(img_scale)
        super().__init__(
            pre_transform=pre_transform,
            prob=prob,
            use_cached=use_cached,
            max_cached_images=max_cached_images,
            random_pop=random_pop,
            max_refetch=max_refetch)
        self.img_scale = img_scale
        self.bbox_clip_border = bbox_clip_border
        self.pad_val = pad_val

    def get_indexes(self, dataset: Union[BaseDataset, list]) -> list:
        """Eight random indexes (repeats allowed) in ``[0, len(dataset))``.

        Args:
            dataset (BaseDataset | list): The dataset or the cache.

        Returns:
            list: Indexes.
        """
        return [np.random.randint(0, len(dataset)) for _ in range(8)]

    def mix_img_transform(self, results: dict) -> dict:
        """Tile ``results`` and its 8 ``mix_results``, then crop.

        Args:
            results (dict): Result dict holding 8 ``mix_results``.

        Returns:
            dict: The updated result dict.
        """
        if len(results.get('mix_results', [])) != 8:
            raise ValueError('Mosaic9 needs 8 mix_results, got '
                             f"{len(results.get('mix_results', []))}")
        for key in ('gt_masks', 'gt_keypoints'):
            if key in results:
                raise NotImplementedError(
                    f'Mosaic9 only supports boxes, but results has {key!r}.')
        patches = [results, *results['mix_results']]
        tile_w, tile_h = self.img_scale
        canvas_w, canvas_h = 3 * tile_w, 3 * tile_h
        img = results['img']
        mosaic_img = np.full((canvas_h, canvas_w, *img.shape[2:]),
                             self.pad_val,
                             dtype=img.dtype)

        resized, scales = [], []
        for patch in patches:
            img_i = patch['img']
            h_i, w_i = img_i.shape[:2]
            scale = min(tile_h / h_i, tile_w / w_i)
            resized.append(
                mmcv.imresize(img_i, (int(w_i * scale), int(h_i * scale))))
            scales.append(scale)

        origins = self._tile_origins([im.shape[:2] for im in resized])
        for img_i, loc in zip(resized, _LOCATIONS):
            (x1, y1, x2, y2), (cx1, cy1, cx2,
                               cy2) = paste_region(origins[loc],
                                                   img_i.shape[1::-1],
                                                   (canvas_w, canvas_h))
            mosaic_img[y1:y2, x1:x2] = img_i[cy1:cy2, cx1:cx2]

        offset_x = int(np.random.uniform(0, tile_w))
        offset_y = int(np.random.uniform(0, tile_h))
        out_h, out_w = 2 * tile_h, 2 * tile_w
        mosaic_img = mosaic_img[offset_y:offset_y + out_h,
                                offset_x:offset_x + out_w]

        if 'gt_bboxes' in results:
            self._mix_boxes(results, patches, scales,
                            [origins[loc] for loc in _LOCATIONS],
                            (offset_x, offset_y), (out_h, out_w))
        results['img'] = mosaic_img
        results['img_shape'] = mosaic_img.shape[:2]
        return results

    def _tile_origins(
            self, shapes_hw: List[Tuple[int,
                                        int]]) -> Dict[str, Tuple[int, int]]:
        """Top-left corner ``(x, y)`` of each tile on the ``3h x 3w`` canvas.

        Tiles are laid clockwise from the top; each one leans on the centre
        tile and on the tile placed just before it.
        """
        s_w, s_h = self.img_scale
        shape = dict(zip(_LOCATIONS, shapes_hw))
        c_h, c_w = shape['center']

        def hw(loc):
            return shape[loc]

        return {
            'center': (s_w, s_h),
            'top': (s_w, s_h - hw('top')[0]),
            'top_right': (s_w + hw('top')[1], s_h - hw('top_right')[0]),
            'right': (s_w + c_w, s_h),
            'bottom_right': (s_w + c_w, s_h + hw('right')[0]),
            'bottom': (s_w + c_w - hw('bottom')[1], s_h + c_h),
            'bottom_left':
            (s_w + c_w - hw('bottom')[1] - hw('bottom_left')[1], s_h + c_h),
            'left': (s_w - hw('left')[1], s_h + c_h - hw('left')[0]),
            'top_left': (s_w - hw('top_left')[1],
                         s_h + c_h - hw('left')[0] - hw('top_left')[0]),
        }

    def _mix_boxes(self, results: dict, patches: List[dict],
                   scales: List[float], origins: List[Tuple[int, int]],
                   offset: Tuple[int, int], out_shape: Tuple[int,
                                                             int]) -> None:
        name = type(self).__name__
        boxes = []
        for i, (patch, scale,
                (ox, oy)) in enumerate(zip(patches, scales, origins)):
            b = self._require(patch, 'gt_bboxes', name, i)
            b.rescale_([scale, scale])
            b.translate_([ox - offset[0], oy - offset[1]])
            boxes.append(b)
        new = {'gt_bboxes': type(boxes[0]).cat(boxes, 0)}
        for key in ('gt_bboxes_labels', 'gt_ignore_flags'):
            if key in results:
                new[key] = np.concatenate([
                    self._require(p, key, name, i)
                    for i, p in enumerate(patches)
                ], 0)
        if self.bbox_clip_border:
            new['gt_bboxes'].clip_(list(out_shape))
        else:
            inside = new['gt_bboxes'].is_inside(list(out_shape)).numpy()
            new = {key: value[inside] for key, value in new.items()}
        results.update(new)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(img_scale={self.img_scale}, '
                f'pad_val={self.pad_val}, prob={self.prob})')
