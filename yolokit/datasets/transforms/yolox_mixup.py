"""YOLOX's MixUp: a jittered, maybe flipped partner image averaged in."""
from typing import Optional, Sequence, Tuple

import mmcv
import numpy as np

from yolokit.registry import TRANSFORMS
from .base_mix_image_transform import BaseMixImageTransform, check_img_scale
from .errors import check_ratio_range
from .mix_image_ops import (blank_canvas, concat_instances, fit_into,
                            instances_of, keep_inside, paste,
                            present_instance_keys, write_mixed)

__all__ = ['YOLOXMixUp']

# YOLOX's MixUp moves no masks, so these are all it carries over.
_CARRIED_KEYS = ('gt_bboxes', 'gt_bboxes_labels', 'gt_ignore_flags',
                 'gt_keypoints')


def _random_start(size: int, window: int) -> int:
    """Start of a random ``window`` inside ``size`` (0 when it fits)."""
    return np.random.randint(0, size - window) if size > window else 0


def follow_partner_image(structure, scale: float, canvas_hw: Tuple[int, int],
                         is_flip: bool, crop_xy: Tuple[int, int],
                         out_hw: Tuple[int, int], clip: bool) -> None:
    """Give the partner's boxes or keypoints (in place) the moves its image
    got: scale by ``scale`` (fit times jitter), clip to the jittered
    ``canvas_hw`` when ``clip``, mirror in it when ``is_flip``, shift by
    ``-crop_xy`` and clip to the ``out_hw`` output when ``clip``."""
    structure.rescale_([scale, scale])
    if clip:
        structure.clip_(list(canvas_hw))
    if is_flip:
        structure.flip_(list(canvas_hw), direction='horizontal')
    structure.translate_([-crop_xy[0], -crop_xy[1]])
    if clip:
        structure.clip_(list(out_hw))


@TRANSFORMS.register_module()
class YOLOXMixUp(BaseMixImageTransform):
    """Average the current image with a rescaled, maybe mirrored, window of
    another one, as YOLOX does.

    With ``img_scale = (w, h)`` and a current image of ``(H, W)``:

    .. code:: text

        other image --keep-ratio fit, top-left--> +-------+-----+
                                                  | other | pad |  (h, w)
                                                  +-------+     |
                                                  |  pad_val    |
                                                  +-------------+
                 | resize by jit ~ U(ratio_range)
                 | mirror left-right if U(0, 1) > flip_ratio
                 | pad with pad_val to at least (H, W)
                 v
             (H, W) window at a random (x_off, y_off)
                 |
        current image (H, W) -- 0.5 * current + 0.5 * window --> output

    ``y_off`` is drawn first, from ``[0, padded height - H)``, then
    ``x_off`` from ``[0, padded width - W)``; each is 0 when there is no
    room.

    The other image's boxes and keypoints get the same scale (fit ratio
    times ``jit``), mirror and shift, and are appended to the current
    image's. When the other image has no boxes, ``results`` is returned
    as it is.

    The keys are those of :class:`BaseMixImageTransform`, except
    ``gt_masks``, which are not mixed.

    Args:
        img_scale (Tuple[int, int]): ``(w, h)`` of the canvas the other
            image is fitted into. Defaults to (640, 640).
        ratio_range (Tuple[float, float]): Range of the scale jitter
            ``jit`` of that canvas. Defaults to (0.5, 1.5).
        flip_ratio (float): The canvas is mirrored when ``U(0, 1)`` exceeds
            it. Defaults to 0.5.
        pad_val (float): Fill value of the canvas and the padding.
            Defaults to 114.0.
        bbox_clip_border (bool): Clip the other image's boxes (keypoints
            outside become invisible) to the jittered canvas and then to
            the output; if False, boxes are left as they are and only
            instances whose box lies wholly outside the output are dropped.
            Defaults to True.
        max_cached_images (int): Cache capacity, at least 2.
            Defaults to 20.
        pre_transform, prob, use_cached, random_pop, max_refetch: See
            :class:`BaseMixImageTransform`.
    """

    min_cached_images = 2
    num_mix_results = 1

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
        check_ratio_range(ratio_range, 'ratio_range', allow_zero=False)
        super().__init__(pre_transform, prob, use_cached, max_cached_images,
                         random_pop, max_refetch)
        self.img_scale = img_scale
        self.ratio_range = ratio_range
        self.flip_ratio = flip_ratio
        self.pad_val = pad_val
        self.bbox_clip_border = bbox_clip_border

    def mix_img_transform(self, results: dict) -> dict:
        """Mix ``results`` with its one ``mix_results`` entry as the class
        docstring describes; returns the updated ``results`` (unchanged if
        that entry has no boxes)."""
        other = self._mix_results_of(results)[0]
        name = type(self).__name__
        other_boxes = instances_of(other, ('gt_bboxes', ), name, 1)
        if len(other_boxes['gt_bboxes']) == 0:
            return results

        jit_factor = np.random.uniform(*self.ratio_range)
        is_flip = np.random.uniform(0, 1) > self.flip_ratio

        canvas_w, canvas_h = self.img_scale
        tile, fit_ratio = fit_into(other['img'], self.img_scale)
        canvas = blank_canvas((canvas_h, canvas_w), tile, self.pad_val)
        paste(canvas, tile, (0, 0))
        canvas = mmcv.imresize(
            canvas, (int(canvas_w * jit_factor), int(canvas_h * jit_factor)))
        if is_flip:
            canvas = canvas[:, ::-1]

        # pad, then cut a window of the current image's size, so that the
        # two images can be averaged pixel by pixel
        ori_img = results['img']
        jitter_hw = canvas.shape[:2]
        out_hw = ori_img.shape[:2]
        padded = blank_canvas(
            tuple(max(a, b) for a, b in zip(jitter_hw, out_hw)), canvas,
            self.pad_val)
        paste(padded, canvas, (0, 0))
        y_offset = _random_start(padded.shape[0], out_hw[0])
        x_offset = _random_start(padded.shape[1], out_hw[1])
        window = padded[y_offset:y_offset + out_hw[0],
                        x_offset:x_offset + out_hw[1]]

        keys = present_instance_keys(results, _CARRIED_KEYS)
        partner = instances_of(other, keys, name, 1)
        for key in ('gt_bboxes', 'gt_keypoints'):
            if key in partner:
                partner[key] = partner[key].clone()
                follow_partner_image(partner[key], fit_ratio * jit_factor,
                                     jitter_hw, is_flip, (x_offset, y_offset),
                                     out_hw, self.bbox_clip_border)

        new = concat_instances([instances_of(results, keys, name, 0), partner])
        if not self.bbox_clip_border and 'gt_bboxes' in new:
            new = keep_inside(new, out_hw)
        mixup_img = 0.5 * ori_img + 0.5 * window
        return write_mixed(results, mixup_img.astype(np.uint8), new)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(img_scale={self.img_scale}, '
                f'ratio_range={self.ratio_range}, '
                f'flip_ratio={self.flip_ratio}, pad_val={self.pad_val}, '
                f'prob={self.prob})')
