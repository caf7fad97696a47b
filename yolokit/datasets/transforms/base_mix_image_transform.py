"""Shared machinery of the transforms that mix several images into one."""
import collections.abc
import copy
import logging
from abc import ABCMeta, abstractmethod
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform, Compose
from mmdet.structures.bbox import HorizontalBoxes, autocast_box_type
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from yolokit.registry import TRANSFORMS

__all__ = ['BaseMixImageTransform']


def check_img_scale(img_scale: Any, name: str = 'img_scale') -> tuple:
    """Validate a ``(width, height)`` size argument of a mixing transform.

    MMYOLO asserts a tuple; a 2-element list (what ``--cfg-options`` or a
    JSON config produce) is accepted too, and whole floats become ints.

    Args:
        img_scale: The value to check.
        name (str): Argument name used in the error message.

    Returns:
        tuple: ``(width, height)`` as a tuple of ints.
    """

    def whole_positive(v):
        return (isinstance(v, (int, float, np.integer, np.floating))
                and not isinstance(v, bool) and v > 0
                and float(v).is_integer())

    if (not isinstance(img_scale, (tuple, list)) or len(img_scale) != 2
            or not all(whole_positive(v) for v in img_scale)):
        raise AssertionError(
            f'{name} must be a tuple of two positive ints (width, height), '
            f'but got {img_scale!r}')
    return tuple(int(v) for v in img_scale)


def build_pre_transform(
    pre_transform: Optional[Sequence[Union[dict,
                                           Callable]]]) -> Optional[Compose]:
    """Compose a ``pre_transform`` list given as configs and/or callables.

    Config dicts are built with yolokit's ``TRANSFORMS`` registry (so plain
    names resolve in the yolokit scope and ``mmdet.X`` names in MMDetection)
    before handing them to :class:`mmcv.transforms.Compose`, whose own
    registry would not know yolokit's names when no default scope is set.
    """
    if pre_transform is None:
        return None
    if isinstance(pre_transform, (dict, str)) or not isinstance(
            pre_transform, collections.abc.Sequence):
        raise TypeError('pre_transform must be a sequence of transform '
                        'configs (dict) or callables, but got '
                        f'{type(pre_transform).__name__}')
    transforms = []
    for i, t in enumerate(pre_transform):
        if isinstance(t, dict):
            transforms.append(TRANSFORMS.build(t))
        elif callable(t):
            transforms.append(t)
        else:
            raise TypeError(f'pre_transform[{i}] must be a dict or a '
                            f'callable, but got {type(t).__name__}')
    return Compose(transforms)


