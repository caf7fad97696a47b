"""Photometric distortion of PP-YOLOE: brightness, contrast, saturation, hue.

Each of the four operations runs with its own probability, with a factor
drawn uniformly from its [min, max]; the order is a random permutation and
only the first ``num_distort_func`` of it are tried. The image is cast to
float32 and never clipped (the data preprocessor normalises later). With
``x`` the BGR pixel and ``d`` the drawn factor:

- brightness: ``x + d``;
- contrast: ``x * d``;
- saturation: ``d * x + (1 - d) * gray(x)``, gray the BT.601 luma;
- hue: rotation by ``d * pi`` of the chroma (I, Q) plane of YIQ.
"""
import numpy as np
from mmcv.transforms import BaseTransform

from yolokit.registry import TRANSFORMS

# BT.601 luma weights in B, G, R order
BGR_LUMA = np.array([0.114, 0.587, 0.299], dtype=np.float32)
# BGR -> YIQ and YIQ -> BGR (rows Y, I, Q / columns of the inverse)
BGR_TO_YIQ = np.array([[0.114, 0.587, 0.299], [-0.321, -0.274, 0.596],
                       [0.311, -0.523, 0.211]])
YIQ_TO_BGR = np.array([[1.0, -1.107, 1.705], [1.0, -0.272, -0.647],
                       [1.0, 0.956, 0.621]])


def hue_matrix(delta: float) -> np.ndarray:
    """(3, 3) matrix ``M`` with ``pixels @ M`` rotating the hue."""
    cos, sin = np.cos(delta * np.pi), np.sin(delta * np.pi)
    rotate_iq = np.array([[1.0, 0.0, 0.0], [0.0, cos, -sin], [0.0, sin, cos]])
    return (YIQ_TO_BGR @ rotate_iq @ BGR_TO_YIQ).T


@TRANSFORMS.register_module()
class PPYOLOERandomDistort(BaseTransform):
    """Random photometric distortion (see module docstring).

    Required keys: ``img``. Modified keys: ``img`` (becomes float32).

    Args:
        hue_cfg (dict): ``min``, ``max`` (in units of pi) and ``prob``.
            Defaults to ``dict(min=-18, max=18, prob=0.5)``.
        saturation_cfg (dict): Defaults to ``dict(min=0.5, max=1.5,
            prob=0.5)``.
        contrast_cfg (dict): Defaults to ``dict(min=0.5, max=1.5,
            prob=0.5)``.
        brightness_cfg (dict): Defaults to ``dict(min=0.5, max=1.5,
            prob=0.5)``.
        num_distort_func (int): How many of the permuted operations are
            tried, 1..4. Defaults to 4.
    """

    def __init__(self,
                 hue_cfg: dict = dict(min=-18, max=18, prob=0.5),
                 saturation_cfg: dict = dict(min=0.5, max=1.5, prob=0.5),
                 contrast_cfg: dict = dict(min=0.5, max=1.5, prob=0.5),
                 brightness_cfg: dict = dict(min=0.5, max=1.5, prob=0.5),
                 num_distort_func: int = 4):
        if not 0 < num_distort_func <= 4:
            raise ValueError('PPYOLOERandomDistort: num_distort_func must be '
                             f'in 1..4, but got {num_distort_func}')
        for name, cfg in [('hue_cfg', hue_cfg),
                          ('saturation_cfg', saturation_cfg),
                          ('contrast_cfg', contrast_cfg),
                          ('brightness_cfg', brightness_cfg)]:
            if not 0. <= cfg['prob'] <= 1.:
                raise ValueError(f'PPYOLOERandomDistort: {name}["prob"] must '
                                 f'be in [0, 1], but got {cfg["prob"]}')
        self.hue_cfg = hue_cfg
        self.saturation_cfg = saturation_cfg
        self.contrast_cfg = contrast_cfg
        self.brightness_cfg = brightness_cfg
        self.num_distort_func = num_distort_func

    @staticmethod
    def _draw(cfg: dict):
        """The factor, or None when the operation is skipped. Two draws in
        this order (gate, then factor) keep seeded runs equal to MMYOLO's."""
        if np.random.uniform(0., 1.) >= cfg['prob']:
            return None
        return np.random.uniform(cfg['min'], cfg['max'])

    def transform_hue(self, results: dict) -> dict:
        delta = self._draw(self.hue_cfg)
        if delta is not None:
            results['img'] = np.dot(results['img'], hue_matrix(delta))
        return results

    def transform_saturation(self, results: dict) -> dict:
        delta = self._draw(self.saturation_cfg)
        if delta is not None:
            img = results['img']
            gray = (img * BGR_LUMA).sum(axis=2, keepdims=True)
            results['img'] = img * delta + gray * (1.0 - delta)
        return results

    def transform_contrast(self, results: dict) -> dict:
        delta = self._draw(self.contrast_cfg)
        if delta is not None:
            results['img'] = results['img'] * delta
        return results

    def transform_brightness(self, results: dict) -> dict:
        delta = self._draw(self.brightness_cfg)
        if delta is not None:
            results['img'] = results['img'] + delta
        return results

    def transform(self, results: dict) -> dict:
        results['img'] = results['img'].astype(np.float32)
        ops = [
            self.transform_brightness, self.transform_contrast,
            self.transform_saturation, self.transform_hue
        ]
        order = np.random.permutation(len(ops))[:self.num_distort_func]
        for i in order:
            results = ops[i](results)
        results['img'] = results['img'].astype(np.float32)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(hue_cfg={self.hue_cfg}, '
                f'saturation_cfg={self.saturation_cfg}, '
                f'contrast_cfg={self.contrast_cfg}, '
                f'brightness_cfg={self.brightness_cfg}, '
                f'num_distort_func={self.num_distort_func})')
