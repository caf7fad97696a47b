"""YOLOv5's MixUp: blend two equally sized images with a Beta-drawn ratio."""
from typing import Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset

from yolokit.registry import TRANSFORMS
from .base_mix_image_transform import BaseMixImageTransform

__all__ = ['YOLOv5MixUp']


@TRANSFORMS.register_module()
class YOLOv5MixUp(BaseMixImageTransform):
    """MixUp data augmentation for YOLOv5.

    1. Another random image is picked from the dataset (or the cache). It
       normally runs through the same Mosaic + YOLOv5RandomAffine chain as
       the current one (given as ``pre_transform``), so both have the same
       shape.
    2. A ratio ``r ~ Beta(alpha, beta)`` (about 0.5) blends them:
       ``img = img * r + other * (1 - r)``. The annotations of both are
       kept, the current image's first.

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
        alpha (float): Alpha of the Beta distribution of the ratio.
            Defaults to 32.0.
        beta (float): Beta of the Beta distribution of the ratio.
            Defaults to 32.0.
        pre_transform (Sequence[dict], optional): Transforms run on the
            loaded image to mix with. Defaults to None.
        prob (float): Probability of applying the transform.
            Defaults to 1.0.
        use_cached (bool): Draw the other image from a cache.
            Defaults to False.
        max_cached_images (int): Maximum cache length. Defaults to 20.
        random_pop (bool): Pop a random cache entry when full; FIFO if
            False. Defaults to True.
        max_refetch (int): Retries when the pre_transform returns None.
            Defaults to 15.
    """

    min_cached_images = 2

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
            raise ValueError('alpha and beta of the Beta distribution must '
                             f'be > 0, got alpha={alpha}, beta={beta}')
        super().__init__(
            pre_transform=pre_transform,
            prob=prob,
            use_cached=use_cached,
            max_cached_images=max_cached_images,
            random_pop=random_pop,
            max_refetch=max_refetch)
        self.alpha = alpha
        self.beta = beta

    def get_indexes(self, dataset: Union[BaseDataset, list]) -> int:
        """One random index in ``[0, len(dataset))``.

        Args:
            dataset (BaseDataset | list): The dataset or the cache.

        Returns:
            int: The index.
        """
        return np.random.randint(0, len(dataset))

    def mix_img_transform(self, results: dict) -> dict:
        """Blend ``results`` with its single ``mix_results`` entry.

        Args:
            results (dict): Result dict holding one ``mix_results`` entry.

        Returns:
            dict: The updated result dict.
        """
        if len(results.get('mix_results', [])) != 1:
            raise ValueError('YOLOv5MixUp needs exactly 1 mix_results, got '
                             f"{len(results.get('mix_results', []))}")
        other = results['mix_results'][0]
        ori_img, other_img = results['img'], other['img']
        if ori_img.shape != other_img.shape:
            raise AssertionError(
                'YOLOv5MixUp mixes images of the same shape, got '
                f'{ori_img.shape} and {other_img.shape}; give it a '
                'pre_transform that produces the same size (e.g. the same '
                'Mosaic + YOLOv5RandomAffine as the main pipeline).')

        ratio = np.random.beta(self.alpha, self.beta)
        mixup_img = ori_img * ratio + other_img * (1 - ratio)

        name = type(self).__name__
        if 'gt_bboxes' in results:
            boxes = results['gt_bboxes']
            results['gt_bboxes'] = type(boxes).cat(
                [boxes, self._require(other, 'gt_bboxes', name, 1)], dim=0)
        for key in ('gt_bboxes_labels', 'gt_ignore_flags'):
            if key in results:
                results[key] = np.concatenate(
                    [results[key],
                     self._require(other, key, name, 1)], axis=0)
        if 'gt_masks' in results:
            masks = results['gt_masks']
            results['gt_masks'] = type(masks).cat(
                [masks, self._require(other, 'gt_masks', name, 1)])
        if 'gt_keypoints' in results:
            kps = results['gt_keypoints']
            results['gt_keypoints'] = type(kps).cat(
                [kps, self._require(other, 'gt_keypoints', name, 1)], 0)

        results['img'] = mixup_img.astype(np.uint8)
        results['img_shape'] = mixup_img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(alpha={self.alpha}, '
                f'beta={self.beta}, prob={self.prob})')
