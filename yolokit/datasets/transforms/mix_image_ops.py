"""Pure helpers of the transforms that mix several images into one.

Images are ``(H, W[, C])`` arrays. Names ending in ``_wh`` are ``(width,
height)`` sizes, in ``_hw`` ``(height, width)`` shapes and in ``_xy``
``(x, y)`` pixel positions on the output image (x right, y down).

"Instances" are the per-object result entries of :data:`INSTANCE_KEYS`.
Boxes are mmdet ``BaseBoxes``, masks ``BitmapMasks``/``PolygonMasks`` and
keypoints :class:`~.keypoint_structure.Keypoints` (anything with the same
``clone``/``rescale_``/``translate_``/``clip_``/``cat`` calls works).
"""
from typing import Dict, List, NamedTuple, Sequence, Tuple

import mmcv
import numpy as np
from mmdet.structures.mask import BaseInstanceMasks

__all__ = [
    'INSTANCE_KEYS', 'TilePlacement', 'fit_into', 'blank_canvas',
    'paste_region', 'paste', 'present_instance_keys', 'instances_of',
    'place_instances', 'concat_instances', 'clip_instances', 'keep_inside',
    'stitch_instances', 'write_mixed'
]

#: Per-object result entries a mixing transform carries over.
INSTANCE_KEYS = ('gt_bboxes', 'gt_bboxes_labels', 'gt_ignore_flags',
                 'gt_masks', 'gt_keypoints')
# Entries with coordinates; labels and flags only travel along.
_POINT_KEYS = ('gt_bboxes', 'gt_keypoints')

IntPair = Tuple[int, int]


class TilePlacement(NamedTuple):
    """Where one source image went on the output image."""
    scale: float  # keep-ratio resize factor applied to the source
    origin_xy: IntPair  # top-left of the resized source; may be < 0


def fit_into(img: np.ndarray, box_wh: IntPair) -> Tuple[np.ndarray, float]:
    """Resize ``img`` with its aspect ratio kept to fit in ``box_wh``.

    With ``s = min(box_h / H, box_w / W)`` the result is ``int(W * s)``
    wide and ``int(H * s)`` high, so it may be one pixel short of the box.

    Returns:
        tuple[np.ndarray, float]: The resized image and ``s``.
    """
    h, w = img.shape[:2]
    scale = min(box_wh[1] / h, box_wh[0] / w)
    return mmcv.imresize(img, (int(w * scale), int(h * scale))), scale


def blank_canvas(shape_hw: Tuple[int, int], like: np.ndarray,
                 fill: float) -> np.ndarray:
    """``(h, w[, C])`` array of ``fill`` with the channels and dtype of
    ``like``."""
    return np.full((*shape_hw, *like.shape[2:]), fill, dtype=like.dtype)


def paste_region(origin: Tuple[int, int], size: Tuple[int, int],
                 canvas: Tuple[int, int]) -> Tuple[Tuple[int, ...], ...]:
    """Where a tile lands on a canvas, and which part of it is visible.

    Args:
        origin (tuple[int, int]): ``(x, y)`` of the tile's top-left corner
            in canvas coordinates (may be negative or beyond the canvas).
        size (tuple[int, int]): Tile ``(width, height)``.
        canvas (tuple[int, int]): Canvas ``(width, height)``.

    Returns:
        tuple: ``(paste, crop)``: ``(x1, y1, x2, y2)`` on the canvas and the
        same region in tile coordinates (empty when they do not overlap).
    """
    ox, oy = origin
    w, h = size
    cw, ch = canvas
    x1, y1 = max(ox, 0), max(oy, 0)
    x2, y2 = max(min(ox + w, cw), x1), max(min(oy + h, ch), y1)
    return (x1, y1, x2, y2), (x1 - ox, y1 - oy, x2 - ox, y2 - oy)


def paste(canvas: np.ndarray, tile: np.ndarray, origin_xy: IntPair) -> None:
    """Write into ``canvas`` (in place) the part of ``tile`` that covers it
    when the tile's top-left corner is at ``origin_xy``."""
    on_canvas, on_tile = paste_region(origin_xy, tile.shape[1::-1],
                                      canvas.shape[1::-1])
    (x1, y1, x2, y2), (tx1, ty1, tx2, ty2) = on_canvas, on_tile
    canvas[y1:y2, x1:x2] = tile[ty1:ty2, tx1:tx2]


def present_instance_keys(results: dict,
                          keys: Sequence[str] = INSTANCE_KEYS
                          ) -> Tuple[str, ...]:
    """The entries of ``keys`` that ``results`` holds, in ``keys`` order."""
    return tuple(key for key in keys if key in results)


