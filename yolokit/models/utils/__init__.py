"""Helpers shared by yolokit models."""
from .gt_instances_preprocess import gt_instances_preprocess
from .output_save_wrappers import (OutputSaveFunctionWrapper,
                                   OutputSaveObjectWrapper)
from .scaling import make_divisible, make_round

__all__ = [
    'make_divisible', 'make_round', 'gt_instances_preprocess',
    'OutputSaveFunctionWrapper', 'OutputSaveObjectWrapper'
]
