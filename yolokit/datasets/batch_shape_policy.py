"""Per-batch input shapes that keep letterbox padding small at test time."""
from typing import List

import numpy as np
from mmengine.dist import get_dist_info

from ..registry import TASK_UTILS


@TASK_UTILS.register_module()
class BatchShapePolicy:
    """Give every test batch its own, minimally padded input shape.

    Images are sorted by aspect ratio (``h / w``), grouped into consecutive
    batches, and each batch gets the smallest shape (in ``size_divisor``
    steps, plus ``extra_pad_ratio`` of a step) that holds all of its images
    once their long side is ``img_size``. ``LetterResize`` then pads to that
    ``batch_shape`` instead of to a fixed square.

    Only meant for testing: the data list is re-ordered, which is harmless
    with a sequential sampler but would defeat shuffling.

    Args:
        batch_size (int): Per-GPU batch size of batched inference. It is
            multiplied by the world size, because a sequential distributed
            sampler hands rank ``r`` the items ``r, r + W, r + 2W, ...``, so
            one step of all ranks covers ``batch_size * W`` consecutive items.
            Defaults to 32.
        img_size (int): Target size of the long side. Defaults to 640.
        size_divisor (int): Every batch shape is a multiple of this.
            Defaults to 32.
        extra_pad_ratio (float): Extra padding, in units of
            ``size_divisor``, added before rounding up. Defaults to 0.5.
    """

    def __init__(self,
                 batch_size: int = 32,
                 img_size: int = 640,
                 size_divisor: int = 32,
                 extra_pad_ratio: float = 0.5):
        if batch_size < 1:
            raise ValueError(
                f'batch_size must be a positive int, got {batch_size}')
        if size_divisor < 1:
            raise ValueError(
                f'size_divisor must be a positive int, got {size_divisor}')
        _, world_size = get_dist_info()
        self.batch_size = batch_size * world_size
        self.img_size = img_size
        self.size_divisor = size_divisor
        self.extra_pad_ratio = extra_pad_ratio

    def __call__(self, data_list: List[dict]) -> List[dict]:
        """Sort ``data_list`` by aspect ratio and set ``batch_shape``.

        Args:
            data_list (list[dict]): Data infos, each with ``'width'`` and
                ``'height'``.

        Returns:
            list[dict]: The same infos, re-ordered by ascending ``h / w``,
            each with ``'batch_shape'``: an int64 array ``(h, w)``.
        """
        if len(data_list) == 0:
            return data_list
        sizes = np.empty((len(data_list), 2), dtype=np.float64)
        for i, info in enumerate(data_list):
            if 'width' not in info or 'height' not in info:
                raise KeyError(
                    'BatchShapePolicy needs "width" and "height" in every '
                    f'data info, but item {i} has keys {sorted(info)}')
            sizes[i] = (info['width'], info['height'])

        aspect_ratios = sizes[:, 1] / sizes[:, 0]
        order = np.argsort(aspect_ratios, kind='stable')
        data_list = [data_list[i] for i in order]
        aspect_ratios = aspect_ratios[order]

        batch_index = np.arange(len(data_list)) // self.batch_size
        num_batches = int(batch_index[-1]) + 1
        relative_shapes = np.ones((num_batches, 2), dtype=np.float64)
        for b in range(num_batches):
            ratios = aspect_ratios[batch_index == b]
            lo, hi = ratios.min(), ratios.max()
            if hi < 1:  # all landscape: full width, height of the tallest
                relative_shapes[b] = (hi, 1)
            elif lo > 1:  # all portrait: full height, width of the widest
                relative_shapes[b] = (1, 1 / lo)

        batch_shapes = np.ceil(relative_shapes * self.img_size /
                               self.size_divisor + self.extra_pad_ratio)
        batch_shapes = batch_shapes.astype(np.int64) * self.size_divisor

        for info, b in zip(data_list, batch_index):
            info['batch_shape'] = batch_shapes[b]
        return data_list

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(batch_size={self.batch_size}, '
                f'img_size={self.img_size}, '
                f'size_divisor={self.size_divisor}, '
                f'extra_pad_ratio={self.extra_pad_ratio})')
