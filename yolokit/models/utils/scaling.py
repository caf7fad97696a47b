"""Width/depth scaling rules shared by every YOLO model size.

A model size (n/s/m/l/x) is one architecture table scaled by
``widen_factor`` (channels) and ``deepen_factor`` (blocks per stage). Two
rule sets are in use: YOLOv5, YOLOv8 and YOLOX round channels up to a
multiple of 8 (:func:`make_divisible`, :func:`make_round`); RTMDet's CSPNeXt
truncates (:func:`truncate_width`, :func:`round_depth`).
"""
import math
from typing import Callable, NamedTuple


def make_divisible(x: float,
                   widen_factor: float = 1.0,
                   divisor: int = 8) -> int:
    """Scale a channel count by ``widen_factor``, rounded up to ``divisor``.

    Example:
        >>> make_divisible(1024, 0.25)
        256
    """
    return math.ceil(x * widen_factor / divisor) * divisor


def make_round(x: float, deepen_factor: float = 1.0) -> int:
    """Scale a block count by ``deepen_factor``; never below 1.

    Counts of 1 (or less) are returned unchanged. Python's ``round``
    (banker's rounding) is used, as in the reference implementation.

    Example:
        >>> make_round(9, 0.33)
        3
    """
    return max(round(x * deepen_factor), 1) if x > 1 else x


def truncate_width(x: float, widen_factor: float = 1.0) -> int:
    """``int(x * widen_factor)``: CSPNeXt's channel rule (no rounding up).

    Example:
        >>> truncate_width(64, 0.375), make_divisible(64, 0.375)
        (24, 24)
        >>> truncate_width(128, 0.33), make_divisible(128, 0.33)
        (42, 48)
    """
    return int(x * widen_factor)


def round_depth(x: float, deepen_factor: float = 1.0) -> int:
    """``max(round(x * deepen_factor), 1)``: CSPNeXt's block-count rule.

    Unlike :func:`make_round` a count of 1 is scaled too (and kept >= 1).
    """
    return max(round(x * deepen_factor), 1)


class ScalingRule(NamedTuple):
    """A pair (channel rule, block-count rule), each ``(x, factor) -> int``.
    """
    width: Callable[[float, float], int]
    depth: Callable[[float, float], int]


#: YOLOv5 / YOLOv8 / YOLOX backbones: channels up to a multiple of 8.
DIVISIBLE_SCALING = ScalingRule(make_divisible, make_round)
#: RTMDet's CSPNeXt backbone: truncated channels.
TRUNCATED_SCALING = ScalingRule(truncate_width, round_depth)