def instances_of(results: dict, keys: Sequence[str], owner: str,
                 index: int) -> Dict[str, object]:
    """``{key: results[key]}`` of image ``index`` of a mix (0 is the
    current image), or a ``KeyError`` that names what is missing."""
    missing = [key for key in keys if key not in results]
    if missing:
        raise KeyError(
            f'{owner}: the current image has {missing} but image {index} of '
            f'the mix has not (its keys: {sorted(results)}). Load the same '
            'annotations in the pre_transform of the images to mix with.')
    return {key: results[key] for key in keys}


def place_instances(instances: Dict[str, object], placement: TilePlacement,
                    out_hw: IntPair) -> Dict[str, object]:
    """One source image's instances in output coordinates.

    Boxes and keypoints are scaled by ``placement.scale`` and shifted by
    ``placement.origin_xy``. Masks get the same move onto an ``out_hw``
    mask canvas, whose edges cut them (mmdet's mask ``rescale`` rounds the
    mask size to whole pixels, so its factor can differ from ``scale`` by
    a hair). Labels and flags pass unchanged. The given structures are not
    modified.
    """
    scale, (dx, dy) = placement
    placed = dict(instances)
    for key in _POINT_KEYS:
        if key in instances:
            moved = instances[key].clone()
            moved.rescale_([scale, scale])
            moved.translate_([dx, dy])
            placed[key] = moved
    if 'gt_masks' in instances:
        masks = instances['gt_masks'].rescale(float(scale))
        masks = masks.translate(tuple(out_hw), dx, direction='horizontal')
        placed['gt_masks'] = masks.translate(
            tuple(out_hw), dy, direction='vertical')
    return placed


def concat_instances(parts: Sequence[Dict[str, object]]) -> Dict[str, object]:
    """The instances of several images joined key by key, in order.

    Every part must have the keys of the first one.
    """
    joined = {}
    for key in parts[0]:
        values = [part[key] for part in parts]
        first = values[0]
        if isinstance(first, np.ndarray):
            joined[key] = np.concatenate(values, axis=0)
        elif isinstance(first, BaseInstanceMasks):
            joined[key] = type(first).cat(values)  # masks take no dim
        else:
            joined[key] = type(first).cat(values, 0)
    return joined


def clip_instances(instances: Dict[str, object],
                   out_hw: IntPair) -> Dict[str, object]:
    """Clip boxes to ``out_hw`` and apply the keypoints' ``clip_`` (in place
    on the given structures); returns ``instances``."""
    for key in _POINT_KEYS:
        if key in instances:
            instances[key].clip_(list(out_hw))
    return instances


def keep_inside(instances: Dict[str, object],
                out_hw: IntPair) -> Dict[str, object]:
    """Only the instances whose box overlaps ``out_hw`` at least in part
    (``BaseBoxes.is_inside``), every entry indexed alike."""
    # numpy, not a tensor: a 1-element bool tensor would index as 0/1
    is_kept = instances['gt_bboxes'].is_inside(list(out_hw)).numpy()
    return {key: value[is_kept] for key, value in instances.items()}


def stitch_instances(patches: Sequence[dict],
                     placements: Sequence[TilePlacement], out_hw: IntPair,
                     clip: bool, owner: str) -> Dict[str, object]:
    """The instances of every tile of a mosaic on the ``out_hw`` output.

    The keys are those of ``patches[0]`` (the current image); every other
    patch must have them too. Nothing is returned when the current image
    has no ``gt_bboxes``. With ``clip`` boxes are clipped (and keypoints
    clipped by their own rule); without it only the instances whose box
    lies wholly outside the output are dropped.

    Args:
        patches (Sequence[dict]): Result dicts, the current image first.
        placements (Sequence[TilePlacement]): One per patch, relative to
            the output's top-left corner.
        out_hw (tuple[int, int]): Output ``(height, width)``.
        clip (bool): Clip (True) or drop (False) what leaves the output.
        owner (str): Transform name for error messages.

    Returns:
        dict: The new instance entries, to update the results with.
    """
    keys = present_instance_keys(patches[0])
    if 'gt_bboxes' not in keys:
        return {}
    parts: List[Dict[str, object]] = [
        place_instances(
            instances_of(patch, keys, owner, i), placement, out_hw)
        for i, (patch, placement) in enumerate(zip(patches, placements))
    ]
    joined = concat_instances(parts)
    if clip:
        return clip_instances(joined, out_hw)
    return keep_inside(joined, out_hw)


def write_mixed(results: dict, img: np.ndarray,
                instances: Dict[str, object]) -> dict:
    """Put the mixed ``img`` (and its ``img_shape``) and the new instance
    entries into ``results``; returns ``results``."""
    results.update(instances)
    results['img'] = img
    results['img_shape'] = img.shape[:2]
    return results
