"""Shared machinery of the transforms that mix several images into one."""
import collections.abc
import copy
import logging
from abc import ABCMeta, abstractmethod
from typing import Any, Callable, List, Optional, Sequence, Union

import numpy as np
from mmcv.transforms import BaseTransform, Compose
from mmdet.structures.bbox import HorizontalBoxes, autocast_box_type
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from yolokit.registry import TRANSFORMS
from .errors import TransformArgumentError

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
        raise TransformArgumentError(
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

    A yolokit training dataset hands itself to its pipeline as
    ``results['dataset']``. The subclass names the images to mix with
    (:meth:`get_indexes`); this class loads each of them
    (``dataset.get_data_info`` and then ``pre_transform``), puts them in
    ``results['mix_results']`` and lets the subclass combine them
    (:meth:`mix_img_transform`). ``dataset`` is handed on to the next
    transform, ``mix_results`` is not.

    With ``use_cached=True`` the other images are earlier results kept in
    a cache rather than fresh loads, as RTMDet's cached Mosaic and MixUp
    do: every call adds the current result to the cache, and no mixing
    happens until the cache holds more than 4 entries.

    The keys of every mixing transform (a subclass lists what it does not
    carry over):

    Required Keys:

    - img
    - gt_bboxes (BaseBoxes[torch.float32]) (optional)
    - gt_bboxes_labels (np.int64) (optional)
    - gt_ignore_flags (bool) (optional)
    - gt_masks (PolygonMasks | BitmapMasks) (optional)
    - gt_keypoints (Keypoints) (optional)
    - mix_results (List[dict])

    Modified Keys:

    - img, img_shape
    - every optional ``gt_*`` key above that the current image has

    An optional key the current image has must be in every image it is
    mixed with (a ``KeyError`` names it otherwise).

    Args:
        pre_transform (Sequence[dict | callable], optional): Pipeline run
            on each loaded image before mixing, typically image and
            annotation loading (and, for a MixUp, the same Mosaic/affine
            chain as the main pipeline). Defaults to None.
        prob (float): Chance, in [0, 1], that a call mixes at all.
            Defaults to 1.0.
        use_cached (bool): Mix with cached earlier results instead of
            loading new ones. Defaults to False.
        max_cached_images (int): Cache capacity; a bigger cache gives more
            varied mixes, about ten entries per image mixed in is plenty.
            Defaults to 40 here; each subclass sets its own default and
            minimum (:attr:`min_cached_images`).
        random_pop (bool): On overflow, evict a random cached entry (never
            the newest) instead of the oldest. Defaults to True.
        max_refetch (int): Draws of new images to mix with, while the
            ``pre_transform`` keeps returning None, before a
            ``RuntimeError``. Defaults to 15.
    """

    #: Smallest ``max_cached_images`` a subclass can work with.
    min_cached_images: int = 2
    #: How many images a call mixes into the current one; sets what
    #: :meth:`get_indexes` draws and how many ``results['mix_results']``
    #: must hold. Subclasses set it.
    num_mix_results: int

    def __init__(self,
                 pre_transform: Optional[Sequence[dict]] = None,
                 prob: float = 1.0,
                 use_cached: bool = False,
                 max_cached_images: int = 40,
                 random_pop: bool = True,
                 max_refetch: int = 15):
        name = type(self).__name__
        if not (isinstance(prob,
                           (int, float, np.number)) and 0 <= prob <= 1.0):
            raise TransformArgumentError(
                f'{name}: prob is the probability of applying the transform '
                f'and must be in [0, 1], got {prob!r}')
        if use_cached and max_cached_images < self.min_cached_images:
            raise TransformArgumentError(
                f'{name}: with use_cached=True, max_cached_images must be >= '
                f'{self.min_cached_images}, got {max_cached_images!r}')
        if not (isinstance(max_refetch, int) and max_refetch >= 1):
            raise TransformArgumentError(
                f'{name}: max_refetch must be a positive int, got '
                f'{max_refetch!r}')
        self.max_refetch = max_refetch
        self.prob = prob
        self.use_cached = use_cached
        self.max_cached_images = max_cached_images
        self.random_pop = random_pop
        self.results_cache: List[dict] = []
        self.pre_transform = build_pre_transform(pre_transform)

    def get_indexes(self, dataset: Union[BaseDataset,
                                         list]) -> Union[list, int]:
        """Pick the images to mix with: :attr:`num_mix_results` uniform
        draws (repeats allowed) from ``[0, len(dataset))``, one
        ``np.random.randint`` call each; a lone int when only one is needed.

        A subclass with another rule overrides this method.

        Args:
            dataset (BaseDataset | list): The dataset, or the cache list.

        Returns:
            list | int: Index or indexes into ``dataset``.
        """
        indexes = [
            np.random.randint(0, len(dataset))
            for _ in range(self.num_mix_results)
        ]
        return indexes[0] if self.num_mix_results == 1 else indexes

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
                raise TransformArgumentError(
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

    def _mix_results_of(self, results: dict) -> List[dict]:
        """``results['mix_results']``, checked to hold
        :attr:`num_mix_results` entries."""
        mix_results = results.get('mix_results', None)
        if mix_results is None or len(mix_results) != self.num_mix_results:
            got = ('no mix_results'
                   if mix_results is None else f'{len(mix_results)} entries')
            raise TransformArgumentError(
                f'{type(self).__name__} mixes {self.num_mix_results + 1} '
                "images: results['mix_results'] must hold the other "
                f'{self.num_mix_results}, got {got}')
        return list(mix_results)


def _restore_dataset(results: dict, dataset: Any) -> None:
    if dataset is not None:
        results['dataset'] = dataset


def _to_horizontal_boxes(results: dict) -> None:
    # autocast_box_type only converts the main results; partner images that
    # a pre_transform loaded with box_type=None still hold numpy boxes.
    boxes = results.get('gt_bboxes', None)
    if isinstance(boxes, np.ndarray):
        results['gt_bboxes'] = HorizontalBoxes(boxes)
