"""make_divisible / make_round against the worked values of the spec.

References: spec 07 §6.4/§6.5 (``make_divisible(1024, 0.25) = 256``,
``make_divisible(64, 0.33) = 24``, ``make_round(9, 0.33) = 3`` ...), and
spec 06 §1.5 (yolov5s: stem 32 channels, stages 64/128/256/512, blocks
1/2/3/1 from the P5 table 64/128/256/512/1024 and 3/6/9/3); spec 06 §1.2
for CSPNeXt's ``int(c * widen)`` / ``max(round(n * deepen), 1)``.
"""
import pytest

from yolokit.models.utils import make_divisible, make_round
from yolokit.models.utils.scaling import (DIVISIBLE_SCALING, TRUNCATED_SCALING,
                                          ScalingRule, round_depth,
                                          truncate_width)


@pytest.mark.parametrize(
    'x, widen, expected',
    [
        (1024, 0.25, 256),  # spec 07 §6.4
        (64, 0.33, 24),  # spec 07 §6.4: ceil(21.12 / 8) * 8 = 24
        (8, 1.0, 8),  # spec 07 §6.4
        (64, 0.5, 32),  # yolov5s stem (spec 06 §1.5)
        (128, 0.5, 64),
        (1024, 0.5, 512),
        (1024, 1.25, 1280),  # yolov5x: 1280 is already a multiple of 8
        (768, 0.75, 576),
        (100, 1.0, 104),  # rounds *up* to the next multiple of 8
    ])
def test_make_divisible_worked_values(x, widen, expected):
    assert make_divisible(x, widen) == expected


def test_make_divisible_divisor_and_defaults():
    assert make_divisible(10) == 16  # widen 1.0, divisor 8
    assert make_divisible(10, 1.0, divisor=4) == 12
    assert make_divisible(33, 1.0, divisor=1) == 33


@pytest.mark.parametrize(
    'x, deepen, expected',
    [
        (1, 0.33, 1),  # spec 07 §6.5: x <= 1 unchanged
        (3, 0.33, 1),  # round(0.99) = 1
        (9, 0.33, 3),  # round(2.97) = 3
        (3, 0.67, 2),  # round(2.01) = 2
        (6, 0.33, 2),  # yolov5s stage2 (spec 06 §1.5): round(1.98) = 2
        (2, 0.1, 1),  # never below 1
        (3, 1.33, 4),  # yolov5x: round(3.99) = 4
        (5, 0.5, 2),  # banker's rounding: round(2.5) = 2 (spec 07 §6.5)
        (7, 0.5, 4),  # round(3.5) = 4
    ])
def test_make_round_worked_values(x, deepen, expected):
    assert make_round(x, deepen) == expected


def test_make_round_leaves_counts_of_one_or_less_unchanged():
    # Spec 07 §6.5: ``... if x > 1 else x`` even for a large deepen factor.
    assert make_round(1, 5.0) == 1
    assert make_round(0, 2.0) == 0


@pytest.mark.parametrize(
    'x, widen, expected',
    [
        (64, 0.375, 24),  # rtmdet-tiny stem: 24.0
        (128, 0.33, 42),  # 42.24 truncated (make_divisible gives 48)
        (1024, 1.25, 1280),
        (100, 0.5, 50),  # no rounding to a multiple of 8
    ])
def test_truncate_width_worked_values(x, widen, expected):
    assert truncate_width(x, widen) == expected


@pytest.mark.parametrize(
    'x, deepen, expected',
    [
        (3, 0.33, 1),  # round(0.99)
        (6, 0.33, 2),  # round(1.98)
        (1, 3.0, 3),  # unlike make_round, a count of 1 is scaled
        (1, 0.1, 1),  # and kept >= 1
        (5, 0.5, 2),  # banker's rounding: round(2.5) = 2
    ])
def test_round_depth_worked_values(x, deepen, expected):
    assert round_depth(x, deepen) == expected


def test_scaling_rules_pair_the_functions():
    assert DIVISIBLE_SCALING.width(128, 0.33) == 48
    assert DIVISIBLE_SCALING.depth(1, 3.0) == 1  # make_round keeps 1
    assert TRUNCATED_SCALING.width(128, 0.33) == 42
    assert TRUNCATED_SCALING.depth(1, 3.0) == 3
    assert isinstance(TRUNCATED_SCALING, ScalingRule)
