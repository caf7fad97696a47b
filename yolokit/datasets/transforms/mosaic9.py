"""Mosaic9: nine images tiled around a centre image, then randomly cropped."""
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from yolokit.registry import TRANSFORMS
from .base_mix_image_transform import BaseMixImageTransform, check_img_scale
from .mix_image_ops import (TilePlacement, blank_canvas, fit_into, paste,
                            stitch_instances, write_mixed)

__all__ = ['Mosaic9']


def nine_tile_origins(
        tile_wh: Tuple[int, int],
        sizes_wh: Sequence[Tuple[int, int]]) -> List[Tuple[int, int]]:
    """Top-left corners ``(x, y)`` of the nine tiles on the ``3h x 3w``
    canvas, by the table of :class:`Mosaic9`.

    Args:
        tile_wh (tuple[int, int]): ``img_scale`` ``(w, h)``.
        sizes_wh (Sequence[tuple[int, int]]): ``(width, height)`` of each
            resized tile in tile order: center, top, top_right, right,
            bottom_right, bottom, bottom_left, left, top_left.

    Returns:
        list[tuple[int, int]]: The corners, in the same order.
    """
    w, h = tile_wh
    ws, hs = zip(*sizes_wh)  # ws[i], hs[i] are the table's wi, hi
    return [
        (w, h),  # center
        (w, h - hs[1]),  # top: on the centre tile's top-left corner
        (w + ws[1], h - hs[2]),  # top_right: right of top, bottoms at h
        (w + ws[0], h),  # right: on the centre tile's top-right corner
        (w + ws[0], h + hs[3]),  # bottom_right: under right
        (w + ws[0] - ws[5], h + hs[0]),  # bottom: under centre, right-flush
        (w + ws[0] - ws[5] - ws[6], h + hs[0]),  # bottom_left: left of bottom
        (w - ws[7], h + hs[0] - hs[7]),  # left: bottom-flush with centre
        (w - ws[8], h + hs[0] - hs[7] - hs[8]),  # top_left: on top of left
    ]


@TRANSFORMS.register_module()
class Mosaic9(BaseMixImageTransform):
    """Tile nine images on a 3x-sized canvas and cut a random 2x window.

    With ``img_scale = (w, h)``, every image is resized with its aspect
    ratio kept to fit in ``w x h`` (``s = min(h / H, w / W)``); ``(wi,
    hi)`` below is the resized size of tile ``i``. Tile 0 is the current
    image, tiles 1-8 are drawn from the dataset (or the cache) and laid
    clockwise from the top, each against the centre tile and the tile laid
    before it:

    .. code:: text

        tile  place         top-left corner on the (3h, 3w) canvas
        ----  ------------  ---------------------------------------
          0   center        (w,                 h)
          1   top           (w,                 h - h1)
          2   top_right     (w + w1,            h - h2)
          3   right         (w + w0,            h)
          4   bottom_right  (w + w0,            h + h3)
          5   bottom        (w + w0 - w5,       h + h0)
          6   bottom_left   (w + w0 - w5 - w6,  h + h0)
          7   left          (w - w7,            h + h0 - h7)
          8   top_left      (w - w8,            h + h0 - h7 - h8)

        roughly:   8 | 1 | 2        output = canvas[oy : oy + 2h,
                   --+---+--                        ox : ox + 2w]
                   7 | 0 | 3        ox = int(U(0, w)), oy = int(U(0, h))
                   --+---+--        (x drawn first)
                   6 | 5 | 4

    Parts of tiles beyond the canvas are cut, the rest of the canvas is
    ``pad_val``. A tile's boxes, masks and keypoints are scaled by its
    ``s`` and shifted by its corner minus ``(ox, oy)``; they are joined in
    tile order.

    The keys are those of :class:`BaseMixImageTransform`.

    Args:
        img_scale (Tuple[int, int]): ``(w, h)`` of one tile; the output is
            ``(2h, 2w)``. Defaults to (640, 640).
        bbox_clip_border (bool): Clip boxes to the output (keypoints
            outside it become invisible); if False, boxes are left as they
            are and only instances whose box lies wholly outside the output
            are dropped. Defaults to True.
        pad_val (float | int): Value of the canvas where no tile is.
            Defaults to 114.0.
        max_cached_images (int): Cache capacity, at least 9 (about five
            entries per image mixed in suffice). Defaults to 50.
        pre_transform, prob, use_cached, random_pop, max_refetch: See
            :class:`BaseMixImageTransform`.
    """

    min_cached_images = 9
    num_mix_results = 8

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
        super().__init__(pre_transform, prob, use_cached, max_cached_images,
                         random_pop, max_refetch)
        self.img_scale = img_scale
        self.bbox_clip_border = bbox_clip_border
        self.pad_val = pad_val

    def mix_img_transform(self, results: dict) -> dict:
        """Tile ``results`` and its 8 ``mix_results`` and crop, as the
        class docstring describes; returns the updated ``results``."""
        patches = [results, *self._mix_results_of(results)]
        tile_w, tile_h = self.img_scale
        canvas = blank_canvas((3 * tile_h, 3 * tile_w), results['img'],
                              self.pad_val)
        tiles, scales = zip(*(fit_into(p['img'], self.img_scale)
                              for p in patches))
        origins = nine_tile_origins(self.img_scale,
                                    [t.shape[1::-1] for t in tiles])
        for tile, origin_xy in zip(tiles, origins):
            paste(canvas, tile, origin_xy)

        offset_x = int(np.random.uniform(0, tile_w))
        offset_y = int(np.random.uniform(0, tile_h))
        out_hw = (2 * tile_h, 2 * tile_w)
        mosaic_img = canvas[offset_y:offset_y + out_hw[0],
                            offset_x:offset_x + out_hw[1]]

        # move instances to the output frame in one step (canvas corner
        # minus crop offset), so masks are cut at the output's edges
        placements = [
            TilePlacement(scale, (x - offset_x, y - offset_y))
            for scale, (x, y) in zip(scales, origins)
        ]
        instances = stitch_instances(patches, placements, out_hw,
                                     self.bbox_clip_border,
                                     type(self).__name__)
        return write_mixed(results, mosaic_img, instances)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(img_scale={self.img_scale}, '
                f'pad_val={self.pad_val}, prob={self.prob})')
