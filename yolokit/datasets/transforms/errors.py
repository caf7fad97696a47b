"""Exception types of yolokit's transforms, and checks shared by several
transforms that raise them."""
from typing import Any

import numpy as np
from mmdet.structures.mask import PolygonMasks

__all__ = [
    'TransformArgumentError', 'MaskTypeError', 'check_polygon_masks',
    'check_ratio_range'
]


class TransformArgumentError(ValueError, AssertionError):
    """A transform got an argument or a result entry it cannot work with.

    MMYOLO 0.6.0 guards these cases with ``assert``, so code written for it
    catches ``AssertionError``; yolokit's earlier checks raised
    ``ValueError``. Deriving from both keeps either ``except`` working while
    every sibling transform raises the same type for the same mistake (and
    the check survives ``python -O``).
    """


class MaskTypeError(TypeError, AssertionError):
    """``gt_masks`` are of a type the transform cannot handle.

    MMYOLO asserts the type in some transforms (``AssertionError``) where
    yolokit raised ``TypeError`` in others; this class is both.
    """


def check_polygon_masks(masks: object, owner: str) -> None:
    """Raise :class:`MaskTypeError` unless ``masks`` are ``PolygonMasks``.

    Args:
        masks: ``results['gt_masks']``.
        owner (str): Transform name for the message.
    """
    if not isinstance(masks, PolygonMasks):
        raise MaskTypeError(
            f'{owner} supports gt_masks of type PolygonMasks only, got '
            f'{type(masks).__name__}')


def check_ratio_range(value: Any, name: str, allow_zero: bool) -> None:
    """Validate a ``(low, high)`` range that factors are drawn from.

    Args:
        value: The value to check.
        name (str): Argument name used in the error message.
        allow_zero (bool): Whether ``low`` may be 0 (else it must be > 0).
    """
    is_pair = (
        isinstance(value, (tuple, list)) and len(value) == 2
        and all(isinstance(v, (int, float, np.number)) for v in value))
    low_ok = is_pair and (value[0] >= 0 if allow_zero else value[0] > 0)
    if not (low_ok and value[0] <= value[1]):
        bound = '0 <= low' if allow_zero else '0 < low'
        raise TransformArgumentError(
            f'{name} must be (low, high) with {bound} <= high, got {value!r}')
