"""YOLOv5's MixUp: blend two equally sized images with a Beta-drawn ratio."""
from typing import Optional, Sequence

import numpy as np

from yolokit.registry import TRANSFORMS
from .base_mix_image_transform import BaseMixImageTransform
from .errors import TransformArgumentError
from .mix_image_ops import (concat_instances, instances_of,
                            present_instance_keys, write_mixed)

__all__ = ['YOLOv5MixUp']


@TRANSFORMS.register_module()
class YOLOv5MixUp(BaseMixImageTransform):
    """Blend the current image with one other of the same size, as YOLOv5.

    ``img = uint8(img * r + other * (1 - r))`` with ``r ~ Beta(alpha,
    beta)``, which stays close to 0.5 for the default 32/32. Nothing is
    moved, so the two images must have the same shape: the other one is
    usually given the same Mosaic and YOLOv5RandomAffine steps as the main
    pipeline in ``pre_transform``. The instances of both images are kept,
    the current image's first.

    The keys are those of :class:`BaseMixImageTransform`.

    Args:
        alpha (float): First shape parameter (> 0) of the Beta
            distribution of ``r``. Defaults to 32.0.
        beta (float): Second shape parameter (> 0) of it.
            Defaults to 32.0.
        max_cached_images (int): Cache capacity, at least 2.
            Defaults to 20.
        pre_transform, prob, use_cached, random_pop, max_refetch: See
            :class:`BaseMixImageTransform`.
    """

    min_cached_images = 2
    num_mix_results = 1

    def __init__(self,
                 alpha: float = 32.0,
                 beta: float = 32.0,
                 pre_transform: Optional[Sequence[dict]] = None,
                 prob: float = 1.0,
                 use_cached: bool = False,
                 max_cached_images: int = 20,
                 random_pop: bool = True,
                 max_refetch: int = 15):
        if alpha <= 0 or beta <= 0:
            raise TransformArgumentError(
                'YOLOv5MixUp: alpha and beta of the Beta distribution must '
                f'be > 0, got alpha={alpha!r}, beta={beta!r}')
        super().__init__(pre_transform, prob, use_cached, max_cached_images,
                         random_pop, max_refetch)
        self.alpha = alpha
        self.beta = beta

    def mix_img_transform(self, results: dict) -> dict:
        """Blend ``results`` with its one ``mix_results`` entry; returns
        the updated ``results``."""
        other = self._mix_results_of(results)[0]
        ori_img, other_img = results['img'], other['img']
        if ori_img.shape != other_img.shape:
            raise TransformArgumentError(
                'YOLOv5MixUp mixes images of the same shape, got '
                f'{ori_img.shape} and {other_img.shape}; give it a '
                'pre_transform that produces the same size (e.g. the same '
                'Mosaic + YOLOv5RandomAffine as the main pipeline).')

        ratio = np.random.beta(self.alpha, self.beta)
        mixup_img = ori_img * ratio + other_img * (1 - ratio)

        keys = present_instance_keys(results)
        name = type(self).__name__
        instances = concat_instances([
            instances_of(r, keys, name, i)
            for i, r in enumerate((results, other))
        ])
        return write_mixed(results, mixup_img.astype(np.uint8), instances)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(alpha={self.alpha}, '
                f'beta={self.beta}, prob={self.prob})')
