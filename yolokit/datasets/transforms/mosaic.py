"""Mosaic: four images stitched around a random centre."""
from typing import Optional, Sequence, Tuple

import numpy as np

from yolokit.registry import TRANSFORMS
from .base_mix_image_transform import BaseMixImageTransform, check_img_scale
from .errors import check_ratio_range
from .mix_image_ops import (TilePlacement, blank_canvas, fit_into, paste,
                            stitch_instances, write_mixed)

__all__ = ['Mosaic']

# (left of the centre, above the centre) for tiles 0..3: the current image
# is the upper-left tile, the three others follow in reading order.
_QUADRANTS = ((True, True), (False, True), (True, False), (False, False))


def quadrant_origin(centre_xy: Tuple[int, int], tile_wh: Tuple[int, int],
                    left: bool, above: bool) -> Tuple[int, int]:
    """Top-left corner of a tile that touches ``centre_xy`` with its
    bottom-right (left, above), bottom-left (right, above), top-right (left,
    below) or top-left (right, below) corner."""
    cx, cy = centre_xy
    w, h = tile_wh
    return (cx - w if left else cx, cy - h if above else cy)


@TRANSFORMS.register_module()
class Mosaic(BaseMixImageTransform):
    """Stitch the current image and three others into one 2x-sized image.

    With ``img_scale = (w, h)``:

    .. code:: text

              x = 0          cx                    2w
              y = 0 +--------v---------------------+
                    |   +----+--------+            |
                    |   |[0] |  [1]   |            |
                    |   |    |        |            |
                 cy >-+-+----C---+----+            |
                    | |  [2] |[3]|                 |
                    | |      +---+     pad_val     |
                    | |      |                     |
                 2h +-+------+---------------------+

    The four tiles meet at ``C``; a tile that runs past the canvas (here
    ``[2]``, at the bottom) is cut at its edge.

    1. ``C = (cx, cy)`` with ``cx = int(U(center_ratio_range) * w)`` and
       ``cy = int(U(center_ratio_range) * h)`` (x drawn first).
    2. Each image is resized with its aspect ratio kept to fit in ``w x h``
       (``s = min(h / H, w / W)``, size ``int(W * s) x int(H * s)``).
    3. Tile ``[i]`` touches ``C`` with one corner: ``[0]`` (the current
       image) with its bottom-right, ``[1]`` bottom-left, ``[2]`` top-right
       and ``[3]`` top-left corner. The three others are drawn from the
       dataset (or the cache), repeats allowed.
    4. A tile's boxes, masks and keypoints are scaled by its ``s`` and
       shifted by its top-left corner; they are joined in tile order.

    The keys are those of :class:`BaseMixImageTransform`.

    Args:
        img_scale (Tuple[int, int]): ``(w, h)`` of one tile; the output is
            ``(2h, 2w)``. Defaults to (640, 640).
        center_ratio_range (Tuple[float, float]): Range of ``cx / w`` and
            ``cy / h``. Defaults to (0.5, 1.5).
        bbox_clip_border (bool): Clip boxes to the output (keypoints
            outside it become invisible). If False, boxes are left as they
            are and only instances whose box lies wholly outside the output
            are dropped, for datasets whose boxes may cross the image
            border (e.g. MOT17). Defaults to True.
        pad_val (float): Value of the output where no tile is.
            Defaults to 114.0.
        max_cached_images (int): Cache capacity, at least 4.
            Defaults to 40.
        pre_transform, prob, use_cached, random_pop, max_refetch: See
            :class:`BaseMixImageTransform`.
    """

    min_cached_images = 4
    num_mix_results = 3

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
        check_ratio_range(
            center_ratio_range, 'center_ratio_range', allow_zero=True)
        super().__init__(pre_transform, prob, use_cached, max_cached_images,
                         random_pop, max_refetch)
        self.img_scale = img_scale
        self.center_ratio_range = center_ratio_range
        self.bbox_clip_border = bbox_clip_border
        self.pad_val = pad_val

    def mix_img_transform(self, results: dict) -> dict:
        """Stitch ``results`` and its 3 ``mix_results`` as the class
        docstring describes; returns the updated ``results``."""
        patches = [results, *self._mix_results_of(results)]
        tile_w, tile_h = self.img_scale
        out_hw = (2 * tile_h, 2 * tile_w)
        mosaic_img = blank_canvas(out_hw, results['img'], self.pad_val)
        centre_xy = (int(np.random.uniform(*self.center_ratio_range) * tile_w),
                     int(np.random.uniform(*self.center_ratio_range) * tile_h))

        placements = []
        for patch, (left, above) in zip(patches, _QUADRANTS):
            tile, scale = fit_into(patch['img'], self.img_scale)
            origin_xy = quadrant_origin(centre_xy, tile.shape[1::-1], left,
                                        above)
            paste(mosaic_img, tile, origin_xy)
            placements.append(TilePlacement(scale, origin_xy))

        instances = stitch_instances(patches, placements, out_hw,
                                     self.bbox_clip_border,
                                     type(self).__name__)
        return write_mixed(results, mosaic_img, instances)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(img_scale={self.img_scale}, '
                f'center_ratio_range={self.center_ratio_range}, '
                f'pad_val={self.pad_val}, prob={self.prob})')
