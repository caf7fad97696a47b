"""Helpers for tests of yolokit and of projects built on it."""
from .config_helpers import get_config_file, get_detector_cfg, get_repo_root
from .data_helpers import rand_bboxes

__all__ = ['get_config_file', 'get_detector_cfg', 'get_repo_root',
           'rand_bboxes']
