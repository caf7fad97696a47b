"""Utilities of yolokit.

Kept free of MMDetection imports at module level: ``import yolokit`` checks
the installed versions before anything imports MMDetection.
"""
from .file_list import get_file_list
from .labelme_utils import LabelmeFormat
from .setup_env import register_all_modules
from .switch_to_deploy import switch_to_deploy
from .version_check import (IncompatibleDependencyError,
                            check_dependency_versions)

__all__ = [
    'register_all_modules', 'check_dependency_versions',
    'IncompatibleDependencyError', 'switch_to_deploy', 'get_file_list',
    'LabelmeFormat'
]