class BaseMixImageTransform(BaseTransform, metaclass=ABCMeta):
    """Base class of the transforms that mix several images into one.

    The pipeline of a yolokit training dataset receives the dataset itself
    in ``results['dataset']``. A subclass picks the partner images with
    :meth:`get_indexes`, this base class loads them (``get_data_info`` then
    ``pre_transform``) into ``results['mix_results']`` and the subclass
    mixes them in :meth:`mix_img_transform`.

    With ``use_cached=True`` the partners come from a cache of previously
    seen results instead of the dataset (RTMDet's cached Mosaic/MixUp), so
    only the current image is loaded from disk.

    Args:
        pre_transform (Sequence[dict | callable], optional): Transforms run
            on every loaded partner image, e.g. loading image and
            annotations. Defaults to None.
        prob (float): Probability of applying the transform.
            Defaults to 1.0.
        use_cached (bool): Whether to draw the partners from the cache.
            Defaults to False.
        max_cached_images (int): Maximum cache length; the larger, the more
            random the mix. Defaults to 40.
        random_pop (bool): When the cache is full, drop a random entry
            (True) or the oldest one (False, FIFO). Defaults to True.
        max_refetch (int): How many times to draw new partners when the
            ``pre_transform`` returns None before raising RuntimeError.
            Defaults to 15.
    """

    #: Smallest ``max_cached_images`` a subclass can work with.
    min_cached_images: int = 2

    def __init__(self,
                 pre_transform: Optional[Sequence[dict]] = None,
                 prob: float = 1.0,
                 use_cached: bool = False,
                 max_cached_images: int = 40,
                 random_pop: bool = True,
                 max_refetch: int = 15):
        if not 0 <= prob <= 1.0:
            raise AssertionError(
                f'The probability should be in range [0, 1], got {prob}.')
        if use_cached and max_cached_images < self.min_cached_images:
            raise AssertionError(
                f'{type(self).__name__}: the length of cache must be >= '
                f'{self.min_cached_images}, but got max_cached_images='
                f'{max_cached_images}.')
        if not (isinstance(max_refetch, int) and max_refetch >= 1):
            raise ValueError(
                f'max_refetch must be a positive int, got {max_refetch!r}')
        self.max_refetch = max_refetch
        self.prob = prob
        self.use_cached = use_cached
        self.max_cached_images = max_cached_images
        self.random_pop = random_pop
        self.results_cache: List[dict] = []
        self.pre_transform = build_pre_transform(pre_transform)

    @abstractmethod
    def get_indexes(self, dataset: Union[BaseDataset,
                                         list]) -> Union[list, int]:
        """Pick the partner images.

        Args:
            dataset (BaseDataset | list): The dataset, or the cache list.

        Returns:
            list | int: Index or indexes into ``dataset``.
        """

    @abstractmethod
    def mix_img_transform(self, results: dict) -> dict:
        """Mix ``results`` with ``results['mix_results']``.

        Args:
            results (dict): Result dict holding ``mix_results``.

        Returns:
            dict: The updated result dict.
        """

    @autocast_box_type()
    def transform(self, results: dict) -> dict:
        """Load the partner images and mix them into ``results``.

        Args:
            results (dict): Result dict. Needs ``dataset`` unless
                ``use_cached`` is set.

        Returns:
            dict: The mixed result dict. ``dataset`` (if given) is put back
            so that a later mixing transform (e.g. YOLOv5MixUp after Mosaic)
            can use it; ``mix_results`` is removed.
        """
        if np.random.uniform(0, 1) > self.prob:
            return results

        if self.use_cached:
            # The dataset must not enter the cache: deep-copying it is slow.
            dataset = results.pop('dataset', None)
            self.results_cache.append(copy.deepcopy(results))
            if len(self.results_cache) > self.max_cached_images:
                if self.random_pop:
                    # Upper bound excluded: the entry just added is kept.
                    index = np.random.randint(0, len(self.results_cache) - 1)
                else:
                    index = 0
                self.results_cache.pop(index)
            if len(self.results_cache) <= 4:
                # Too few entries to mix with yet.
                _restore_dataset(results, dataset)
                return results
        else:
            if 'dataset' not in results:
                raise AssertionError(
                    f"{type(self).__name__} needs results['dataset'] (the "
                    'training dataset puts itself there when test_mode is '
                    'False) or use_cached=True to pick the images to mix '
                    'with.')
            dataset = results.pop('dataset')

        results['mix_results'] = self._fetch_mix_results(dataset)
        results = self.mix_img_transform(results)
        results.pop('mix_results', None)
        _restore_dataset(results, dataset)
        return results

    def _fetch_mix_results(self, dataset: Any) -> List[dict]:
        source = self.results_cache if self.use_cached else dataset
        for _ in range(self.max_refetch):
            indexes = self.get_indexes(source)
            if not isinstance(indexes, collections.abc.Sequence):
                indexes = [indexes]
            if self.use_cached:
                mix_results = [
                    copy.deepcopy(self.results_cache[i]) for i in indexes
                ]
            else:
                mix_results = [
                    copy.deepcopy(dataset.get_data_info(i)) for i in indexes
                ]
            if self.pre_transform is not None:
                mix_results = [
                    self._apply_pre_transform(data, dataset)
                    for data in mix_results
                ]
            if all(r is not None for r in mix_results):
                for r in mix_results:
                    _to_horizontal_boxes(r)
                return mix_results
            print_log(
                f'{type(self).__name__}: the pre_transform returned None for '
                'an image to mix with; drawing new ones.',
                logger='current',
                level=logging.DEBUG)
        raise RuntimeError(
            'The loading pipeline of the original dataset always return '
            f'None ({self.max_refetch} tries in {type(self).__name__}). '
            'Please check the correctness of the dataset and its pipeline.')

    def _apply_pre_transform(self, data: dict, dataset: Any) -> Optional[dict]:
        # A pre_transform may itself be a mixing transform (YOLOv5MixUp
        # runs Mosaic on its partner), which needs the dataset.
        data['dataset'] = dataset
        out = self.pre_transform(data)
        if out is not None:
            out.pop('dataset', None)
        return out

    @staticmethod
    def _require(results: dict, key: str, owner: str, i: int) -> Any:
        """``results[key]`` of the ``i``-th image to mix, or a clear error."""
        if key not in results:
            raise KeyError(
                f'{owner}: the main results have {key!r} but image {i} to '
                f'mix with has not (keys: {sorted(results)}). Load the same '
                'annotations in its pre_transform.')
        return results[key]


def _restore_dataset(results: dict, dataset: Any) -> None:
    if dataset is not None:
        results['dataset'] = dataset


def _to_horizontal_boxes(results: dict) -> None:
    # autocast_box_type only converts the main results; partner images that
    # a pre_transform loaded with box_type=None still hold numpy boxes.
    boxes = results.get('gt_bboxes', None)
    if isinstance(boxes, np.ndarray):
        results['gt_bboxes'] = HorizontalBoxes(boxes)


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
        same region in tile coordinates.
    """
    ox, oy = origin
    w, h = size
    cw, ch = canvas
    x1, y1 = max(ox, 0), max(oy, 0)
    x2, y2 = max(min(ox + w, cw), x1), max(min(oy + h, ch), y1)
    return (x1, y1, x2, y2), (x1 - ox, y1 - oy, x2 - ox, y2 - oy)
