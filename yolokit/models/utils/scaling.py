"""Width/depth scaling rules shared by every YOLO model size."""
import math


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
