"""YOLOv5's random hue/saturation/value gain augmentation."""
from typing import Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from yolokit.registry import TRANSFORMS
from .errors import TransformArgumentError

__all__ = ['YOLOv5HSVRandomAug']


@TRANSFORMS.register_module()
class YOLOv5HSVRandomAug(BaseTransform):
    """Multiply hue, saturation and value by random gains.

    The gains are ``1 + U(-1, 1) * delta`` per channel. The image is
    converted to OpenCV's HSV (hue in ``[0, 180)``), each channel is mapped
    through a lookup table (hue wraps modulo 180, saturation and value are
    clipped to ``[0, 255]``) and converted back to BGR.

    Required Keys:

    - img (np.uint8, BGR, 3 channels)

    Modified Keys:

    - img

    Args:
        hue_delta (int | float): Maximum relative change of hue.
            Defaults to 0.015.
        saturation_delta (int | float): Maximum relative change of
            saturation. Defaults to 0.7.
        value_delta (int | float): Maximum relative change of value.
            Defaults to 0.4.
    """

    def __init__(self,
                 hue_delta: Union[int, float] = 0.015,
                 saturation_delta: Union[int, float] = 0.7,
                 value_delta: Union[int, float] = 0.4):
        self.hue_delta = hue_delta
        self.saturation_delta = saturation_delta
        self.value_delta = value_delta

    @cache_randomness
    def _get_hsv_gains(self) -> np.ndarray:
        deltas = [self.hue_delta, self.saturation_delta, self.value_delta]
        return np.random.uniform(-1, 1, 3) * deltas + 1

    def transform(self, results: dict) -> dict:
        """Apply the HSV gains to ``results['img']``.

        Args:
            results (dict): The result dict.

        Returns:
            dict: The result dict.
        """
        img = results['img']
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise TransformArgumentError(
                'YOLOv5HSVRandomAug needs results["img"] to be a uint8 BGR '
                f'image of shape (H, W, 3), got dtype {img.dtype} and shape '
                f'{img.shape}')
        gains = self._get_hsv_gains()
        hue, sat, val = cv2.split(cv2.cvtColor(img, cv2.COLOR_BGR2HSV))

        table = np.arange(0, 256, dtype=gains.dtype)
        lut_hue = ((table * gains[0]) % 180).astype(np.uint8)
        lut_sat = np.clip(table * gains[1], 0, 255).astype(np.uint8)
        lut_val = np.clip(table * gains[2], 0, 255).astype(np.uint8)

        luts = (lut_hue, lut_sat, lut_val)
        hsv = cv2.merge([cv2.LUT(c, t) for c, t in zip((hue, sat, val), luts)])
        results['img'] = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(hue_delta={self.hue_delta}, '
                f'saturation_delta={self.saturation_delta}, '
                f'value_delta={self.value_delta})')
