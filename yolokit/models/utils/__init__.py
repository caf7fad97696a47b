"""Helpers shared by yolokit models."""
from .dense_maps import FlatPriors, GridPriorCache, flatten_levels
from .gt_instances_preprocess import PaddedGT, gt_instances_preprocess
from .loss_terms import graph_keeping_zero, scale_by_images_and_world
from .postprocess import (PostProcessCfg, MissingTestCfgKeyError,
                          postprocess_image)
from .scaling import make_divisible, make_round

__all__ = [
    'make_divisible', 'make_round', 'gt_instances_preprocess', 'PaddedGT',
    'flatten_levels', 'FlatPriors', 'GridPriorCache', 'graph_keeping_zero',
    'scale_by_images_and_world', 'PostProcessCfg', 'MissingTestCfgKeyError',
    'postprocess_image'
]
